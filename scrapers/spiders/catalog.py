import json
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import scrapy
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from scrapy.http import Response, TextResponse
from scrapy.utils.sitemap import Sitemap

from scrapers.items import CourseItem, compute_content_hash

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
_SECONDS_PER_UNIT = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


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
    """Return the ISO-8601 duration (weeks/days/hours/minutes/seconds) in hours, or None."""
    if not isinstance(value, str):
        return None
    match = DURATION_RE.match(value.strip())
    if not match:
        return None
    seconds = sum(
        float(amount.replace(",", ".")) * _SECONDS_PER_UNIT[unit]
        for unit, amount in match.groupdict().items()
        if amount is not None
    )
    # Rounding hides binary float noise (e.g. 1.2000000000000002) in the landed data.
    return round(seconds / 3600, 6)


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
            text = clean_text(value.get(key))
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


def extract_course_nodes(html: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Return the page's schema.org Course objects and (reason, detail) for each unusable block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
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


def course_record(node: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised course fields (no fetch metadata) of one schema.org Course object."""
    time_required = _first_text(node.get("timeRequired"))
    return {
        "course_code": clean_text(node.get("courseCode")),
        "name": clean_text(node.get("name")),
        "description": clean_text(node.get("description")),
        "provider": _first_text(node.get("provider")),
        "educational_level": _first_text(node.get("educationalLevel")),
        "skills": _text_list(node.get("teaches")),
        # Codes join against other courses; names are the best available fallback.
        "prerequisites": _text_list(node.get("coursePrerequisites"), ("courseCode", "name")),
        "time_required": time_required,
        "duration_hours": parse_duration_hours(time_required),
    }


def utc_timestamp() -> str:
    """Return the current UTC time as an ISO-8601 string with a Z suffix and second precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CatalogSpider(scrapy.Spider):
    name = "catalog"

    def __init__(self, start_url: str | None = None, sitemap_url: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if not start_url:
            raise ValueError(
                "catalog spider needs a start URL: "
                "scrapy crawl catalog -a start_url=https://host/courses/page-1.html"
            )
        self.start_url = canonicalize_url(start_url)
        parts = urlsplit(self.start_url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"start_url must be an absolute http(s) URL, got {start_url!r}")
        self.site_netloc = parts.netloc
        # allowed_domains also lets Scrapy's offsite middleware catch redirects off the site.
        self.allowed_domains = [parts.hostname]
        self.sitemap_url = canonicalize_url(sitemap_url, self.start_url) if sitemap_url else None
        if self.sitemap_url and urlsplit(self.sitemap_url).netloc != self.site_netloc:
            raise ValueError(f"sitemap_url must be on {self.site_netloc}, got {sitemap_url!r}")

    async def start(self):
        """Yield the requests for the start listing page and, if given, the sitemap."""
        yield scrapy.Request(self.start_url, callback=self.parse_listing)
        if self.sitemap_url:
            yield scrapy.Request(self.sitemap_url, callback=self.parse_sitemap)

    def _inc(self, key: str) -> None:
        self.crawler.stats.inc_value(f"catalog/{key}")

    def _follow(self, response: Response, href: str, callback) -> scrapy.Request | None:
        """Return a request for the canonical form of href, or None when it leaves the site."""
        try:
            url = canonicalize_url(response.urljoin(href))
            parts = urlsplit(url)
        except ValueError:  # e.g. a non-numeric port; one bad link must not lose the page
            self._inc("skipped/bad_url")
            self.logger.debug("Not following malformed link %r on %s", href, response.url)
            return None
        if parts.scheme not in DEFAULT_PORTS:
            return None
        if parts.netloc != self.site_netloc:
            self._inc("skipped/offsite")
            self.logger.debug("Not following %s: outside %s", url, self.site_netloc)
            return None
        return scrapy.Request(url, callback=callback)

    def parse(self, response: Response, **kwargs):
        """Yield requests or items for a page of unknown kind by sniffing its markup."""
        if isinstance(response, TextResponse) and response.css("a.course-link, ul.course-list"):
            yield from self.parse_listing(response)
        else:
            yield from self.parse_course(response)

    def parse_listing(self, response: Response):
        """Yield requests for the course pages and the next listing page linked from a listing."""
        if not isinstance(response, TextResponse):
            self._inc("skipped/not_text")
            return
        self._inc("listing_pages")
        for href in response.css("a.course-link::attr(href)").getall():
            request = self._follow(response, href, self.parse_course)
            if request is not None:
                yield request
        # rel is a token list ("next nofollow"), hence ~= rather than =.
        for href in response.css("a[rel~=next]::attr(href), link[rel~=next]::attr(href)").getall():
            request = self._follow(response, href, self.parse_listing)
            if request is not None:
                yield request

    def parse_sitemap(self, response: Response):
        """Yield requests for every page (or nested sitemap) listed in a sitemap."""
        try:
            sitemap = Sitemap(response.body)
        except Exception as exc:  # lxml raises several types for hopeless documents
            self._inc("skipped/invalid_sitemap")
            self.logger.warning("Skipped sitemap %s: %s", response.url, exc)
            return
        callback = self.parse_sitemap if sitemap.type == "sitemapindex" else self.parse
        for entry in sitemap:
            request = self._follow(response, entry["loc"], callback)
            if request is not None:
                yield request

    def parse_course(self, response: Response):
        """Yield one CourseItem per schema.org Course object found on a course page."""
        url = canonicalize_url(response.url)
        if not isinstance(response, TextResponse):
            self._inc("skipped/not_text")
            self.logger.info("Skipped %s: not a text response (not_text)", url)
            return
        nodes, problems = extract_course_nodes(response.text)
        for reason, detail in problems:
            self._inc(f"jsonld/{reason}")
            self.logger.warning("Ignored a JSON-LD block on %s: %s (%s)", url, detail, reason)
        if not nodes:
            self._inc("skipped/no_course_jsonld")
            self.logger.info("Skipped %s: no schema.org Course JSON-LD (no_course_jsonld)", url)
            return
        fetched_at = utc_timestamp()
        for node in nodes:
            record = course_record(node)
            self._inc("courses")
            yield CourseItem(
                url=url,
                **record,
                http_status=response.status,
                fetched_at=fetched_at,
                content_hash=compute_content_hash(record),
                spider=self.name,
            )
