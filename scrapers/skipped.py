"""Pages the crawl skipped, with a reason: crawler stats plus a side file next to the landing.

Anything may report a skip by sending the `page_skipped` signal (see `report_skip`); items
dropped by the landing pipeline are picked up from Scrapy's item_dropped signal, their
reason being the DropItem subclass's `reason`. `SkippedPagesLog` (an extension) then

- counts each distinct (url, reason) once in the stat ``catalog/skipped/<reason>``;
- logs it at INFO;
- appends one JSON line ``{"url", "reason", "http_status", "fetched_at"}`` to
  ``LANDING_DIR/crawl_date=<date>/_skipped-<UTC yyyymmddThhmmss>.jsonl``. The leading
  underscore keeps Spark readers of the landing zone away from it; the file is created
  only when something is skipped.

Reasons: ``http_<status>`` (an error status, after any retries), ``timeout``,
``connection_error``, ``download_error``, ``robots_txt``, ``offsite``, ``no_course`` (no
Course by any extraction method), ``not_text``, ``invalid_sitemap``, ``invalid_record``
(course_code or name missing), ``duplicate`` (course_code already landed this crawl).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from itemadapter import ItemAdapter
from scrapy import signals

from scrapers.extraction import utc_timestamp
from scrapers.pipelines import landing_partition

logger = logging.getLogger(__name__)

# Sent with url, reason, http_status (int or None) and detail (free text for the log).
page_skipped = object()


def report_skip(
    crawler, url: str, reason: str, http_status: int | None = None, detail: str = ""
) -> None:
    """Send the page_skipped signal for url (returns None)."""
    crawler.signals.send_catch_log(
        signal=page_skipped, url=url, reason=reason, http_status=http_status, detail=detail
    )


class SkippedPagesLog:
    def __init__(self, landing_dir: str, crawl_date: str, stats=None):
        self.partition_dir = Path(landing_dir) / f"crawl_date={crawl_date}"
        self.stats = stats
        self.run_stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.seen: set[tuple[str, str]] = set()
        self.handle = None
        self.path: Path | None = None

    @classmethod
    def from_crawler(cls, crawler):
        """Return the extension, connected to the page_skipped and item_dropped signals."""
        landing_dir, crawl_date = landing_partition(crawler.settings)
        extension = cls(landing_dir, crawl_date, crawler.stats)
        crawler.signals.connect(extension.page_skipped, signal=page_skipped)
        crawler.signals.connect(extension.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def page_skipped(
        self, url: str, reason: str, http_status: int | None = None, detail: str = ""
    ) -> None:
        """Count, log and write one skipped page unless (url, reason) was recorded already."""
        if (url, reason) in self.seen:
            return
        self.seen.add((url, reason))
        if self.stats is not None:
            self.stats.inc_value(f"catalog/skipped/{reason}")
        logger.info("Skipped %s: %s (%s)", url, detail or reason, reason)
        record = {
            "url": url,
            "reason": reason,
            "http_status": http_status,
            "fetched_at": utc_timestamp(),
        }
        if self.handle is None:
            self.partition_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.partition_dir / f"_skipped-{self.run_stamp}.jsonl"
            # Append: a second crawl within the same second adds to the file, never truncates.
            self.handle = open(self.path, "a", encoding="utf-8", newline="\n")
        # One write and flush per line: a crash still leaves every complete line behind.
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.handle.flush()

    def item_dropped(self, item, exception) -> None:
        """Record an item the landing pipeline dropped, under its DropItem's reason."""
        adapter = ItemAdapter(item)
        self.page_skipped(
            url=adapter.get("url"),
            reason=getattr(exception, "reason", "dropped"),
            http_status=adapter.get("http_status"),
            detail=str(exception),
        )

    def spider_closed(self) -> None:
        """Close the side file, if one was opened (returns None)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
