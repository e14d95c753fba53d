import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from lakehouse.demo.catalog_site import render_site, serve_site


def course(code, title, level="Beginner", prerequisites=(), **extra):
    return {
        "code": code,
        "title": title,
        "provider": "Northwind Academy",
        "category": "Data",
        "level": level,
        "duration_hours": 6,
        "updated_at": "2024-02-03 10:00:00",
        "description": f"{title} covers SQL and Data modeling. You practise on real tables.",
        "skills": ["SQL", "Data modeling"],
        "prerequisites": list(prerequisites),
        **extra,
    }


TRICKY_TITLE = 'Tags <b>&"quotes"'
COURSES = [
    course("DATA-301", "Advanced SQL", "Advanced", ["DATA-201", "DATA-101"]),
    course("DATA-101", "Introduction to SQL"),
    course("SEC-101", TRICKY_TITLE, description="Ends a script? </script><!--<script> no."),
    course("DATA-201", "Applied SQL", "Intermediate", ["DATA-101"]),
    course("CLOUD-101", "Cloud Basics", skills=["Cloud computing", "Networking", "Docker"]),
]
CODES = sorted(c["code"] for c in COURSES)


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.anchors = []  # (attributes, text)
        self._open = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._open = (dict(attrs), [])

    def handle_data(self, data):
        if self._open:
            self._open[1].append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._open:
            self.anchors.append((self._open[0], "".join(self._open[1])))
            self._open = None


def anchors(page):
    parser = Anchors()
    parser.feed(page)
    return parser.anchors


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode("utf-8")


def jsonld(page):
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert len(blocks) == 1
    assert page.index(blocks[0]) < page.index("</head>")
    return json.loads(blocks[0])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("site")
    assert render_site(COURSES, out_dir, page_size=2) == len(COURSES)
    with serve_site(out_dir) as base_url:
        yield base_url


def test_index_links_to_the_first_listing_page(site):
    assert site.startswith("http://127.0.0.1:") and site.endswith("/")
    assert '<a href="courses/page-1.html">Course catalog</a>' in fetch(site)
    assert fetch(site + "index.html") == fetch(site)


def test_listing_pages_are_sorted_and_paginated(site):
    pages = [fetch(f"{site}courses/page-{n}.html") for n in (1, 2, 3)]
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(site + "courses/page-4.html")
    assert missing.value.code == 404

    def links(page, rel):
        return [a["href"] for a, _ in anchors(page) if a.get("rel") == rel]

    assert [links(p, "prev") for p in pages] == [
        [],
        ["/courses/page-1.html"],
        ["/courses/page-2.html"],
    ]
    assert [links(p, "next") for p in pages] == [
        ["/courses/page-2.html"],
        ["/courses/page-3.html"],
        [],
    ]
    assert '<a rel="next" class="next" href="/courses/page-2.html">Next</a>' in pages[0]
    listed = [[a["href"] for a, _ in anchors(p) if a.get("class") == "course-link"] for p in pages]
    assert listed == [
        ["/courses/cloud-101.html", "/courses/data-101.html"],
        ["/courses/data-201.html", "/courses/data-301.html"],
        ["/courses/sec-101.html"],
    ]
    assert (
        '<ul class="course-list">\n<li class="course-card"><a class="course-link" '
        'href="/courses/data-201.html">Applied SQL</a> <span class="level">Intermediate</span>'
        "</li>\n"
    ) in pages[1]


def test_every_course_page_is_linked_from_exactly_one_listing_page(site):
    hrefs = [
        a["href"]
        for n in (1, 2, 3)
        for a, _ in anchors(fetch(f"{site}courses/page-{n}.html"))
        if a.get("class") == "course-link"
    ]
    assert sorted(hrefs) == [f"/courses/{code.lower()}.html" for code in CODES]
    for href in hrefs:
        assert "course-title" in fetch(site + href.lstrip("/"))


def test_course_pages_carry_schema_org_course_jsonld(site):
    page = fetch(site + "courses/data-301.html")
    assert jsonld(page) == {
        "@context": "https://schema.org",
        "@type": "Course",
        "name": "Advanced SQL",
        "courseCode": "DATA-301",
        "description": "Advanced SQL covers SQL and Data modeling. You practise on real tables.",
        "provider": {"@type": "Organization", "name": "Northwind Academy"},
        "educationalLevel": "Advanced",
        "teaches": ["SQL", "Data modeling"],
        "coursePrerequisites": [
            {"@type": "Course", "courseCode": "DATA-201", "name": "Applied SQL"},
            {"@type": "Course", "courseCode": "DATA-101", "name": "Introduction to SQL"},
        ],
        "timeRequired": "PT6H",
    }
    assert '<h1 class="course-title">Advanced SQL</h1>' in page
    cloud = jsonld(fetch(site + "courses/cloud-101.html"))
    assert cloud["coursePrerequisites"] == []
    assert cloud["teaches"] == ["Cloud computing", "Networking", "Docker"]
    assert {jsonld(fetch(f"{site}courses/{c.lower()}.html"))["courseCode"] for c in CODES} == set(
        CODES
    )


def test_sitemap_lists_every_course_page_and_robots_allows_all(site):
    root = ET.fromstring(fetch(site + "sitemap.xml"))
    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [loc.text for loc in root.findall("sm:url/sm:loc", ns)]
    assert locs == [f"/courses/{code.lower()}.html" for code in CODES]
    robots = fetch(site + "robots.txt")
    assert "User-agent: *\nAllow: /\n" in robots and "Disallow: /" not in robots


def test_text_is_escaped_in_html_and_kept_intact_in_jsonld(site):
    page = fetch(site + "courses/sec-101.html")
    escaped = "Tags &lt;b&gt;&amp;&quot;quotes&quot;"
    assert f'<h1 class="course-title">{escaped}</h1>' in page
    assert f"<title>{escaped}</title>" in page
    body = page[page.index("<body>") :]
    assert "<b>" not in body
    assert "Ends a script? &lt;/script&gt;&lt;!--&lt;script&gt; no." in body
    head = page[: page.index("</head>")]
    assert head.count("</script>") == 1 and "<!--" not in head
    data = jsonld(page)
    assert data["name"] == TRICKY_TITLE
    assert data["description"] == "Ends a script? </script><!--<script> no."
    listing = fetch(site + "courses/page-3.html")
    assert f'href="/courses/sec-101.html">{escaped}</a>' in listing


def test_rendering_is_deterministic_and_drops_stale_pages(tmp_path):
    render_site(COURSES, tmp_path / "a", page_size=2)
    render_site(list(reversed(COURSES)), tmp_path / "b", page_size=2)
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == len(COURSES) + 3 + 3  # course pages, listing pages, index/sitemap/robots
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert render_site(COURSES[:2], tmp_path / "a", page_size=24) == 2
    assert sorted(p.name for p in (tmp_path / "a" / "courses").iterdir()) == [
        "data-101.html",
        "data-301.html",
        "page-1.html",
    ]


def test_bad_codes_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        render_site([course("../evil", "Evil")], tmp_path)
    with pytest.raises(ValueError):
        render_site([course("DATA-101", "A"), course("data-101", "B")], tmp_path)


def test_the_server_stops_when_the_block_exits(tmp_path):
    render_site(COURSES, tmp_path)
    with serve_site(tmp_path) as base_url:
        assert "Course catalog" in fetch(base_url)
    with pytest.raises(urllib.error.URLError):
        fetch(base_url)
