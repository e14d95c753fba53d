# Scrapy settings for scrapers project
#
# For simplicity, this file contains only settings considered important or
# commonly used. You can find more settings consulting the documentation:
#
#     https://docs.scrapy.org/en/latest/topics/settings.html
#     https://docs.scrapy.org/en/latest/topics/downloader-middleware.html
#     https://docs.scrapy.org/en/latest/topics/spider-middleware.html

from pathlib import Path

BOT_NAME = "scrapers"

SPIDER_MODULES = ["scrapers.spiders"]
NEWSPIDER_MODULE = "scrapers.spiders"

ADDONS = {}


# Crawl responsibly by identifying yourself (and your website) on the user-agent:
# a product token robots.txt rules can name, a version, and where to read about the bot.
USER_AGENT = (
    "course-lakehouse-catalog-bot/0.2 (+https://github.com/course-lakehouse; "
    "course catalog crawler, obeys robots.txt)"
)

# Obey robots.txt rules
ROBOTSTXT_OBEY = True

# Concurrency and throttling settings
# AutoThrottle never goes below DOWNLOAD_DELAY, so the template's fixed 1 s delay
# is dropped and AutoThrottle alone adapts the pace to the server's latency.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0

# Disable cookies (enabled by default)
# The catalog is public; cookies would only make runs depend on server-side session state.
COOKIES_ENABLED = False

# Disable Telnet Console (enabled by default)
# Batch crawls are never inspected interactively, so there is no reason to open a port.
TELNETCONSOLE_ENABLED = False
# Same reasoning for the remote-control HTTP server that Scrapy >= 2.19 starts by default.
REMOTE_CONTROL_ENABLED = False

# Override the default request headers:
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
}

# Enable or disable spider middlewares
# See https://docs.scrapy.org/en/latest/topics/spider-middleware.html
# SPIDER_MIDDLEWARES = {}

# Enable or disable downloader middlewares
# See https://docs.scrapy.org/en/latest/topics/downloader-middleware.html
# Scrapy's RetryMiddleware retries at once; ours (same slot) waits with exponential backoff.
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
}

# Retry transient failures; 429 is included because throttled catalogs recover after a pause.
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
# Retry n waits RETRY_BACKOFF_BASE * 2**(n-1) s, at most RETRY_BACKOFF_MAX (also the cap on
# a server's Retry-After): 1 s then 2 s with the defaults.
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 60.0
# A page given up on is recorded as skipped (http_<status>, timeout...), not a crawl error.
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
# Per site: download_timeout in conf/sources/catalog_sites.yml.
DOWNLOAD_TIMEOUT = 30

# Pages skipped (with a reason) go to crawler stats and LANDING_DIR/crawl_date=.../_skipped-*.jsonl.
EXTENSIONS = {
    "scrapers.skipped.SkippedPagesLog": 500,
}

# Per-site crawl configuration for -a site=NAME (see the file's header).
SITES_FILE = str(Path(__file__).resolve().parent.parent / "conf" / "sources" / "catalog_sites.yml")

# Configure item pipelines
# See https://docs.scrapy.org/en/latest/topics/item-pipeline.html
ITEM_PIPELINES = {
    "scrapers.pipelines.JsonLinesLandingPipeline": 300,
}

# Landing zone written by JsonLinesLandingPipeline.
# LANDING_DIR has no default on purpose: every run must say where its data goes
# (-s LANDING_DIR=/abs/path/landing/catalog). CRAWL_DATE (YYYY-MM-DD) names the
# crawl_date= partition and defaults to today's UTC date.
LANDING_DIR = None
CRAWL_DATE = None
LANDING_BATCH_SIZE = 500

# Enable and configure the AutoThrottle extension (disabled by default)
# See https://docs.scrapy.org/en/latest/topics/autothrottle.html
AUTOTHROTTLE_ENABLED = True
# The initial download delay
AUTOTHROTTLE_START_DELAY = 0.1
# The maximum download delay to be set in case of high latencies
AUTOTHROTTLE_MAX_DELAY = 10
# The average number of requests Scrapy should be sending in parallel to
# each remote server
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
# Enable showing throttling stats for every response received:
AUTOTHROTTLE_DEBUG = False

# Enable and configure HTTP caching (disabled by default)
# See https://docs.scrapy.org/en/latest/topics/downloader-middleware.html#httpcache-middleware-settings
# HTTPCACHE_ENABLED = True
# HTTPCACHE_EXPIRATION_SECS = 0
# HTTPCACHE_DIR = "httpcache"
# HTTPCACHE_IGNORE_HTTP_CODES = []
# HTTPCACHE_STORAGE = "scrapy.extensions.httpcache.FilesystemCacheStorage"

# Pinned explicitly (it is also the default since Scrapy 2.13) so the reactor does not
# change under us with a Scrapy upgrade. REQUEST_FINGERPRINTER_IMPLEMENTATION is not
# set: since Scrapy 2.12 the "2.7" fingerprinter is the only one (pyproject pins >= 2.13).
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Set settings whose default value is deprecated to a future-proof value
FEED_EXPORT_ENCODING = "utf-8"

LOG_LEVEL = "INFO"
