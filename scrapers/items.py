# Define here the models for your scraped items
#
# See documentation in:
# https://docs.scrapy.org/en/latest/topics/items.html

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Fields that describe the course itself. Fetch metadata (url, http_status, fetched_at,
# encoding, raw_html) and the extraction method are left out so an unchanged course hashes
# the same on every crawl and from any mirror.
HASHED_FIELDS = (
    "course_code",
    "name",
    "description",
    "provider",
    "educational_level",
    "skills",
    "prerequisites",
    "time_required",
    "duration_hours",
)


@dataclass
class CourseItem:
    # The landing record: the Spark bronze reader applies a fixed schema to exactly
    # these keys, so adding, renaming or retyping one is a cross-team change.
    url: str
    course_code: str | None
    name: str | None
    description: str | None
    provider: str | None
    educational_level: str | None
    skills: list[str] = field(default_factory=list)
    prerequisites: list[str] = field(default_factory=list)
    time_required: str | None = None
    duration_hours: float | None = None
    http_status: int = 200
    fetched_at: str = ""
    content_hash: str = ""
    spider: str = "catalog"
    # Added after the first landing schema; readers with the old fixed schema ignore them.
    # "jsonld" | "microdata" | "css": the extraction method that produced the record.
    extraction: str = "jsonld"
    # The codec the page was decoded with (HTTP header, then BOM/<meta>, as Scrapy resolves
    # it; a Python codec name such as "utf-8" or "cp1252") and the decoded page itself.
    encoding: str = "utf-8"
    raw_html: str = ""


def compute_content_hash(record: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest of the record's HASHED_FIELDS serialised canonically."""
    payload = {name: record.get(name) for name in HASHED_FIELDS}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
