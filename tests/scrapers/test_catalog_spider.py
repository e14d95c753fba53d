"""Catalog spider: real crawls of a JSON-LD fixture site (pure functions: test_extraction.py)."""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lakehouse.sources.catalog import CATALOG_LANDING_SCHEMA
from scrapers.items import CourseItem

REPO_ROOT = Path(__file__).resolve().parents[2]
CRAWL_DATE = "2026-11-23"

# --------------------------------------------------------------------------- fixture site

LISTING = """<!doctype html>
<html><head><meta charset="utf-8"><title>Courses</title></head><body>
<ul class="course-list">{cards}</ul>
{next_link}
</body></html>
"""
CARD = '<li class="course-card"><a class="course-link" href="{href}">{title}</a> <span class="level">Beginner</span></li>'  # noqa: E501
COURSE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
{scripts}
</head><body><h1>{title}</h1></body></html>
"""


def ld(data) -> str:
    """Return an ld+json script element holding data (raw when it is already a string)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=1)
    return f'<script type="application/ld+json">{text}</script>'


def listing(cards: list[tuple[str, str]], next_href: str | None = None) -> str:
    """Return a listing page in the site generator's layout."""
    next_link = f'<a rel="next" class="next" href="{next_href}">Next</a>' if next_href else ""
    body = "\n".join(CARD.format(href=href, title=title) for href, title in cards)
    return LISTING.format(cards=body, next_link=next_link)


def build_site(port: int) -> dict[str, str]:
    """Return the fixture site's pages by path (2 listings, 5 linked course pages, 2 decoys)."""
    other_host = f"http://localhost:{port}"
    pages = {
        "robots.txt": (
            f"User-agent: *\nDisallow: /private/\nSitemap: http://127.0.0.1:{port}/sitemap.xml\n"
        ),
        "courses/page-1.html": listing(
            [
                ("/courses/data-101.html", "Intro to Data"),
                ("/courses/data-201.html", "Data Modeling"),
                ("data-301.html", "Streaming Pipelines"),
            ],
            next_href="/courses/page-2.html?utm_campaign=spring",
        ),
        "courses/page-2.html": listing(
            [
                ("/courses/data-401.html", "Spark &amp; Delta Lake"),
                ("/courses/data-101.html?utm_source=x#frag", "Intro to Data (again)"),
                ("/courses/data-999.html", "About our courses"),
                ("/private/draft.html", "Draft"),
                (f"{other_host}/courses/data-501.html", "Elsewhere"),
            ]
        ),
        # A normal page, exactly as the site generator writes it.
        "courses/data-101.html": COURSE_PAGE.format(
            title="Intro to Data",
            scripts=ld(
                {
                    "@context": "https://schema.org",
                    "@type": "Course",
                    "name": "Intro to Data",
                    "courseCode": "DATA-101",
                    "description": "Foundations of working with data.",
                    "provider": {"@type": "Organization", "name": "Université Lumière"},
                    "educationalLevel": "Beginner",
                    "teaches": ["Spreadsheets", "Descriptive statistics"],
                    "coursePrerequisites": [],
                    "timeRequired": "PT1H30M",
                }
            ),
        ),
        # @graph, provider as a plain string, a single prerequisite string.
        "courses/data-201.html": COURSE_PAGE.format(
            title="Data Modeling",
            scripts=ld(
                {
                    "@context": "https://schema.org",
                    "@graph": [
                        {"@type": "BreadcrumbList", "itemListElement": []},
                        {
                            "@type": ["Course", "Product"],
                            "name": "Data Modeling",
                            "courseCode": "DATA-201",
                            "description": "Model data with SQL.",
                            "provider": "Lakehouse Academy",
                            "educationalLevel": "Intermediate",
                            "teaches": ["SQL", "Data modeling"],
                            "coursePrerequisites": "DATA-101",
                            "timeRequired": "PT12H",
                        },
                    ],
                }
            ),
        ),
        # Two blocks: the first is broken JSON, the second a list holding the Course.
        "courses/data-301.html": COURSE_PAGE.format(
            title="Streaming Pipelines",
            scripts=ld('{"@type": "Course", "name": "Broken",')
            + ld(
                [
                    {"@type": "Organization", "name": "Lakehouse Academy"},
                    {
                        "@type": "Course",
                        "name": "Streaming Pipelines",
                        "courseCode": "DATA-301",
                        "provider": {"@type": "Organization", "name": "Lakehouse Academy"},
                        "educationalLevel": "Advanced",
                        "teaches": "Structured Streaming",
                        "coursePrerequisites": [
                            {"@type": "Course", "courseCode": "DATA-201", "name": "Data Modeling"},
                            {"@type": "Course", "name": "Python Basics"},
                            "Linux shell",
                        ],
                        "timeRequired": "P1D",
                    },
                ]
            ),
        ),
        # Entities and tags inside JSON-LD text that must be cleaned.
        "courses/data-401.html": COURSE_PAGE.format(
            title="Spark &amp; Delta Lake",
            scripts=ld(
                {
                    "@context": "https://schema.org",
                    "@type": "Course",
                    "name": "Spark &amp; Delta Lake",
                    "courseCode": "DATA-401",
                    "description": "<p>Learn <b>Spark</b> &amp; Delta&nbsp;Lake.</p>\n"
                    "<p>Build   a <em>lakehouse</em>&hellip;</p>",
                    "provider": {"@type": "Organization", "name": " Lakehouse\n Academy "},
                    "educationalLevel": "Intermediate",
                    "teaches": ["Apache Spark", " Delta  Lake "],
                    "coursePrerequisites": {"@type": "Course", "courseCode": "DATA-201"},
                    "timeRequired": "PT45M",
                }
            ),
        ),
        # Linked from a listing but carries no Course JSON-LD: must be skipped.
        "courses/data-999.html": COURSE_PAGE.format(
            title="About our courses",
            scripts=ld({"@context": "https://schema.org", "@type": "WebPage", "name": "About"}),
        ),
        # Decoys: disallowed by robots.txt, and reachable only through another host name.
        "private/draft.html": COURSE_PAGE.format(
            title="Draft",
            scripts=ld({"@type": "Course", "name": "Draft", "courseCode": "DATA-666"}),
        ),
        "courses/data-501.html": COURSE_PAGE.format(
            title="Elsewhere",
            scripts=ld({"@type": "Course", "name": "Elsewhere", "courseCode": "DATA-501"}),
        ),
    }
    base = f"http://127.0.0.1:{port}"
    locs = [
        "/courses/page-1.html",
        "/courses/data-101.html?utm_medium=sitemap",
        "/courses/data-201.html",
        "/courses/data-301.html",
        "/courses/data-401.html",
        "/courses/data-999.html",
    ]
    pages["sitemap.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "".join(f"<url><loc>{base}{loc.replace('&', '&amp;')}</loc></url>\n" for loc in locs)
        + "</urlset>\n"
    )
    return pages


CONTENT_TYPES = {"robots.txt": "text/plain", "sitemap.xml": "application/xml"}


def course(base: str, code: str, name: str, landing_record, **fields) -> dict:
    return landing_record(f"{base}/courses/{code.lower()}.html", code, name, **fields)


def expected_records(base: str, landing_record) -> list[dict]:
    """Return the landing records (minus fetched_at and raw_html) the fixture site must produce."""
    return [
        course(
            base,
            "DATA-101",
            "Intro to Data",
            landing_record,
            description="Foundations of working with data.",
            provider="Université Lumière",
            educational_level="Beginner",
            skills=["Spreadsheets", "Descriptive statistics"],
            prerequisites=[],
            time_required="PT1H30M",
            duration_hours=1.5,
        ),
        course(
            base,
            "DATA-201",
            "Data Modeling",
            landing_record,
            description="Model data with SQL.",
            provider="Lakehouse Academy",
            educational_level="Intermediate",
            skills=["SQL", "Data modeling"],
            prerequisites=["DATA-101"],
            time_required="PT12H",
            duration_hours=12.0,
        ),
        course(
            base,
            "DATA-301",
            "Streaming Pipelines",
            landing_record,
            description=None,
            provider="Lakehouse Academy",
            educational_level="Advanced",
            skills=["Structured Streaming"],
            prerequisites=["DATA-201", "Python Basics", "Linux shell"],
            time_required="P1D",
            duration_hours=24.0,
        ),
        course(
            base,
            "DATA-401",
            "Spark & Delta Lake",
            landing_record,
            description="Learn Spark & Delta Lake. Build a lakehouse…",
            provider="Lakehouse Academy",
            educational_level="Intermediate",
            skills=["Apache Spark", "Delta Lake"],
            prerequisites=["DATA-201"],
            time_required="PT45M",
            duration_hours=0.75,
        ),
    ]


@pytest.fixture(scope="module")
def site(serve):
    server = serve({})
    pages = build_site(server.port)
    server.routes.update(
        {
            f"/{path}": {"body": body, "content_type": CONTENT_TYPES.get(path, "text/html")}
            for path, body in pages.items()
        }
    )
    server.pages = pages
    return server


@pytest.fixture(scope="module")
def landing_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("landing") / "catalog"


@pytest.fixture(scope="module")
def first_crawl(site, landing_dir, crawl):
    site.hits.clear()
    result = crawl(landing_dir, "-a", f"start_url={site.base}/courses/page-1.html")
    assert result.returncode == 0, result.log
    result.hits = list(site.hits)
    return result


@pytest.fixture(scope="module")
def second_crawl(site, landing_dir, first_crawl, crawl):
    # Same landing dir, via the sitemap too, and tiny batches: it must add new files
    # next to the first crawl's without replacing them.
    site.hits.clear()
    result = crawl(
        landing_dir,
        "-a",
        f"start_url={site.base}/courses/page-1.html",
        "-a",
        f"sitemap_url={site.base}/sitemap.xml",
        "-s",
        "LANDING_BATCH_SIZE=3",
    )
    assert result.returncode == 0, result.log
    result.hits = list(site.hits)
    return result


# --------------------------------------------------------------------------- crawl tests

# What the Spark bronze loader reads from each landing record, in order.
EXPECTED_KEYS = CATALOG_LANDING_SCHEMA.fieldNames()


def test_item_keys_are_the_landing_schema():
    assert list(CourseItem.__dataclass_fields__) == EXPECTED_KEYS


def test_crawl_lands_exactly_the_expected_records(site, first_crawl, landing_record, comparable):
    records = first_crawl.records
    assert comparable(records) == expected_records(site.base, landing_record)
    assert all(list(record) == EXPECTED_KEYS for record in records)


def test_raw_html_is_the_page_as_served(site, first_crawl):
    for record in first_crawl.records:
        path = record["url"].removeprefix(site.base + "/")
        assert record["raw_html"] == site.pages[path]


def test_fetched_at_is_utc_iso8601(first_crawl):
    for record in first_crawl.records:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["fetched_at"])


def test_skipped_pages_are_recorded_with_their_reason(site, first_crawl):
    skipped = first_crawl.skipped
    assert {(s["url"], s["reason"], s["http_status"]) for s in skipped} == {
        (f"{site.base}/courses/data-999.html", "no_course", 200),
        (f"{site.base}/private/draft.html", "robots_txt", None),
        (f"http://localhost:{site.port}/courses/data-501.html", "offsite", None),
    }
    assert len(skipped) == 3
    for record in skipped:
        assert list(record) == ["url", "reason", "http_status", "fetched_at"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["fetched_at"])
    assert f"Skipped {site.base}/courses/data-999.html: no schema.org Course" in first_crawl.log
    for reason in ("no_course", "robots_txt", "offsite"):
        assert f"'catalog/skipped/{reason}': 1" in first_crawl.log


def test_invalid_jsonld_block_is_logged(site, first_crawl):
    assert re.search(
        rf"Ignored a JSON-LD block on {re.escape(site.base)}/courses/data-301.html: "
        r"ld\+json block 1 is not valid JSON",
        first_crawl.log,
    )


def test_nothing_fetched_twice_and_crawl_stays_on_site(site, first_crawl):
    paths = Counter(hit.path for hit in first_crawl.hits)
    assert paths == Counter(
        {
            "/robots.txt": 1,
            "/courses/page-1.html": 1,
            "/courses/page-2.html": 1,
            "/courses/data-101.html": 1,
            "/courses/data-201.html": 1,
            "/courses/data-301.html": 1,
            "/courses/data-401.html": 1,
            "/courses/data-999.html": 1,
        }
    )
    assert {hit.host for hit in first_crawl.hits} == {f"127.0.0.1:{site.port}"}
    assert {hit.user_agent for hit in first_crawl.hits} == {
        "course-lakehouse-catalog-bot/0.2 (+https://github.com/course-lakehouse; "
        "course catalog crawler, obeys robots.txt)"
    }


def test_landing_files_are_complete_jsonl_in_the_crawl_date_partition(landing_dir, first_crawl):
    assert first_crawl.files, "no landing file written"
    for path in first_crawl.files + first_crawl.skipped_files:
        assert path.parent == landing_dir / f"crawl_date={CRAWL_DATE}"
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n")
        assert all(json.loads(line) for line in text.splitlines())
    assert all(re.fullmatch(r"catalog-\d{8}T\d{6}-\d{5}\.jsonl", p.name) for p in first_crawl.files)
    [skipped_file] = first_crawl.skipped_files
    assert re.fullmatch(r"_skipped-\d{8}T\d{6}\.jsonl", skipped_file.name)
    # ensure_ascii=False: non-ASCII text is stored as UTF-8, not \u escapes.
    assert "Université Lumière" in "".join(p.read_text(encoding="utf-8") for p in first_crawl.files)


def test_second_crawl_keeps_hashes_and_adds_files_without_replacing(
    landing_dir, first_crawl, second_crawl
):
    first = {r["course_code"]: r["content_hash"] for r in first_crawl.records}
    second = {r["course_code"]: r["content_hash"] for r in second_crawl.records}
    assert second == first
    # 4 records in batches of 3: two files, and the first crawl's file is untouched.
    assert len(second_crawl.files) == 2
    assert [len(p.read_text().splitlines()) for p in second_crawl.files] == [3, 1]
    assert all(path.exists() for path in first_crawl.files)
    assert not set(first_crawl.files) & set(second_crawl.files)
    # The sitemap lists a tracking-parameter variant of data-101: still fetched once.
    assert max(Counter(hit.path for hit in second_crawl.hits).values()) == 1
    assert "/sitemap.xml" in {hit.path for hit in second_crawl.hits}
    assert {(s["url"], s["reason"]) for s in second_crawl.skipped} == {
        (s["url"], s["reason"]) for s in first_crawl.skipped
    }


def test_no_temporary_files_remain(landing_dir, first_crawl, second_crawl):
    leftovers = [
        p
        for p in landing_dir.rglob("*")
        if p.name.startswith(("_", ".")) and not p.name.startswith("_skipped-")
    ]
    assert leftovers == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "LANDING_DIR={tmp}"], "catalog spider needs a start URL"),
        (["-a", "start_url=http://127.0.0.1:9/courses/page-1.html"], "LANDING_DIR is not set"),
        (
            [
                "-a",
                "start_url=http://127.0.0.1:9/",
                "-s",
                "LANDING_DIR={tmp}",
                "-s",
                "CRAWL_DATE=23.11.2026",
            ],
            "CRAWL_DATE must be YYYY-MM-DD",
        ),
        (
            ["-a", "site=nowhere", "-s", "LANDING_DIR={tmp}", "-s", "SITES_FILE={tmp}/s.yml"],
            "unknown site 'nowhere'",
        ),
    ],
)
def test_missing_or_bad_configuration_fails_clearly(tmp_path, args, message):
    (tmp_path / "s.yml").write_text("somewhere: {}\n", encoding="utf-8")
    args = [arg.format(tmp=tmp_path) for arg in args]
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "catalog", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "SCRAPY_SETTINGS_MODULE": "scrapers.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert message in proc.stderr
