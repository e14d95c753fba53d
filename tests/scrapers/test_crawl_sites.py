"""Real crawls of configured sites: a sitemap-only site, and the demo site with `-a site=demo`."""

import gzip
import json

import pytest

from lakehouse.demo.catalog_site import render_site


def ld(data: dict) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def urlset(*locs: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "".join(f"<url><loc>{loc.replace('&', '&amp;')}</loc></url>\n" for loc in locs)
        + "</urlset>\n"
    )


# --------------------------------------------------------------------------- sitemap-only site


@pytest.fixture(scope="module")
def map_site(serve):
    server = serve({})
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        "<sitemap><loc>/maps/a.xml</loc></sitemap>\n"  # relative to the host
        "<sitemap><loc>maps/b.xml.gz</loc></sitemap>\n"  # relative to the index
        "</sitemapindex>\n"
    )
    a = urlset(
        "/catalog/course-1.html?utm_source=sitemap",
        "../catalog/course-2.html",  # resolves against /maps/a.xml
        "/about.html",  # not a course page by url_pattern: never fetched
    )
    b = urlset(
        f"{server.base}/catalog/course-3.html",
        "/catalog/course-1.html",  # listed twice: fetched once
        "/catalog/course-4.html",  # 404
    )
    course = '<html><head><meta charset="utf-8">{head}</head><body>{body}</body></html>'
    server.routes.update(
        {
            "/robots.txt": {"body": "User-agent: *\nAllow: /\n", "content_type": "text/plain"},
            "/sitemap_index.xml": {"body": index, "content_type": "application/xml"},
            "/maps/a.xml": {"body": a, "content_type": "application/xml"},
            "/maps/b.xml.gz": {
                "body": gzip.compress(b.encode("utf-8")),
                "content_type": "application/x-gzip",
            },
            "/catalog/course-1.html": {
                "body": course.format(
                    head=ld({"@type": "Course", "courseCode": "MAP-1", "name": "One"}), body=""
                )
            },
            "/catalog/course-2.html": {
                "body": course.format(
                    head="",
                    body='<p itemscope itemtype="https://schema.org/Course">'
                    '<b itemprop="name">Two</b> <i itemprop="courseCode">MAP-2</i></p>',
                )
            },
            "/catalog/course-3.html": {
                "body": course.format(
                    head=ld({"@graph": [{"@type": "Course", "courseCode": "MAP-3", "name": "3"}]}),
                    body="",
                )
            },
            "/about.html": {"body": course.format(head="", body="About")},
        }
    )
    return server


@pytest.fixture(scope="module")
def map_crawl(map_site, crawl, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("maponly")
    sites_file = tmp / "sites.yml"
    # No start_urls and no -a start_url: the sitemap index is the only way in.
    sites_file.write_text(
        "maponly:\n"
        f"  sitemap_url: {map_site.base}/sitemap_index.xml\n"
        "  url_pattern: /catalog/course-\\d+\\.html$\n",
        encoding="utf-8",
    )
    result = crawl(tmp / "landing", "-a", "site=maponly", "-s", f"SITES_FILE={sites_file}")
    assert result.returncode == 0, result.log
    return result


def test_sitemap_only_site_records(map_site, map_crawl, landing_record, comparable):
    base = map_site.base
    assert comparable(map_crawl.records) == [
        landing_record(f"{base}/catalog/course-1.html", "MAP-1", "One"),
        landing_record(f"{base}/catalog/course-2.html", "MAP-2", "Two", extraction="microdata"),
        landing_record(f"{base}/catalog/course-3.html", "MAP-3", "3"),
    ]


def test_sitemap_only_site_skips_and_fetches(map_site, map_crawl):
    assert [(s["url"], s["reason"], s["http_status"]) for s in map_crawl.skipped] == [
        (f"{map_site.base}/catalog/course-4.html", "http_404", 404)
    ]
    assert sorted(map_site.paths()) == sorted(
        [
            "/robots.txt",
            "/sitemap_index.xml",
            "/maps/a.xml",
            "/maps/b.xml.gz",
            "/catalog/course-1.html",
            "/catalog/course-2.html",
            "/catalog/course-3.html",
            "/catalog/course-4.html",
        ]
    )


# --------------------------------------------------------------------------- the demo site

DEMO_COURSES = [
    {
        "code": f"DEMO-{number}01",
        "title": f"Demo Course {number}",
        "description": f"Course number {number} of the demo.",
        "provider": "Université Lumière" if number % 2 else "Lakehouse Academy",
        "level": ["Beginner", "Intermediate", "Advanced"][number % 3],
        "skills": [f"Skill {number}", "SQL"],
        "prerequisites": [f"DEMO-{number - 1}01"] if number > 1 else [],
        "duration_hours": 4 * number,
    }
    for number in range(1, 6)
]


@pytest.fixture(scope="module")
def demo_site(serve, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-site")
    render_site(DEMO_COURSES, root, page_size=2)
    types = {".xml": "application/xml", ".txt": "text/plain"}
    return serve(
        {
            f"/{path.relative_to(root).as_posix()}": {
                "body": path.read_bytes(),
                "content_type": types.get(path.suffix, "text/html"),
            }
            for path in root.rglob("*")
            if path.is_file()
        }
    )


@pytest.fixture(scope="module")
def demo_crawl(demo_site, crawl, tmp_path_factory):
    # The command the rest of the project runs, plus -a site=demo (the repository's sites file):
    # the start URL completes the site, whose relative sitemap_url resolves against it.
    result = crawl(
        tmp_path_factory.mktemp("demo") / "landing",
        "-a",
        "site=demo",
        "-a",
        f"start_url={demo_site.base}/courses/page-1.html",
    )
    assert result.returncode == 0, result.log
    return result


def test_demo_site_records(demo_site, demo_crawl, landing_record, comparable):
    expected = [
        landing_record(
            f"{demo_site.base}/courses/{course['code'].lower()}.html",
            course["code"],
            course["title"],
            description=course["description"],
            provider=course["provider"],
            educational_level=course["level"],
            skills=course["skills"],
            prerequisites=course["prerequisites"],
            time_required=f"PT{course['duration_hours']}H",
            duration_hours=float(course["duration_hours"]),
        )
        for course in DEMO_COURSES
    ]
    assert comparable(demo_crawl.records) == expected
    for record in demo_crawl.records:
        served = demo_site.routes[record["url"].removeprefix(demo_site.base)]["body"]
        assert record["raw_html"] == served.decode("utf-8")
    assert demo_crawl.skipped == []
    assert demo_crawl.skipped_files == []  # the side file only exists when something is skipped


def test_demo_site_listing_and_sitemap_each_page_fetched_once(demo_site, demo_crawl):
    paths = demo_site.paths()
    assert sorted(paths) == sorted(
        ["/robots.txt", "/sitemap.xml"]
        + [f"/courses/page-{n}.html" for n in (1, 2, 3)]
        + [f"/courses/{course['code'].lower()}.html" for course in DEMO_COURSES]
    )
