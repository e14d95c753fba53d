"""Pure extraction, configuration and backoff functions of the scrapers package (no crawling)."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scrapers.extraction import (
    canonicalize_url,
    clean_text,
    course_record,
    css_course_record,
    extract_course_nodes,
    extract_microdata_courses,
    parse_duration_hours,
)
from scrapers.middlewares import backoff_delay, parse_retry_after
from scrapers.sites import (
    DEFAULT_COURSE_LINK,
    DEFAULT_NEXT_PAGE,
    SiteConfigError,
    load_site,
    parse_site,
)
from scrapers.spiders.catalog import sitemaps_in_robots

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("http://Example.COM:80/a?b=2&a=1#top", None, "http://example.com/a?a=1&b=2"),
        ("https://example.com:443", None, "https://example.com/"),
        ("http://127.0.0.1:8000/x.html#frag", None, "http://127.0.0.1:8000/x.html"),
        (
            "/courses/data-101.html?utm_source=x&UTM_Medium=y&gclid=1&fbclid=2&ref=home#f",
            "http://127.0.0.1:8000/courses/page-1.html",
            "http://127.0.0.1:8000/courses/data-101.html",
        ),
        (
            "data-201.html?page=2&lang=en",
            "http://h/courses/",
            "http://h/courses/data-201.html?lang=en&page=2",
        ),
        ("http://h/search?q=&referrer=x", None, "http://h/search?q=&referrer=x"),
        ("  http://h/a b  ", None, "http://h/a b"),
    ],
)
def test_canonicalize_url(url, base, expected):
    assert canonicalize_url(url, base) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT12H", 12.0),
        ("PT1H30M", 1.5),
        ("P1D", 24.0),
        ("pt45m", 0.75),
        ("PT90S", 0.025),
        ("P1W", 168.0),
        ("P1DT2H", 26.0),
        ("PT1.5H", 1.5),
        ("PT0,5H", 0.5),
        (" PT2H ", 2.0),
        ("PT1H20M", 1.333333),
        ("P", None),
        ("PT", None),
        ("P1DT", None),
        ("P3M", None),
        ("P1Y", None),
        ("12 hours", 12.0),
        ("1 h 30 min", 1.5),
        ("45 minutes", 0.75),
        ("1.5 hrs", 1.5),
        ("2 weeks", None),
        ("hours", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_duration_hours(value, expected):
    assert parse_duration_hours(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Data \n\t Modeling  ", "Data Modeling"),
        ("Spark &amp; Delta&nbsp;Lake", "Spark & Delta Lake"),
        ("<p>One</p><p>Two <b>bold</b>, <em>fast</em>.</p>", "One Two bold, fast."),
        ("Line<br>break", "Line break"),
        ("a < b and c > d", "a < b and c > d"),
        ("Tom & Jerry", "Tom & Jerry"),
        ("<script>alert(1)</script>Safe", "Safe"),
        ("<p>  </p>", None),
        ("", None),
        (201, "201"),
        (None, None),
        (True, None),
        ({"name": "x"}, None),
    ],
)
def test_clean_text(value, expected):
    assert clean_text(value) == expected


def page(*blocks: str) -> str:
    """Return a minimal HTML page with each block in its own ld+json script."""
    scripts = "".join(f'<script type="application/ld+json">{block}</script>' for block in blocks)
    return f"<html><head><title>t</title>{scripts}</head><body><p>x</p></body></html>"


BASE_COURSE = {
    "course_code": "C-1",
    "name": "Course One",
    "description": None,
    "provider": None,
    "educational_level": None,
    "skills": [],
    "prerequisites": [],
    "time_required": None,
    "duration_hours": None,
}


def expected_course(**overrides):
    """Return BASE_COURSE with the given fields replaced."""
    return {**BASE_COURSE, **overrides}


@pytest.mark.parametrize(
    ("html", "expected_courses", "expected_problems"),
    [
        pytest.param(
            page(
                '{"@context": "https://schema.org", "@type": "Course", "name": "Course One",'
                ' "courseCode": "C-1", "description": "Desc", "provider": {"@type":'
                ' "Organization", "name": "Org"}, "educationalLevel": "Intermediate",'
                ' "teaches": ["SQL", "Data modeling"], "coursePrerequisites": [{"@type":'
                ' "Course", "courseCode": "C-0", "name": "Zero"}], "timeRequired": "PT12H"}'
            ),
            [
                expected_course(
                    description="Desc",
                    provider="Org",
                    educational_level="Intermediate",
                    skills=["SQL", "Data modeling"],
                    prerequisites=["C-0"],
                    time_required="PT12H",
                    duration_hours=12.0,
                )
            ],
            [],
            id="single-object",
        ),
        pytest.param(
            page(
                '[{"@type": "Organization", "name": "Org"},'
                ' {"@type": "Course", "name": "Course One", "courseCode": "C-1",'
                ' "provider": "Org Name", "teaches": "Spark"}]'
            ),
            [expected_course(provider="Org Name", skills=["Spark"])],
            [],
            id="top-level-list-provider-string-teaches-string",
        ),
        pytest.param(
            page(
                '{"@context": "https://schema.org", "@graph": ['
                '{"@type": "WebPage", "name": "Page"},'
                '{"@type": ["Course", "Product"], "name": "Course One", "courseCode": "C-1",'
                ' "coursePrerequisites": "C-0"}]}'
            ),
            [expected_course(prerequisites=["C-0"])],
            [],
            id="graph-type-list-prerequisite-string",
        ),
        pytest.param(
            page(
                '{"@type": "Course", "name": "Course One", "courseCode": "C-1",'
                ' "coursePrerequisites": {"@type": "Course", "name": "Only A Name"}}'
            ),
            [expected_course(prerequisites=["Only A Name"])],
            [],
            id="prerequisite-object-without-code-falls-back-to-name",
        ),
        pytest.param(
            page(
                '{"@type": "Course", "name": "Course One", "courseCode": "C-1",'
                ' "coursePrerequisites": ["C-0", {"courseCode": "C-00"}, {"name": "Basics"},'
                ' "C-0", {}, ""], "teaches": [{"@type": "DefinedTerm", "name": "SQL"}, "SQL"]}'
            ),
            [expected_course(prerequisites=["C-0", "C-00", "Basics"], skills=["SQL"])],
            [],
            id="mixed-prerequisite-list-deduplicated",
        ),
        pytest.param(
            page(
                '{"@type": "Course", "name": "Broken", ',
                '{"@type": "schema:Course", "name": "Course One", "courseCode": "C-1"}',
            ),
            [expected_course()],
            ["invalid_jsonld"],
            id="invalid-block-skipped-other-block-used",
        ),
        pytest.param(
            page(
                '{"@type": "CourseInstance", "name": "Run", "courseCode": "C-9"}',
                '{"@type": "WebPage", "name": "About"}',
                " ",
            ),
            [],
            ["empty_jsonld"],
            id="no-course-objects",
        ),
        pytest.param("<html><body>No JSON-LD here</body></html>", [], [], id="no-blocks"),
        pytest.param(
            '<html><head><script type="application/ld+json; charset=utf-8">'
            '{"@type": "https://schema.org/Course", "name": "Spark &amp; <b>Delta</b>",'
            ' "courseCode": " C-1 ", "description": "<p>Learn <b>Spark</b>.</p><p>Now</p>"}'
            "</script></head></html>",
            [expected_course(name="Spark & Delta", description="Learn Spark. Now")],
            [],
            id="type-iri-html-in-text-fields",
        ),
    ],
)
def test_extract_course_nodes(html, expected_courses, expected_problems):
    nodes, problems = extract_course_nodes(html)
    assert [course_record(node) for node in nodes] == expected_courses
    assert [reason for reason, _detail in problems] == expected_problems


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        pytest.param(
            {"@type": "Course", "name": ["Course One", "Alias"], "courseCode": ["C-1"]},
            expected_course(),
            id="list-valued-name-and-code-take-the-first",
        ),
        pytest.param(
            {
                "@type": "Course",
                "name": {"@value": "Course One", "@language": "en"},
                "courseCode": "C-1",
                "description": [{"@value": "Beschreibung", "@language": "de"}],
            },
            expected_course(description="Beschreibung"),
            id="value-objects",
        ),
        pytest.param(
            {"@type": "Course", "name": {"x": "y"}, "courseCode": "C-1"},
            expected_course(name=None),
            id="object-name-without-value",
        ),
        pytest.param(
            {"@type": "Course", "name": "Course One", "courseCode": "C-1", "timeRequired": "3 h"},
            expected_course(time_required="3 h", duration_hours=3.0),
            id="plain-text-duration",
        ),
    ],
)
def test_course_record_edge_cases(node, expected):
    assert course_record(node) == expected


# --------------------------------------------------------------------------- microdata

MICRODATA_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>x</title></head>
<body itemscope itemtype="https://schema.org/WebPage">
<div itemprop="mainEntity" itemscope itemtype="https://schema.org/Course">
  <h1 itemprop="name">Spark &amp; <em>Delta</em></h1>
  <p>Code: <span itemprop="courseCode"> MD-1 </span></p>
  <div itemprop="description"><p>Learn <b>Spark</b>.</p><p>Then   Delta.</p></div>
  <div itemprop="provider" itemscope itemtype="https://schema.org/Organization">
    <span itemprop="name">Université Lumière</span>
    <a itemprop="url" href="https://example.org/">site</a>
  </div>
  <meta itemprop="educationalLevel" content="Advanced">
  <ul><li itemprop="teaches">Spark</li><li itemprop="teaches">Delta Lake</li>
      <li itemprop="teaches">Spark</li></ul>
  <div itemprop="coursePrerequisites" itemscope itemtype="https://schema.org/Course">
    <span itemprop="courseCode">MD-0</span><span itemprop="name">Basics</span>
  </div>
  <span itemprop="coursePrerequisites">Linux shell</span>
  <time itemprop="timeRequired" datetime="PT1H30M">an hour and a half</time>
</div>
<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Mug</span></div>
</body></html>
"""

MICRODATA_RECORD = {
    "course_code": "MD-1",
    "name": "Spark & Delta",
    "description": "Learn Spark. Then Delta.",
    "provider": "Université Lumière",
    "educational_level": "Advanced",
    "skills": ["Spark", "Delta Lake"],
    "prerequisites": ["MD-0", "Linux shell"],
    "time_required": "PT1H30M",
    "duration_hours": 1.5,
}


def test_microdata_course_with_nested_items():
    items = extract_microdata_courses(MICRODATA_PAGE)
    assert [course_record(item) for item in items] == [MICRODATA_RECORD]
    # The nested Organization and prerequisite Course are values, not page-level courses.
    assert items[0]["provider"]["@type"] == ["https://schema.org/Organization"]


def test_microdata_in_broken_html_with_unclosed_tags():
    html = (
        "<html><head><title>Broken</title><body>"
        '<div itemscope itemtype="http://schema.org/Course">'
        '<h1 itemprop="name">Broken <b>Page</h1>'
        '<p>Code <span itemprop="courseCode">BR-1</span>'
        '<p itemprop="description">First line<p>Not the description'
        '<ul><li itemprop="teaches">SQL<li itemprop="teaches">Spark</ul>'
        '<meta itemprop="timeRequired" content="PT2H">'
    )
    [item] = extract_microdata_courses(html)
    assert course_record(item) == {
        **BASE_COURSE,
        "course_code": "BR-1",
        "name": "Broken Page",
        "description": "First line",
        "skills": ["SQL", "Spark"],
        "time_required": "PT2H",
        "duration_hours": 2.0,
    }


@pytest.mark.parametrize(
    ("html", "codes"),
    [
        pytest.param(
            '<div itemscope itemtype="https://schema.org/CourseInstance">'
            '<span itemprop="courseCode">X</span></div>'
            '<div itemscope itemtype="https://schema.org/Product">'
            '<span itemprop="courseCode">Y</span></div>'
            '<span itemprop="courseCode">Z</span>',
            [],
            id="no-course-items",
        ),
        pytest.param(
            '<div itemscope itemtype="https://schema.org/Course">'
            '<span itemprop="courseCode">A</span></div>'
            '<section itemscope itemtype="https://schema.org/Course http://schema.org/Product">'
            '<meta itemprop="courseCode" content="B"></section>',
            ["A", "B"],
            id="two-courses-and-multiple-itemtypes",
        ),
        pytest.param("<p>plain</p>", [], id="no-microdata"),
    ],
)
def test_microdata_course_detection(html, codes):
    assert [course_record(item)["course_code"] for item in extract_microdata_courses(html)] == codes


# --------------------------------------------------------------------------- CSS fallback

CSS_PAGE = """<html><head><meta name="level" content="Beginner"></head><body>
<article class="course">
  <h2 class="title">CSS &amp; <i>Selectors</i></h2>
  <p class="meta">Code: <span class="code">CSS-1</span></p>
  <div class="desc"><p>One.</p><p>Two   lines.</p></div>
  <ul class="skills"><li>HTML</li><li> CSS </li><li>HTML</li></ul>
  <span class="duration">12 hours</span>
</article>
</body></html>
"""


def test_css_record_with_elements_text_and_attributes():
    selectors = {
        "name": "h2.title",
        "course_code": ".code::text",
        "description": "div.desc",
        "provider": "span.provider",  # matches nothing: stays None
        "level": "meta[name=level]::attr(content)",
        "skills": "ul.skills li",
        "duration": "span.duration",
    }
    assert css_course_record(CSS_PAGE, selectors) == {
        "course_code": "CSS-1",
        "name": "CSS & Selectors",
        "description": "One. Two lines.",
        "provider": None,
        "educational_level": "Beginner",
        "skills": ["HTML", "CSS"],
        "prerequisites": [],
        "time_required": "12 hours",
        "duration_hours": 12.0,
    }


def test_css_record_is_none_when_no_selector_matches():
    assert css_course_record(CSS_PAGE, {"name": "h1.nope", "course_code": ".nope"}) is None
    assert css_course_record(CSS_PAGE, {}) is None


# --------------------------------------------------------------------------- site configuration


def test_demo_site_entry_of_the_repository_sites_file():
    site = load_site("demo", REPO_ROOT / "conf" / "sources" / "catalog_sites.yml")
    assert site.start_urls == ()
    assert site.sitemap_urls == ("/sitemap.xml",)
    assert "127.0.0.1" in site.allowed_domains
    assert site.course_link == "li.course-card a.course-link"
    assert site.next_page == "a[rel~=next]"
    assert site.url_pattern.search("http://127.0.0.1:8000/courses/data-101.html")
    assert not site.url_pattern.search("http://127.0.0.1:8000/courses/page-2.html")
    assert set(site.field_selectors) == {
        "name",
        "course_code",
        "description",
        "provider",
        "level",
        "skills",
        "prerequisites",
        "duration",
    }


def test_demo_site_selectors_read_the_demo_generator_pages(tmp_path):
    from lakehouse.demo.catalog_site import render_site

    courses = [
        {
            "code": "DEMO-101",
            "title": "Intro & Basics",
            "description": "Start <here>.",
            "provider": "Université Lumière",
            "level": "Beginner",
            "skills": ["SQL", "Python"],
            "prerequisites": [],
            "duration_hours": 12,
        },
        {
            "code": "DEMO-201",
            "title": "Next Steps",
            "description": "Go further.",
            "provider": "Lakehouse Academy",
            "level": "Intermediate",
            "skills": ["Spark"],
            "prerequisites": ["DEMO-101"],
            "duration_hours": 30,
        },
    ]
    render_site(courses, tmp_path, page_size=1)
    site = load_site("demo", REPO_ROOT / "conf" / "sources" / "catalog_sites.yml")
    for course in courses:
        html = (tmp_path / "courses" / f"{course['code'].lower()}.html").read_text("utf-8")
        [node], _problems = extract_course_nodes(html)
        from_jsonld = course_record(node)
        from_css = css_course_record(html, site.field_selectors)
        # The visible page names prerequisites and spells the duration out in words.
        assert from_css == {
            **from_jsonld,
            "prerequisites": ["Intro & Basics"] if course["prerequisites"] else [],
            "time_required": f"{course['duration_hours']} hours",
        }
    listing = (tmp_path / "courses" / "page-1.html").read_text("utf-8")
    assert re.findall(r'class="course-link" href="([^"]+)"', listing) == ["/courses/demo-101.html"]
    assert 'rel="next"' in listing


def write_sites(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sites.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_site_defaults_and_overrides(tmp_path):
    path = write_sites(
        tmp_path,
        "bare:\nfull:\n"
        "  start_urls: https://example.org/catalog\n"
        "  sitemap_url: [/a.xml, /b.xml]\n"
        "  allowed_domains: [example.org]\n"
        "  download_timeout: 5\n"
        "  selectors: {course_link: 'a.c::attr(href)', name: h1}\n",
    )
    bare = load_site("bare", path)
    assert (bare.course_link, bare.next_page) == (DEFAULT_COURSE_LINK, DEFAULT_NEXT_PAGE)
    assert bare.field_selectors == {} and bare.url_pattern is None
    full = load_site("full", path)
    assert full.start_urls == ("https://example.org/catalog",)
    assert full.sitemap_urls == ("/a.xml", "/b.xml")
    assert full.download_timeout == 5.0
    assert full.course_link == "a.c::attr(href)"
    assert full.next_page == DEFAULT_NEXT_PAGE
    assert full.field_selectors == {"name": "h1"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"start_url": "x"}, "unknown keys ['start_url']"),
        ({"selectors": {"title": "h1"}}, "unknown selectors ['title']"),
        ({"selectors": {"name": "h1["}}, "selector name 'h1[' is invalid"),
        ({"selectors": {"name": ""}}, "selector name must be a non-empty string"),
        ({"url_pattern": "("}, "url_pattern is invalid"),
        ({"download_timeout": 0}, "download_timeout must be a positive number"),
        ({"start_urls": [1]}, "start_urls must be a string or a list of strings"),
        ("oops", "must be a mapping of settings"),
    ],
)
def test_bad_site_entries_fail_clearly(raw, message):
    with pytest.raises(SiteConfigError, match=re.escape(message)):
        parse_site("s", raw)


def test_unknown_site_or_missing_file_fail_clearly(tmp_path):
    path = write_sites(tmp_path, "one: {}\ntwo: {}\n")
    with pytest.raises(SiteConfigError, match=r"unknown site 'three' .*\(known sites: one, two\)"):
        load_site("three", path)
    with pytest.raises(SiteConfigError, match="cannot read the sites file"):
        load_site("one", tmp_path / "missing.yml")
    with pytest.raises(SiteConfigError, match="must map site names"):
        load_site("one", write_sites(tmp_path, "- a\n"))


# --------------------------------------------------------------------------- politeness helpers


@pytest.mark.parametrize(
    ("retry_times", "retry_after", "expected"),
    [
        (1, None, 0.5),
        (2, None, 1.0),
        (3, None, 2.0),
        (10, None, 8.0),
        (1, 3.0, 3.0),
        (2, 0.1, 1.0),
        (1, 120.0, 8.0),
    ],
)
def test_backoff_delay_grows_exponentially_and_is_capped(retry_times, retry_after, expected):
    assert backoff_delay(retry_times, base=0.5, maximum=8.0, retry_after=retry_after) == expected


def test_parse_retry_after():
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(b"soon") is None
    assert parse_retry_after(None) is None


def test_sitemaps_in_robots():
    robots = "User-agent: *\nDisallow: /x\nSitemap: /sitemap.xml\nsitemap:https://h/s2.xml\n"
    assert sitemaps_in_robots(robots) == ["/sitemap.xml", "https://h/s2.xml"]
