"""The generic course-catalog spider: listings and/or sitemaps in, one CourseItem per course out.

    scrapy crawl catalog -a start_url=https://host/courses/page-1.html     # generic defaults
    scrapy crawl catalog -a site=NAME [-a start_url=...] [-a sitemap_url=...]

With -a site=NAME the site's entry in SITES_FILE (conf/sources/catalog_sites.yml) gives
start URLs, sitemap, allowed domains, url_pattern, download_timeout and CSS selectors;
-a start_url / -a sitemap_url given on the command line replace the site's own. Without a
site the spider follows `a.course-link` and `a[rel~=next]` from the start URL and has no CSS
fallback. Extraction lives in scrapers.extraction, skip recording in scrapers.skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import scrapy
import scrapy.exceptions
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap
from twisted.internet import error as twisted_error
from twisted.python.failure import Failure

from scrapers.extraction import (
    DEFAULT_PORTS,
    canonicalize_url,
    course_record,
    css_course_record,
    extract_course_nodes,
    extract_microdata_courses,
    parse_html,
    utc_timestamp,
)
from scrapers.items import CourseItem, compute_content_hash
from scrapers.sites import GENERIC_SITE, SiteConfig, load_site
from scrapers.skipped import report_skip


def _exception_types(module, *names: str) -> tuple[type[BaseException], ...]:
    # getattr: Scrapy grew its own download exceptions over 2.13..2.19 (pyproject allows both).
    return tuple(getattr(module, name) for name in names if hasattr(module, name))


TIMEOUT_ERRORS = _exception_types(scrapy.exceptions, "DownloadTimeoutError") + (
    twisted_error.TimeoutError,
)
CONNECTION_ERRORS = _exception_types(
    scrapy.exceptions, "DownloadConnectionRefusedError", "CannotResolveHostError"
) + (
    twisted_error.ConnectError,
    twisted_error.DNSLookupError,
    twisted_error.ConnectionLost,
    twisted_error.ConnectionDone,
)

NEEDS_START_URL = (
    "catalog spider needs a start URL: "
    "scrapy crawl catalog -a start_url=https://host/courses/page-1.html "
    "(or -a sitemap_url=..., or -a site=NAME with start_urls or sitemap_url in its sites file)"
)


def skip_reason(failure: Failure) -> tuple[str, int | None]:
    """Return the skip reason and HTTP status (or None) of a failed request."""
    if failure.check(HttpError):
        status = failure.value.response.status
        return f"http_{status}", status
    if failure.check(*TIMEOUT_ERRORS):
        return "timeout", None
    if failure.check(IgnoreRequest):
        message = str(failure.value)
        # Scrapy's RobotsTxtMiddleware and OffsiteMiddleware only differ by their message.
        if "robots.txt" in message:
            return "robots_txt", None
        if "offsite" in message.lower():
            return "offsite", None
        return "ignored", None
    if failure.check(*CONNECTION_ERRORS):
        return "connection_error", None
    return "download_error", None


def host_allowed(url: str, domains: list[str] | tuple[str, ...]) -> bool:
    """Return whether url's host is one of domains or a subdomain of one (any port)."""
    # Like Scrapy's OffsiteMiddleware; scrapy.utils.url.url_is_from_any_domain compares the
    # netloc, so it rejects 127.0.0.1:8000 for the domain 127.0.0.1.
    host = (urlsplit(url).hostname or "").lower()
    return bool(host) and any(
        host == domain or host.endswith(f".{domain}")
        for domain in (d.lower().partition(":")[0] for d in domains)
    )


def sitemaps_in_robots(text: str) -> list[str]:
    """Return the (possibly relative) URLs of a robots.txt's Sitemap: lines."""
    return [
        line.partition(":")[2].strip()
        for line in text.splitlines()
        if line.strip().lower().startswith("sitemap:") and line.partition(":")[2].strip()
    ]


class CatalogSpider(scrapy.Spider):
    name = "catalog"

    def __init__(
        self,
        start_url: str | None = None,
        sitemap_url: str | None = None,
        site: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.start_url_arg = start_url
        self.sitemap_url_arg = sitemap_url
        self.site_name = site
        self.site: SiteConfig = GENERIC_SITE
        self.start_urls: list[str] = []
        self.sitemap_urls: list[str] = []
        self.allowed_domains: list[str] = []

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        """Return the spider, configured from its arguments and, with -a site, SITES_FILE."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.configure(crawler.settings.get("SITES_FILE"))
        crawler.signals.connect(spider.on_request_scheduled, signal=signals.request_scheduled)
        return spider

    def configure(self, sites_file: str | None) -> None:
        """Resolve the site, start URLs, sitemaps and allowed domains; ValueError if unusable."""
        self.site = load_site(self.site_name, sites_file) if self.site_name else GENERIC_SITE
        # Command-line URLs replace the site's: the demo site's host and port are only known
        # at run time, and a one-off crawl of a known site may start somewhere else.
        starts = [self.start_url_arg] if self.start_url_arg else list(self.site.start_urls)
        sitemaps = [self.sitemap_url_arg] if self.sitemap_url_arg else list(self.site.sitemap_urls)
        if not starts and not sitemaps:
            raise ValueError(NEEDS_START_URL)
        self.start_urls = [self._absolute(url, None, "start_url") for url in starts]
        base = self.start_urls[0] if self.start_urls else None
        self.sitemap_urls = [self._absolute(url, base, "sitemap_url") for url in sitemaps]
        domains = list(self.site.allowed_domains)
        # The hosts the crawl starts from are always allowed (allowed_domains "completes" them).
        for url in self.start_urls + self.sitemap_urls:
            host = urlsplit(url).hostname
            if host and not host_allowed(url, domains):
                domains.append(host)
        # allowed_domains also lets Scrapy's offsite middleware catch redirects off the site.
        self.allowed_domains = domains

    @staticmethod
    def _absolute(url: str, base: str | None, what: str) -> str:
        try:
            canonical = canonicalize_url(url, base)
            parts = urlsplit(canonical)
            valid = parts.scheme in DEFAULT_PORTS and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            relative = what == "sitemap_url" and not base
            hint = " (a relative one needs a start URL to resolve against)" if relative else ""
            raise ValueError(f"{what} must be an absolute http(s) URL{hint}, got {url!r}")
        return canonical

    def _request(self, url: str, callback: Callable) -> scrapy.Request:
        meta = {}
        if self.site.download_timeout:
            # Per-site override of DOWNLOAD_TIMEOUT (DownloadTimeoutMiddleware keeps it).
            meta["download_timeout"] = self.site.download_timeout
        return scrapy.Request(url, callback=callback, errback=self.on_error, meta=meta)

    async def start(self):
        """Yield the requests for the start listing pages and the sitemaps."""
        for url in self.start_urls:
            yield self._request(url, self.parse_listing)
        for url in self.sitemap_urls:
            yield self._request(url, self.parse_sitemap)

    def _inc(self, key: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"catalog/{key}", count)

    def skip(self, url: str, reason: str, http_status: int | None = None, detail: str = ""):
        """Record url as skipped for reason (stats, log, _skipped file); returns None."""
        report_skip(self.crawler, url, reason, http_status, detail)

    def on_error(self, failure: Failure) -> None:
        """Errback of every request: record the URL as skipped with the failure's reason."""
        reason, status = skip_reason(failure)
        detail = f"{type(failure.value).__name__}: {failure.value}"
        self.skip(canonicalize_url(failure.request.url), reason, status, detail)

    def on_request_scheduled(self, request: scrapy.Request) -> None:
        """Record a request leaving the site, which Scrapy drops silently (returns None)."""
        # Our own links are checked in _follow, so this only sees redirects off the site:
        # Scrapy's OffsiteMiddleware drops those on this same signal, without any errback.
        if request.dont_filter or request.meta.get("allow_offsite"):
            return
        if not host_allowed(request.url, self.allowed_domains):
            self.skip(canonicalize_url(request.url), "offsite", None, "redirected off the site")

    def _follow(
        self, response: Response, href: str, callback: Callable, course: bool = False
    ) -> scrapy.Request | None:
        """Return a request for the canonical form of href, or None when it is not followed."""
        try:
            url = canonicalize_url(response.urljoin(href))
            parts = urlsplit(url)
        except ValueError:  # e.g. a non-numeric port; one bad link must not lose the page
            self._inc("bad_links")
            self.logger.debug("Not following malformed link %r on %s", href, response.url)
            return None
        if parts.scheme not in DEFAULT_PORTS:
            return None
        if not host_allowed(url, self.allowed_domains):
            self.skip(url, "offsite", None, f"outside {', '.join(self.allowed_domains)}")
            return None
        pattern = self.site.url_pattern
        if course and pattern is not None and not pattern.search(url):
            self._inc("filtered/url_pattern")
            self.logger.debug("Not following %s: does not match url_pattern", url)
            return None
        return self._request(url, callback)

    def _hrefs(self, response: TextResponse, query: str) -> Iterator[str]:
        """Yield the link targets a selector picks: href of elements, or ::attr()/::text values."""
        for match in response.css(query):
            href = match.root if isinstance(match.root, str) else match.attrib.get("href")
            if href and href.strip():
                yield href

    def parse(self, response: Response, **kwargs):
        """Yield requests or items for a page of unknown kind by sniffing its markup."""
        if isinstance(response, TextResponse) and response.css(self.site.course_link):
            yield from self.parse_listing(response)
        else:
            yield from self.parse_course(response)

    def parse_listing(self, response: Response):
        """Yield requests for the course pages and the next listing page linked from a listing."""
        if not isinstance(response, TextResponse):
            self.skip(canonicalize_url(response.url), "not_text", response.status)
            return
        self._inc("listing_pages")
        for href in self._hrefs(response, self.site.course_link):
            request = self._follow(response, href, self.parse_course, course=True)
            if request is not None:
                yield request
        for href in self._hrefs(response, self.site.next_page):
            request = self._follow(response, href, self.parse_listing)
            if request is not None:
                yield request

    def _sitemap_body(self, response: Response) -> bytes:
        if gzip_magic_number(response):
            return gunzip(response.body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
        return response.body

    def parse_sitemap(self, response: Response):
        """Yield requests for the pages (or sitemaps) a sitemap, index or robots.txt lists."""
        url = canonicalize_url(response.url)
        self._inc("sitemaps")
        if urlsplit(url).path.endswith("/robots.txt"):
            for loc in sitemaps_in_robots(response.text):
                request = self._follow(response, loc, self.parse_sitemap)
                if request is not None:
                    yield request
            return
        try:
            sitemap = Sitemap(self._sitemap_body(response))
            entries = list(sitemap)
        except Exception as exc:  # lxml and gunzip raise several types for hopeless documents
            self.skip(url, "invalid_sitemap", response.status, str(exc))
            return
        if sitemap.type not in ("urlset", "sitemapindex"):
            self.skip(url, "invalid_sitemap", response.status, f"root element {sitemap.type!r}")
            return
        for entry in entries:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                request = self._follow(response, loc, self.parse_sitemap)
            elif self.site.url_pattern is not None:
                # The pattern says which pages are courses; others are not fetched at all.
                request = self._follow(response, loc, self.parse_course, course=True)
            else:
                request = self._follow(response, loc, self.parse)
            if request is not None:
                yield request

    def parse_course(self, response: Response):
        """Yield one CourseItem per Course found by JSON-LD, else microdata, else CSS selectors."""
        url = canonicalize_url(response.url)
        if not isinstance(response, TextResponse):
            self.skip(url, "not_text", response.status, "not a text response")
            return
        soup = parse_html(response.text)
        nodes, problems = extract_course_nodes(soup)
        for reason, detail in problems:
            self._inc(f"jsonld/{reason}")
            self.logger.warning("Ignored a JSON-LD block on %s: %s (%s)", url, detail, reason)
        extraction, records = "jsonld", [course_record(node) for node in nodes]
        if not records:
            extraction = "microdata"
            records = [course_record(item) for item in extract_microdata_courses(soup)]
        if not records and self.site.field_selectors:
            extraction = "css"
            record = css_course_record(response.selector, self.site.field_selectors)
            records = [record] if record else []
        if not records:
            methods = "JSON-LD, microdata" + (" or CSS" if self.site.field_selectors else "")
            self.skip(url, "no_course", response.status, f"no schema.org Course by {methods}")
            return
        fetched_at = utc_timestamp()
        for record in records:
            self._inc("courses")
            self._inc(f"extraction/{extraction}")
            yield CourseItem(
                url=url,
                **record,
                http_status=response.status,
                fetched_at=fetched_at,
                content_hash=compute_content_hash(record),
                spider=self.name,
                extraction=extraction,
                encoding=response.encoding,
                raw_html=response.text,
            )
