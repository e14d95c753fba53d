# Define your item pipelines here
#
# Don't forget to add your pipeline to the ITEM_PIPELINES setting
# See: https://docs.scrapy.org/en/latest/topics/item-pipeline.html

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

# useful for handling different item types with a single interface
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("course_code", "name")


class SkippedRecord(DropItem):
    """A dropped record whose page scrapers.skipped.SkippedPagesLog records under `reason`."""

    reason = "dropped"

    def __init__(self, message: str):
        super().__init__(message)
        # SkippedPagesLog already logs the skip; Scrapy's own "Dropped:" line need not warn.
        self.log_level = "INFO"


class InvalidRecord(SkippedRecord):
    """The record lacks a required field (course_code or name)."""

    reason = "invalid_record"


class DuplicateRecord(SkippedRecord):
    """The course_code was already landed this crawl."""

    reason = "duplicate"


def landing_partition(settings) -> tuple[str, str]:
    """Return (LANDING_DIR, CRAWL_DATE as YYYY-MM-DD), raising ValueError when unusable."""
    landing_dir = settings.get("LANDING_DIR")
    if not landing_dir:
        raise ValueError(
            "LANDING_DIR is not set: pass -s LANDING_DIR=/abs/path/landing/catalog "
            "so the crawl knows where to write its JSON Lines files"
        )
    crawl_date = settings.get("CRAWL_DATE") or datetime.now(UTC).date().isoformat()
    try:
        # strptime rather than date.fromisoformat, which also accepts 20261123.
        crawl_date = datetime.strptime(crawl_date, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise ValueError(f"CRAWL_DATE must be YYYY-MM-DD, got {crawl_date!r}") from None
    return str(landing_dir), crawl_date


class JsonLinesLandingPipeline:
    # The ``spider`` parameters are optional because Scrapy >= 2.14 stops passing the
    # spider to pipeline methods while 2.13 still does; pyproject allows both.

    def __init__(self, landing_dir: str, crawl_date: str, batch_size: int, stats=None):
        self.partition_dir = Path(landing_dir) / f"crawl_date={crawl_date}"
        self.batch_size = batch_size
        self.stats = stats
        self.run_stamp = ""
        self.seen: dict[str, str] = {}
        self.seq = 0
        self.handle = None
        self.temp_path: Path | None = None
        self.batch_count = 0

    @classmethod
    def from_crawler(cls, crawler):
        """Return a pipeline configured from LANDING_DIR, CRAWL_DATE and LANDING_BATCH_SIZE."""
        settings = crawler.settings
        landing_dir, crawl_date = landing_partition(settings)
        batch_size = settings.getint("LANDING_BATCH_SIZE", 500)
        if batch_size < 1:
            raise ValueError(f"LANDING_BATCH_SIZE must be at least 1, got {batch_size}")
        return cls(landing_dir, crawl_date, batch_size, crawler.stats)

    def _inc(self, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"catalog/{key}", count)

    def open_spider(self, spider=None):
        """Create the crawl_date partition and fix this run's file-name stamp (returns None)."""
        self.partition_dir.mkdir(parents=True, exist_ok=True)
        # One stamp per run keeps a run's files adjacent when listed by name.
        self.run_stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

    def process_item(self, item, spider=None):
        """Return the item after landing it, or raise DropItem when invalid or a duplicate."""
        # Dropped items reach scrapers.skipped.SkippedPagesLog through the item_dropped
        # signal, which records them as skipped with the exception's reason.
        adapter = ItemAdapter(item)
        for name in REQUIRED_FIELDS:
            value = adapter.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidRecord(f"missing required field {name!r} on {adapter.get('url')}")
        # Codes are compared case-insensitively: "data-201" and "DATA-201" are one course.
        key = adapter["course_code"].strip().casefold()
        if key in self.seen:
            raise DuplicateRecord(
                f"duplicate course_code {adapter['course_code']!r} on {adapter.get('url')}"
                f" (already landed from {self.seen[key]})"
            )
        self.seen[key] = adapter.get("url")
        self._write(adapter.asdict())
        return item

    def close_spider(self, spider=None):
        """Publish the last, partly filled batch file (returns None)."""
        # Records already written are complete, so they are published even when the
        # crawl ends early; only a process crash leaves an (ignored) temporary file.
        if self.handle is not None:
            self._publish()

    def _write(self, record: dict) -> None:
        if self.handle is None:
            # The leading underscore makes Spark/Hadoop readers skip the file until
            # it is renamed; the pid keeps two concurrent crawls from sharing it.
            self.temp_path = self.partition_dir / f"_catalog-{self.run_stamp}.{os.getpid()}.tmp"
            self.handle = open(self.temp_path, "w", encoding="utf-8", newline="\n")
            self.batch_count = 0
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.batch_count += 1
        if self.batch_count >= self.batch_size:
            self._publish()

    def _publish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        self.handle = None
        # The name is chosen at publish time and skips existing files so that a rerun
        # within the same second never replaces an earlier run's data.
        while True:
            self.seq += 1
            final_path = self.partition_dir / f"catalog-{self.run_stamp}-{self.seq:05d}.jsonl"
            if not final_path.exists():
                break
        os.replace(self.temp_path, final_path)
        self._inc("landing/files")
        self._inc("landing/records", self.batch_count)
        logger.info("Landed %d records in %s", self.batch_count, final_path)
