"""The demo course-catalog website: static HTML with schema.org Course JSON-LD, and a local server.

The catalog spider depends on this layout:

- `index.html`: landing page linking to `courses/page-1.html`.
- `courses/page-N.html`: listing pages sorted by course code, each course an
  `li.course-card > a.course-link` (href `/courses/<code>.html`) plus `span.level`, with
  `a[rel=next]` / `a[rel=prev]` pagination.
- `courses/<code>.html`: one page per course (lower-case code), `h1.course-title`,
  `p.course-description`, and a schema.org Course as JSON-LD in the head.
- `sitemap.xml` (site-relative `<loc>`s, as the site does not know its host) and `robots.txt`.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import math
import pathlib
import re
import threading
from collections.abc import Iterator, Mapping
from xml.sax.saxutils import escape as xml_escape

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def render_site(courses: list, out_dir: pathlib.Path, page_size: int = 24) -> int:
    """Return the number of course pages written, after writing the whole site into out_dir."""
    if page_size < 1:
        raise ValueError(f"page_size must be positive, got {page_size}")
    ordered = sorted(courses, key=lambda c: c["code"])
    slugs = [_slug(c["code"]) for c in ordered]
    if len(set(slugs)) != len(slugs):
        raise ValueError("course codes must be unique, ignoring case")
    titles = {c["code"]: c["title"] for c in ordered}

    out_dir = pathlib.Path(out_dir)
    pages_dir = out_dir / "courses"
    pages_dir.mkdir(parents=True, exist_ok=True)
    # Pages of courses that are gone would otherwise stay reachable by URL.
    for stale in sorted(pages_dir.glob("*.html")):
        stale.unlink()

    _write(out_dir / "index.html", _index_page())
    page_count = max(1, math.ceil(len(ordered) / page_size))
    for number in range(1, page_count + 1):
        chunk = ordered[(number - 1) * page_size : number * page_size]
        _write(pages_dir / f"page-{number}.html", _listing_page(chunk, number, page_count))
    for course, slug in zip(ordered, slugs, strict=True):
        _write(pages_dir / f"{slug}.html", _course_page(course, titles))
    _write(out_dir / "sitemap.xml", _sitemap(ordered))
    _write(out_dir / "robots.txt", "User-agent: *\nAllow: /\n\nSitemap: /sitemap.xml\n")
    return len(ordered)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_site(directory: pathlib.Path, port: int = 0) -> Iterator[str]:
    """Yield the base URL of a local HTTP server for directory on 127.0.0.1:port (0: any free
    port), which stops when the block exits."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"not a directory: {directory}")
    handler = functools.partial(_QuietHandler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise OSError(
            f"cannot serve {directory} on 127.0.0.1:{port} ({exc.strerror}): another crawl or "
            "program uses the port; set sources.catalog.site_port to a free one"
        ) from exc
    thread = threading.Thread(target=server.serve_forever, name="catalog-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def course_jsonld(course: Mapping, titles: Mapping[str, str]) -> dict:
    """Return the schema.org Course object for a course; titles maps codes to prerequisite names."""
    prerequisites = []
    for code in course.get("prerequisites", []):
        entry = {"@type": "Course", "courseCode": code}
        if code in titles:
            entry["name"] = titles[code]
        prerequisites.append(entry)
    return {
        "@context": "https://schema.org",
        "@type": "Course",
        "name": course["title"],
        "courseCode": course["code"],
        "description": course["description"],
        "provider": {"@type": "Organization", "name": course["provider"]},
        "educationalLevel": course["level"],
        "teaches": list(course.get("skills", [])),
        "coursePrerequisites": prerequisites,
        "timeRequired": f"PT{int(course['duration_hours'])}H",
    }


def _slug(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError(f"course code not usable in a URL: {code!r}")
    return code.lower()


def _href(code: str) -> str:
    return f"/courses/{_slug(code)}.html"


def _write(path: pathlib.Path, text: str) -> None:
    # Bytes, so the output does not depend on the platform's newline or encoding defaults.
    path.write_bytes(text.encode("utf-8"))


def _document(title: str, body: str, head: str = "") -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"{head}"
        "</head>\n"
        "<body>\n"
        f"{body}"
        "</body>\n"
        "</html>\n"
    )


def _index_page() -> str:
    # A plain link rather than a meta refresh, so crawlers see this page and follow the link.
    return _document(
        "Course catalog",
        '<h1>Course catalog</h1>\n<p><a href="courses/page-1.html">Course catalog</a></p>\n',
    )


def _listing_page(courses: list, number: int, page_count: int) -> str:
    cards = "".join(
        f'<li class="course-card"><a class="course-link" href="{_href(c["code"])}">'
        f'{html.escape(c["title"])}</a> <span class="level">{html.escape(c["level"])}</span></li>\n'
        for c in courses
    )
    nav = []
    if number > 1:
        nav.append(
            f'<a rel="prev" class="prev" href="/courses/page-{number - 1}.html">Previous</a>'
        )
    nav.append(f'<span class="page-number">Page {number} of {page_count}</span>')
    if number < page_count:
        nav.append(f'<a rel="next" class="next" href="/courses/page-{number + 1}.html">Next</a>')
    body = (
        "<h1>Course catalog</h1>\n"
        f'<ul class="course-list">\n{cards}</ul>\n'
        f'<nav class="pagination">\n{chr(10).join(nav)}\n</nav>\n'
    )
    return _document(f"Course catalog, page {number} of {page_count}", body)


def _course_page(course: Mapping, titles: Mapping[str, str]) -> str:
    data = json.dumps(course_jsonld(course, titles), ensure_ascii=False, indent=2)
    # "</script>" inside a string would end the script element early, and "<!--" could make the
    # HTML parser skip our own "</script>"; the escaped forms decode to the same JSON strings.
    data = data.replace("</", "<\\/").replace("<!--", "<\\u0021--")
    head = f'<script type="application/ld+json">\n{data}\n</script>\n'
    esc = html.escape
    skills = "".join(f"<li>{esc(s)}</li>\n" for s in course.get("skills", []))
    prerequisites = "".join(
        f'<li><a class="prerequisite" href="{_href(code)}">{esc(titles[code])}</a></li>\n'
        if code in titles
        else f"<li>{esc(code)}</li>\n"
        for code in course.get("prerequisites", [])
    )
    body = (
        '<p><a class="catalog" href="/courses/page-1.html">Course catalog</a></p>\n'
        '<main class="course">\n'
        f'<h1 class="course-title">{esc(course["title"])}</h1>\n'
        f'<p class="course-description">{esc(course["description"])}</p>\n'
        '<dl class="course-facts">\n'
        f'<dt>Code</dt><dd class="course-code">{esc(course["code"])}</dd>\n'
        f'<dt>Provider</dt><dd class="provider">{esc(course["provider"])}</dd>\n'
        f'<dt>Category</dt><dd class="category">{esc(str(course.get("category", "")))}</dd>\n'
        f'<dt>Level</dt><dd class="level">{esc(course["level"])}</dd>\n'
        f'<dt>Duration</dt><dd class="duration">{int(course["duration_hours"])} hours</dd>\n'
        "</dl>\n"
        f'<h2>Skills</h2>\n<ul class="skills">\n{skills}</ul>\n'
        f'<h2>Prerequisites</h2>\n<ul class="prerequisites">\n{prerequisites}</ul>\n'
        "</main>\n"
    )
    return _document(course["title"], body, head)


def _sitemap(courses: list) -> str:
    entries = []
    for course in courses:
        lastmod = ""
        if course.get("updated_at"):
            lastmod = f"<lastmod>{xml_escape(str(course['updated_at'])[:10])}</lastmod>"
        entries.append(f"  <url><loc>{xml_escape(_href(course['code']))}</loc>{lastmod}</url>\n")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{''.join(entries)}"
        "</urlset>\n"
    )
