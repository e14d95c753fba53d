"""Pure functions turning a fetched course page into a landing record (no Scrapy objects).

Three extraction methods, tried in this order by the spider (the first that finds a course
wins for the whole page, and its name ends up in the record's `extraction` key):

1. ``jsonld``: schema.org Course objects in ``<script type="application/ld+json">`` blocks
   (single objects, arrays, ``@graph``, several blocks per page);
2. ``microdata``: ``itemscope`` elements whose ``itemtype`` is schema.org Course;
3. ``css``: the per-site CSS selectors of conf/sources/catalog_sites.yml.

Every text value goes through `clean_text` (BeautifulSoup: tags, entities, whitespace), whatever
the method, and every URL through `canonicalize_url`.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag
from parsel import Selector

TRACKING_PARAMS = frozenset({"gclid", "fbclid", "ref"})
TRACKING_PREFIXES = ("utm_",)
DEFAULT_PORTS = {"http": 80, "https": 443}

# Tags whose boundaries separate words; inline tags (b, em, a...) must not add a space,
# otherwise "<b>SQL</b>, fast" would become "SQL , fast".
BLOCK_TAGS = [
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
]  # fmt: skip

_NUMBER = r"\d+(?:[.,]\d+)?"
# Years and months are deliberately unsupported: their length in hours is ambiguous, and
# returning None is safer for downstream aggregates than guessing.
DURATION_RE = re.compile(
    rf"""^P(?!$)
    (?:(?P<weeks>{_NUMBER})W)?
    (?:(?P<days>{_NUMBER})D)?
    (?:T(?=\d)
        (?:(?P<hours>{_NUMBER})H)?
        (?:(?P<minutes>{_NUMBER})M)?
        (?:(?P<seconds>{_NUMBER})S)?
    )?$""",
    re.IGNORECASE | re.VERBOSE,
)
# Plain-English effort as found in page text ("12 hours", "1 h 30 min"): hours and minutes
# only, since "2 weeks" of a course says nothing about its hours.
TEXT_DURATION_RE = re.compile(
    rf"""^(?:(?P<hours>{_NUMBER})\s*(?:h|hrs?|hours?)\.?)?\s*
    (?:(?P<minutes>{_NUMBER})\s*(?:m|mins?|minutes?)\.?)?$""",
    re.IGNORECASE | re.VERBOSE,
)
_SECONDS_PER_UNIT = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}

# Field selectors a site may configure for the CSS fallback (the sites file), by record field.
CSS_FIELDS = {
    "name": "name",
    "course_code": "course_code",
    "description": "description",
    "provider": "provider",
    "level": "educational_level",
    "skills": "skills",
    "prerequisites": "prerequisites",
    "duration": "time_required",
}
_LIST_FIELDS = frozenset({"skills", "prerequisites"})

# Microdata value attributes by element (HTML Living Standard, "values" of itemprop elements).
_MICRODATA_URL_ATTRS = {
    "a": "href", "area": "href", "link": "href",
    "audio": "src", "embed": "src", "iframe": "src", "img": "src",
    "source": "src", "track": "src", "video": "src",
    "object": "data",
}  # fmt: skip
_MICRODATA_VALUE_ATTRS = {"meta": "content", "data": "value", "meter": "value"}


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Return the absolute URL without fragment or tracking parameters and with a sorted query."""
    parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{parts.port}"
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMS and not key.lower().startswith(TRACKING_PREFIXES)
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def parse_duration_hours(value: str | None) -> float | None:
    """Return an ISO-8601 (weeks to seconds) or "N hours M minutes" duration in hours, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = DURATION_RE.match(text)
    if not match and text and text[0].isdigit():
        match = TEXT_DURATION_RE.match(text)
    if not match:
        return None
    seconds = sum(
        float(amount.replace(",", ".")) * _SECONDS_PER_UNIT[unit]
        for unit, amount in match.groupdict().items()
        if amount is not None
    )
    # Rounding hides binary float noise (e.g. 1.2000000000000002) in the landed data.
    return round(seconds / 3600, 6)


def parse_html(html: str) -> BeautifulSoup:
    """Return the parsed page. lxml (a Scrapy dependency) applies HTML's implied end tags, so
    unclosed <li>/<p> end where a browser ends them, unlike html.parser."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(html, "lxml")


def clean_text(value: Any) -> str | None:
    """Return the value as plain text without tags or entities and with collapsed whitespace."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    if "<" in value or "&" in value:
        with warnings.catch_warnings():
            # Short strings that look like URLs or paths trigger a harmless bs4 warning.
            warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
            # html.parser keeps text such as "a < b" intact in these short fragments.
            soup = BeautifulSoup(value, "html.parser")
        for tag in soup.find_all(["script", "style"]):
            tag.decompose()
        for tag in soup.find_all(BLOCK_TAGS):
            tag.insert_before(" ")
            tag.insert_after(" ")
        value = soup.get_text()
    text = " ".join(value.split())
    return text or None


def _first_text(value: Any, keys: tuple[str, ...] = ("name",)) -> str | None:
    """Return the first usable text in a string, object (looked up by keys) or list of them."""
    if isinstance(value, list):
        for element in value:
            text = _first_text(element, keys)
            if text:
                return text
        return None
    if isinstance(value, dict):
        for key in keys:
            text = _first_text(value.get(key), ())
            if text:
                return text
        return None
    return clean_text(value)


def _text_list(value: Any, keys: tuple[str, ...] = ("name",)) -> list[str]:
    """Return the distinct texts of a string, object or list of them, in page order."""
    elements = value if isinstance(value, list) else [value]
    texts: list[str] = []
    for element in elements:
        text = _first_text(element, keys)
        if text and text not in texts:
            texts.append(text)
    return texts


def _is_course(node: dict[str, Any]) -> bool:
    """Return whether the node's @type is, or contains, schema.org Course."""
    types = node.get("@type")
    types = types if isinstance(types, list) else [types]
    # "schema:Course" and "https://schema.org/Course" are valid JSON-LD spellings too;
    # an exact local-name match keeps CourseInstance and friends out.
    return any(isinstance(kind, str) and re.split(r"[/:#]", kind)[-1] == "Course" for kind in types)


def _is_jsonld_type(value: str | None) -> bool:
    """Return whether a script type attribute denotes JSON-LD, ignoring parameters and case."""
    return bool(value) and value.split(";")[0].strip().lower() == "application/ld+json"


def _candidate_nodes(data: Any) -> Iterator[dict[str, Any]]:
    """Yield the top-level objects of a JSON-LD document, including @graph members."""
    # Nested properties are not searched: prerequisites are themselves Course objects
    # and must not become courses of their own.
    if isinstance(data, list):
        for element in data:
            yield from _candidate_nodes(element)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _candidate_nodes(data["@graph"])


def extract_course_nodes(
    html: str | BeautifulSoup,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Return the page's schema.org Course JSON-LD objects and (reason, detail) per bad block."""
    soup = html if isinstance(html, BeautifulSoup) else parse_html(html)
    courses: list[dict[str, Any]] = []
    problems: list[tuple[str, str]] = []
    scripts = soup.find_all("script", attrs={"type": _is_jsonld_type})
    for index, script in enumerate(scripts, start=1):
        text = script.string or script.get_text()
        if not text.strip():
            problems.append(("empty_jsonld", f"ld+json block {index} is empty"))
            continue
        try:
            # strict=False: raw newlines inside strings are common in hand-written JSON-LD.
            data = json.loads(text, strict=False)
        except json.JSONDecodeError as exc:
            problems.append(("invalid_jsonld", f"ld+json block {index} is not valid JSON: {exc}"))
            continue
        courses.extend(node for node in _candidate_nodes(data) if _is_course(node))
    return courses, problems


def _tokens(element: Tag, attribute: str) -> list[str]:
    """Return the whitespace-separated tokens of an attribute (bs4 may already split some)."""
    value = element.get(attribute) or ""
    return value.split() if isinstance(value, str) else [token for token in value if token]


def _microdata_value(element: Tag) -> Any:
    """Return an itemprop element's value: a nested item, an attribute or its inner HTML."""
    if element.has_attr("itemscope"):
        return _microdata_item(element)
    attribute = _MICRODATA_URL_ATTRS.get(element.name) or _MICRODATA_VALUE_ATTRS.get(element.name)
    if attribute:
        return element.get(attribute, "")
    if element.name == "time" and element.has_attr("datetime"):
        return element["datetime"]
    # Inner HTML rather than text, so clean_text spaces block elements like any other field.
    return element.decode_contents()


def _microdata_properties(element: Tag, item: dict[str, Any]) -> None:
    for child in element.children:
        if not isinstance(child, Tag):
            continue
        if child.has_attr("itemprop"):
            value = _microdata_value(child)
            for name in _tokens(child, "itemprop"):
                if name not in item:
                    item[name] = value
                elif isinstance(item[name], list):
                    item[name].append(value)
                else:
                    item[name] = [item[name], value]
        # An item's properties stop at nested items: those belong to the nested item.
        if not child.has_attr("itemscope"):
            _microdata_properties(child, item)


def _microdata_item(element: Tag) -> dict[str, Any]:
    """Return a microdata item as a JSON-LD-like object (@type plus one key per itemprop)."""
    item: dict[str, Any] = {"@type": _tokens(element, "itemtype")}
    _microdata_properties(element, item)
    return item


def _is_course_element(element: Tag) -> bool:
    """Return whether the element is a microdata item of type schema.org Course."""
    return element.has_attr("itemscope") and _is_course({"@type": _tokens(element, "itemtype")})


def extract_microdata_courses(html: str | BeautifulSoup) -> list[dict[str, Any]]:
    """Return the page's schema.org Course microdata items, outermost Course items only."""
    soup = html if isinstance(html, BeautifulSoup) else parse_html(html)
    courses = []
    for element in soup.find_all(attrs={"itemscope": True}):
        if not _is_course_element(element):
            continue
        # A Course inside another Course is a prerequisite (or part), not a course of the page.
        if any(_is_course_element(parent) for parent in element.parents):
            continue
        courses.append(_microdata_item(element))
    return courses


def course_record(node: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised course fields (no fetch metadata) of one schema.org Course object."""
    time_required = _first_text(node.get("timeRequired"))
    # ("@value",): JSON-LD value objects such as {"@value": "...", "@language": "en"}.
    return {
        "course_code": _first_text(node.get("courseCode"), ("@value",)),
        "name": _first_text(node.get("name"), ("@value",)),
        "description": _first_text(node.get("description"), ("@value",)),
        "provider": _first_text(node.get("provider")),
        "educational_level": _first_text(node.get("educationalLevel")),
        "skills": _text_list(node.get("teaches")),
        # Codes join against other courses; names are the best available fallback.
        "prerequisites": _text_list(node.get("coursePrerequisites"), ("courseCode", "name")),
        "time_required": time_required,
        "duration_hours": parse_duration_hours(time_required),
    }


def css_course_record(page: str | Selector, selectors: Mapping[str, str]) -> dict[str, Any] | None:
    """Return the course fields found with a site's field selectors, or None when none matched.

    Each selector may select elements (their inner text is used) or end in ::text or
    ::attr(name). List fields (skills, prerequisites) take every match, others the first one.
    """
    selector = page if isinstance(page, Selector) else Selector(text=page)
    record: dict[str, Any] = {
        "course_code": None,
        "name": None,
        "description": None,
        "provider": None,
        "educational_level": None,
        "skills": [],
        "prerequisites": [],
        "time_required": None,
        "duration_hours": None,
    }
    found = False
    for key, field in CSS_FIELDS.items():
        query = selectors.get(key)
        if not query:
            continue
        # .getall() gives an element's outer HTML (cleaned below) or the ::text/::attr string.
        texts = _text_list([clean_text(match) for match in selector.css(query).getall()])
        if not texts:
            continue
        found = True
        record[field] = texts if field in _LIST_FIELDS else texts[0]
    if not found:
        return None
    record["duration_hours"] = parse_duration_hours(record["time_required"])
    return record


def utc_timestamp() -> str:
    """Return the current UTC time as an ISO-8601 string with a Z suffix and second precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
