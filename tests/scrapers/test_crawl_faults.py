"""One real crawl of a fixture site full of faults: every record and every skip is asserted.

The site is configured as `-a site=faults` in a SITES_FILE written to tmp_path (start URL,
allowed domains, a 1 s download_timeout and CSS selectors for the last-resort extraction).
"""

import json
import re

import pytest

BACKOFF_BASE = 0.3
SITE_TIMEOUT = 1.0
HTML = "text/html"


def ld(data: dict) -> str:
    return f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>'


def mini(code: str, name: str) -> str:
    """Return the head of a page whose JSON-LD Course has only a code and a name."""
    return ld({"@type": "Course", "courseCode": code, "name": name})


def page(title: str, head: str = "", body: str = "", charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f"<!doctype html>\n<html><head>{meta}<title>{title}</title>{head}</head>"
        f"<body>{body}</body></html>\n"
    )


def build_routes(base: str, port: int) -> dict[str, dict]:
    links = [
        "/courses/full.html?utm_source=news#top",
        "/courses/full.html?gclid=1&utm_campaign=x",  # the same page again, tracking params
        "/courses/minimal.html",
        "/courses/nocode.html",
        "/courses/broken.html",
        "/courses/latin1.html",
        "/courses/cp1252.html",
        "/courses/microdata.html",
        "/courses/css.html",
        "/courses/about.html",
        "/courses/missing.html",
        "/courses/boom.html",
        "/courses/throttled.html",
        "/courses/slow.html",
        "/private/secret.html",
        f"http://localhost:{port}/courses/elsewhere.html",
        "/courses/moved.html",  # redirects off the site
        "/courses/dup-a.html",
        "/courses/dup-b.html",
    ]
    listing = page(
        "Courses",
        body="<ul>"
        + "".join(f'<li><a class="course-link" href="{href}">{href}</a></li>' for href in links)
        + "</ul>",
    )
    full = {
        "@context": "https://schema.org",
        "@type": "Course",
        "courseCode": "FAULT-101",
        "name": "Full Course",
        "description": "Everything filled in.",
        "provider": {"@type": "Organization", "name": "Fault Academy"},
        "educationalLevel": "Beginner",
        "teaches": ["Testing", "HTTP"],
        "coursePrerequisites": [],
        "timeRequired": "PT2H",
    }
    broken = (
        "<html><head><title>Broken page</title>\n"
        '<body><div class="wrap"><p>Intro <b>bold <i>nested\n'
        + ld(
            {
                "@type": "Course",
                "courseCode": "FAULT-103",
                "name": "Broken &amp; <b>Bold</b>",
                "description": "<p>Unclosed <b>tags</p> survive",
            }
        )
        + "\n<table><tr><td>cell<tr><td>cell2\n<p>no end"
    )
    latin1 = page(
        "Latin-1",
        head=ld(
            {
                "@type": "Course",
                "courseCode": "FAULT-104",
                "name": "Économie générale",
                "provider": "Université de Liège",
                "description": "Café crème, déjà vu.",
            }
        ),
        charset=None,  # declared only in the Content-Type header
    )
    cp1252 = page(
        "Windows-1252",
        body='<div itemscope itemtype="https://schema.org/Course">'
        '<h1 itemprop="name">Café – l’été</h1>'
        '<span itemprop="courseCode">FAULT-105</span>'
        '<p itemprop="description">“Quoted” naïve text…</p></div>',
        charset="windows-1252",  # declared only in <meta charset>
    )
    microdata = page(
        "Microdata",
        body='<div itemscope itemtype="https://schema.org/Course">'
        '<h1 itemprop="name">Micro <em>Data</em></h1>'
        '<meta itemprop="courseCode" content="FAULT-106">'
        '<div itemprop="provider" itemscope itemtype="https://schema.org/Organization">'
        '<span itemprop="name">Item Scope Inc.</span></div>'
        '<span itemprop="educationalLevel">Intermediate</span>'
        '<ul><li itemprop="teaches">Microdata<li itemprop="teaches">HTML</ul>'
        '<div itemprop="coursePrerequisites" itemscope itemtype="https://schema.org/Course">'
        '<meta itemprop="courseCode" content="FAULT-101"><span itemprop="name">Full</span></div>'
        '<time itemprop="timeRequired" datetime="PT90M">90 minutes</time></div>',
    )
    css = page(
        "CSS",
        body='<div class="css-course"><h2 class="title">Styling &amp; Layout</h2>'
        '<p>Code <span class="code">FAULT-107</span>'
        '<p class="summary">Selectors <em>only</em>.</p>'
        '<span class="org">CSS Guild</span> <span class="level">Beginner</span>'
        '<ul class="skills"><li>Flexbox<li>Grid<li>Flexbox</ul>'
        '<ul class="prereq"><li>FAULT-101</ul>'
        '<span class="hours">3 hours</span></div>',
    )

    def html(body: str, **extra) -> dict:
        return {"body": body, "content_type": HTML, **extra}

    return {
        "/robots.txt": {
            "body": "User-agent: *\nDisallow: /private/\n",
            "content_type": "text/plain",
        },
        "/courses/page-1.html": html(listing),
        "/courses/full.html": html(page("Full", head=ld(full))),
        "/courses/minimal.html": html(page("Minimal", head=mini("FAULT-102", "Min"))),
        "/courses/nocode.html": html(
            page("No code", head=ld({"@type": "Course", "name": "Nameless code"}))
        ),
        "/courses/broken.html": html(broken),
        "/courses/latin1.html": {
            "body": latin1,
            "charset": "iso-8859-1",
            "content_type": "text/html; charset=ISO-8859-1",
        },
        "/courses/cp1252.html": {"body": cp1252, "charset": "cp1252", "content_type": HTML},
        "/courses/microdata.html": html(microdata),
        "/courses/css.html": html(css),
        "/courses/about.html": html(page("About", body="<h1>About us</h1><p>No courses.</p>")),
        "/courses/boom.html": html("<h1>Internal error</h1>", status=500),
        "/courses/moved.html": html(
            "", status=301, headers={"Location": f"http://localhost:{port}/courses/moved-to.html"}
        ),
        "/courses/throttled.html": html(
            page("Throttled", head=mini("FAULT-108", "Th")),
            status=[429, 200],
            headers={"Retry-After": "1"},
        ),
        "/courses/slow.html": html(
            page("Slow", head=mini("FAULT-109", "Slow")),
            delay=5 * SITE_TIMEOUT,
        ),
        "/private/secret.html": html(page("Secret", head=mini("FAULT-666", "S"))),
        "/courses/dup-a.html": html(page("Dup", head=mini("FAULT-DUP", "Original"))),
        # Same code in another case, answered late so the original always lands first.
        "/courses/dup-b.html": html(
            page("Dup", head=mini("fault-dup", "Copy")),
            delay=SITE_TIMEOUT / 2,
        ),
    }


SITES_YML = """\
faults:
  start_urls: [{base}/courses/page-1.html]
  allowed_domains: [127.0.0.1]
  download_timeout: {timeout}
  selectors:
    name: .css-course h2.title
    course_code: .css-course .code
    description: .css-course .summary
    provider: .css-course .org
    level: .css-course .level
    skills: .css-course ul.skills li
    prerequisites: .css-course ul.prereq li
    duration: .css-course .hours
"""


@pytest.fixture(scope="module")
def site(serve):
    server = serve({})
    server.routes.update(build_routes(server.base, server.port))
    return server


@pytest.fixture(scope="module")
def faults_crawl(site, crawl, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    sites_file = tmp / "sites.yml"
    sites_file.write_text(SITES_YML.format(base=site.base, timeout=SITE_TIMEOUT), "utf-8")
    result = crawl(
        tmp / "landing",
        "-a",
        "site=faults",
        "-s",
        f"SITES_FILE={sites_file}",
        "-s",
        f"RETRY_BACKOFF_BASE={BACKOFF_BASE}",
        # AutoThrottle stays on, kept from stretching the run after the deliberately slow pages.
        "-s",
        "AUTOTHROTTLE_MAX_DELAY=0.05",
    )
    assert result.returncode == 0, result.log
    return result


def test_exactly_the_expected_records(site, faults_crawl, landing_record, comparable):
    base = site.base

    def url(name: str) -> str:
        return f"{base}/courses/{name}.html"

    expected = [
        landing_record(
            url("full"),
            "FAULT-101",
            "Full Course",
            description="Everything filled in.",
            provider="Fault Academy",
            educational_level="Beginner",
            skills=["Testing", "HTTP"],
            time_required="PT2H",
            duration_hours=2.0,
        ),
        # Missing optional fields stay null / empty.
        landing_record(url("minimal"), "FAULT-102", "Min"),
        landing_record(
            url("broken"),
            "FAULT-103",
            "Broken & Bold",
            description="Unclosed tags survive",
            # No charset anywhere: decoded as windows-1252, the HTML default (pure ASCII here).
            encoding="cp1252",
        ),
        landing_record(
            url("latin1"),
            "FAULT-104",
            "Économie générale",
            description="Café crème, déjà vu.",
            provider="Université de Liège",
            encoding="cp1252",  # w3lib decodes ISO-8859-1 as its superset windows-1252
        ),
        landing_record(
            url("cp1252"),
            "FAULT-105",
            "Café – l’été",
            description="“Quoted” naïve text…",
            extraction="microdata",
            encoding="cp1252",
        ),
        landing_record(
            url("microdata"),
            "FAULT-106",
            "Micro Data",
            provider="Item Scope Inc.",
            educational_level="Intermediate",
            skills=["Microdata", "HTML"],
            prerequisites=["FAULT-101"],
            time_required="PT90M",
            duration_hours=1.5,
            extraction="microdata",
        ),
        landing_record(
            url("css"),
            "FAULT-107",
            "Styling & Layout",
            description="Selectors only.",
            provider="CSS Guild",
            educational_level="Beginner",
            skills=["Flexbox", "Grid"],
            prerequisites=["FAULT-101"],
            time_required="3 hours",
            duration_hours=3.0,
            extraction="css",
        ),
        landing_record(url("throttled"), "FAULT-108", "Th"),
        landing_record(url("dup-a"), "FAULT-DUP", "Original"),
    ]
    assert comparable(faults_crawl.records) == comparable(expected)


def test_raw_html_is_the_decoded_page_and_fetched_at_utc(site, faults_crawl):
    records = faults_crawl.records
    for record in records:
        path = record["url"].removeprefix(site.base)
        assert record["raw_html"] == site.routes[path]["body"], path
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["fetched_at"])
    latin1 = next(record for record in records if record["course_code"] == "FAULT-104")
    assert "Économie générale" in latin1["raw_html"]


def test_exactly_the_expected_pages_are_skipped(site, faults_crawl):
    base = site.base
    skipped = faults_crawl.skipped
    assert sorted((s["url"], s["reason"], s["http_status"]) for s in skipped) == sorted(
        [
            (f"{base}/courses/nocode.html", "invalid_record", 200),
            (f"{base}/courses/about.html", "no_course", 200),
            (f"{base}/courses/missing.html", "http_404", 404),
            (f"{base}/courses/boom.html", "http_500", 500),
            (f"{base}/courses/slow.html", "timeout", None),
            (f"{base}/private/secret.html", "robots_txt", None),
            (f"http://localhost:{site.port}/courses/elsewhere.html", "offsite", None),
            # Caught by Scrapy's OffsiteMiddleware after the redirect (an IgnoreRequest).
            (f"http://localhost:{site.port}/courses/moved-to.html", "offsite", None),
            (f"{base}/courses/dup-b.html", "duplicate", 200),
        ]
    )
    for reason in (
        "invalid_record",
        "no_course",
        "http_404",
        "http_500",
        "timeout",
        "robots_txt",
        "duplicate",
    ):
        assert f"'catalog/skipped/{reason}': 1" in faults_crawl.log
    assert "'catalog/skipped/offsite': 2" in faults_crawl.log


def test_server_errors_are_retried_with_growing_backoff(site, faults_crawl):
    attempts = site.times("/courses/boom.html")
    assert len(attempts) == 3  # RETRY_TIMES = 2
    first_wait, second_wait = attempts[1] - attempts[0], attempts[2] - attempts[1]
    # Lower bounds only: each wait is at least its backoff step (B, then 2B); a loaded machine
    # can stretch any wait, so comparing the two measured waits with each other would be flaky.
    assert first_wait >= BACKOFF_BASE
    assert second_wait >= 2 * BACKOFF_BASE
    assert site.times("/courses/missing.html")[1:] == []  # a 404 is not retried


def test_429_is_retried_after_retry_after_and_then_extracted(site, faults_crawl):
    attempts = site.times("/courses/throttled.html")
    assert len(attempts) == 2
    # Retry-After: 1 asks for longer than the first backoff step, and wins.
    assert attempts[1] - attempts[0] >= 1.0
    assert re.search(r"Retrying \S+/courses/throttled.html in 1.00s", faults_crawl.log)


def test_timeouts_are_retried_then_skipped(site, faults_crawl):
    assert len(site.times("/courses/slow.html")) == 3


def test_robots_txt_and_offsite_pages_are_never_fetched(site, faults_crawl):
    paths = site.paths()
    assert not any(path.startswith("/private/") for path in paths)
    assert {hit.host for hit in site.hits} == {f"127.0.0.1:{site.port}"}


def test_tracking_parameter_variants_are_fetched_once(site, faults_crawl):
    assert site.paths().count("/courses/full.html") == 1
    assert all(path.count("?") == 0 for path in site.paths())
