"""Course-catalog landing files: the JSON Lines records the Scrapy spider writes."""

from __future__ import annotations

from pyspark.sql import types as T

# One record per crawled course page (scrapers/items.py writes these keys).
CATALOG_LANDING_SCHEMA = T.StructType(
    [
        T.StructField("url", T.StringType()),
        T.StructField("course_code", T.StringType()),
        T.StructField("name", T.StringType()),
        T.StructField("description", T.StringType()),
        T.StructField("provider", T.StringType()),
        T.StructField("educational_level", T.StringType()),
        T.StructField("skills", T.ArrayType(T.StringType())),
        T.StructField("prerequisites", T.ArrayType(T.StringType())),
        T.StructField("time_required", T.StringType()),
        T.StructField("duration_hours", T.DoubleType()),
        T.StructField("http_status", T.IntegerType()),
        T.StructField("fetched_at", T.StringType()),
        T.StructField("content_hash", T.StringType()),
        T.StructField("spider", T.StringType()),
        T.StructField("extraction", T.StringType()),  # jsonld | microdata | css
        T.StructField("encoding", T.StringType()),
        T.StructField("raw_html", T.StringType()),
    ]
)
