"""Catalog spider: pure extraction functions, then real crawls of a local fixture site."""

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scrapers.spiders.catalog import (
    canonicalize_url,
    clean_text,
    course_record,
    extract_course_nodes,
    parse_duration_hours,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CRAWL_DATE = "2026-11-23"

# --------------------------------------------------------------------------- pure functions


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
        ("12 hours", None),
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


def build_site(root: Path, port: int) -> None:
    """Write the fixture site (2 listings, 5 linked course pages, 2 decoys); returns None."""
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
    for relative, content in pages.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


HASHED_FIELDS = [
    "course_code",
    "name",
    "description",
    "provider",
    "educational_level",
    "skills",
    "prerequisites",
    "time_required",
    "duration_hours",
]


def with_hash(record: dict) -> dict:
    """Return the record plus its content_hash, computed independently of the scraper code."""
    payload = json.dumps(
        {key: record[key] for key in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return {**record, "content_hash": hashlib.sha256(payload.encode("utf-8")).hexdigest()}


def expected_records(base: str) -> list[dict]:
    """Return the landing records (minus fetched_at) the fixture site must produce."""
    records = [
        {
            "url": f"{base}/courses/data-101.html",
            "course_code": "DATA-101",
            "name": "Intro to Data",
            "description": "Foundations of working with data.",
            "provider": "Université Lumière",
            "educational_level": "Beginner",
            "skills": ["Spreadsheets", "Descriptive statistics"],
            "prerequisites": [],
            "time_required": "PT1H30M",
            "duration_hours": 1.5,
        },
        {
            "url": f"{base}/courses/data-201.html",
            "course_code": "DATA-201",
            "name": "Data Modeling",
            "description": "Model data with SQL.",
            "provider": "Lakehouse Academy",
            "educational_level": "Intermediate",
            "skills": ["SQL", "Data modeling"],
            "prerequisites": ["DATA-101"],
            "time_required": "PT12H",
            "duration_hours": 12.0,
        },
        {
            "url": f"{base}/courses/data-301.html",
            "course_code": "DATA-301",
            "name": "Streaming Pipelines",
            "description": None,
            "provider": "Lakehouse Academy",
            "educational_level": "Advanced",
            "skills": ["Structured Streaming"],
            "prerequisites": ["DATA-201", "Python Basics", "Linux shell"],
            "time_required": "P1D",
            "duration_hours": 24.0,
        },
        {
            "url": f"{base}/courses/data-401.html",
            "course_code": "DATA-401",
            "name": "Spark & Delta Lake",
            "description": "Learn Spark & Delta Lake. Build a lakehouse…",
            "provider": "Lakehouse Academy",
            "educational_level": "Intermediate",
            "skills": ["Apache Spark", "Delta Lake"],
            "prerequisites": ["DATA-201"],
            "time_required": "PT45M",
            "duration_hours": 0.75,
        },
    ]
    return [{**with_hash(record), "http_status": 200, "spider": "catalog"} for record in records]


@dataclass
class Site:
    root: Path
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    requests: list[tuple[str, str]] = []

    class RecordingHandler(SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append((self.path, self.headers.get("Host", "")))
            super().do_GET()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RecordingHandler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    build_site(root, port)
    try:
        yield Site(root=root, port=port, requests=requests)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Crawl:
    returncode: int
    log: str
    requests: list[tuple[str, str]]
    files: list[Path]


def run_crawl(site: Site, landing_dir: Path, *args: str) -> Crawl:
    """Return the outcome of one real `scrapy crawl catalog` subprocess against the site."""
    before = set(landing_dir.rglob("*")) if landing_dir.exists() else set()
    site.requests.clear()
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "scrapers.settings"}
    # A subprocess because the Twisted reactor cannot be restarted within one process;
    # cwd is the repo root so `scrapers` imports even before the editable install.
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "catalog"]
        + ["-a", f"start_url={site.base}/courses/page-1.html"]
        + ["-s", f"LANDING_DIR={landing_dir}", "-s", f"CRAWL_DATE={CRAWL_DATE}"]
        + list(args),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    after = set(landing_dir.rglob("*")) if landing_dir.exists() else set()
    files = sorted(path for path in after - before if path.is_file())
    return Crawl(proc.returncode, proc.stderr + proc.stdout, list(site.requests), files)


def read_records(files: list[Path]) -> list[dict]:
    """Return every JSON object in the given JSON Lines files."""
    return [
        json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()
    ]


@pytest.fixture(scope="module")
def landing_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("landing") / "catalog"


@pytest.fixture(scope="module")
def first_crawl(site, landing_dir) -> Crawl:
    crawl = run_crawl(site, landing_dir)
    assert crawl.returncode == 0, crawl.log
    return crawl


@pytest.fixture(scope="module")
def second_crawl(site, landing_dir, first_crawl) -> Crawl:
    # Same landing dir, via the sitemap too, and tiny batches: it must add new files
    # next to the first crawl's without replacing them.
    crawl = run_crawl(
        site,
        landing_dir,
        "-a",
        f"sitemap_url={site.base}/sitemap.xml",
        "-s",
        "LANDING_BATCH_SIZE=3",
    )
    assert crawl.returncode == 0, crawl.log
    return crawl


def without_fetched_at(records: list[dict]) -> list[dict]:
    """Return the records without fetched_at, sorted by course_code."""
    return sorted(
        ({k: v for k, v in record.items() if k != "fetched_at"} for record in records),
        key=lambda record: record["course_code"],
    )


# --------------------------------------------------------------------------- crawl tests

EXPECTED_KEYS = [
    "url",
    "course_code",
    "name",
    "description",
    "provider",
    "educational_level",
    "skills",
    "prerequisites",
    "time_required",
    "duration_hours",
    "http_status",
    "fetched_at",
    "content_hash",
    "spider",
]


def test_crawl_lands_exactly_the_expected_records(site, first_crawl):
    records = read_records(first_crawl.files)
    assert without_fetched_at(records) == expected_records(site.base)
    assert all(list(record) == EXPECTED_KEYS for record in records)


def test_fetched_at_is_utc_iso8601(first_crawl):
    for record in read_records(first_crawl.files):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["fetched_at"])


def test_page_without_course_jsonld_is_skipped_with_reason(site, first_crawl):
    assert (
        f"Skipped {site.base}/courses/data-999.html: no schema.org Course JSON-LD"
        in first_crawl.log
    )
    assert "'catalog/skipped/no_course_jsonld': 1" in first_crawl.log


def test_invalid_jsonld_block_is_logged(site, first_crawl):
    assert re.search(
        rf"Ignored a JSON-LD block on {re.escape(site.base)}/courses/data-301.html: "
        r"ld\+json block 1 is not valid JSON",
        first_crawl.log,
    )


def test_nothing_fetched_twice_and_crawl_stays_on_site(site, first_crawl):
    paths = Counter(path for path, _host in first_crawl.requests)
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
    assert {host for _path, host in first_crawl.requests} == {f"127.0.0.1:{site.port}"}


def test_landing_files_are_complete_jsonl_in_the_crawl_date_partition(landing_dir, first_crawl):
    assert first_crawl.files, "no landing file written"
    for path in first_crawl.files:
        assert path.parent == landing_dir / f"crawl_date={CRAWL_DATE}"
        assert re.fullmatch(r"catalog-\d{8}T\d{6}-\d{5}\.jsonl", path.name)
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n")
        assert all(json.loads(line) for line in text.splitlines())
    # ensure_ascii=False: non-ASCII text is stored as UTF-8, not \u escapes.
    assert "Université Lumière" in "".join(p.read_text(encoding="utf-8") for p in first_crawl.files)


def test_second_crawl_keeps_hashes_and_adds_files_without_replacing(
    landing_dir, first_crawl, second_crawl
):
    first = {r["course_code"]: r["content_hash"] for r in read_records(first_crawl.files)}
    second = {r["course_code"]: r["content_hash"] for r in read_records(second_crawl.files)}
    assert second == first
    # 4 records in batches of 3: two files, and the first crawl's file is untouched.
    assert len(second_crawl.files) == 2
    assert [len(p.read_text().splitlines()) for p in second_crawl.files] == [3, 1]
    assert all(path.exists() for path in first_crawl.files)
    assert not set(first_crawl.files) & set(second_crawl.files)
    # The sitemap lists a tracking-parameter variant of data-101: still fetched once.
    assert max(Counter(path for path, _host in second_crawl.requests).values()) == 1
    assert "/sitemap.xml" in {path for path, _host in second_crawl.requests}


def test_no_temporary_files_remain(landing_dir, first_crawl, second_crawl):
    leftovers = [p for p in landing_dir.rglob("*") if p.name.startswith(("_", "."))]
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
    ],
)
def test_missing_or_bad_configuration_fails_clearly(tmp_path, args, message):
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
