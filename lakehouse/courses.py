"""silver.courses: one row per course, LMS data enriched with the crawled catalog."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import latest_rows

# What current_catalog_entries gives, per course_code (an empty catalog has this schema).
CATALOG_DETAILS_SCHEMA = (
    "course_code string, catalog_url string, description string, educational_level string, "
    "skills array<string>, prerequisites array<string>, catalog_content_hash string"
)
# item_type of an LMS course; other sources' items (e.g. OULAD's VLE materials) have their own
# and name their course in parent_course_id.
COURSE_ITEM_TYPE = "course"


def conform_lms_courses(lms_courses: DataFrame) -> DataFrame:
    """One row per course_id: the latest LMS version, with a normalised course_code."""
    return latest_rows(lms_courses, ["id"], ["updated_at"]).select(
        F.col("id").cast("bigint").alias("course_id"),
        F.upper(F.trim("code")).alias("course_code"),
        F.trim("title").alias("title"),
        F.trim("provider").alias("provider"),
        F.trim("category").alias("category"),
        F.initcap(F.trim("level")).alias("level"),
        F.col("duration_hours").cast("int").alias("duration_hours"),
        F.to_timestamp("updated_at").alias("updated_at"),
    )


def current_catalog_entries(catalog_courses: DataFrame) -> DataFrame:
    """One row per course_code: the most recently fetched successful catalog record."""
    ok = catalog_courses.filter(
        F.col("course_code").isNotNull() & F.coalesce(F.col("http_status") < 400, F.lit(True))
    ).withColumn("course_code", F.upper(F.trim("course_code")))
    return latest_rows(ok, ["course_code"], ["fetched_at"]).select(
        "course_code",
        F.col("url").alias("catalog_url"),
        "description",
        "educational_level",
        F.coalesce("skills", F.array().cast("array<string>")).alias("skills"),
        F.coalesce("prerequisites", F.array().cast("array<string>")).alias("prerequisites"),
        F.col("content_hash").alias("catalog_content_hash"),
    )


def with_catalog_details(courses: DataFrame, catalog: DataFrame) -> DataFrame:
    """silver.courses: every LMS course (course_id key) with its catalog description, skills and
    prerequisites where the catalog lists its course_code; item_type 'course', no parent."""
    joined = courses.join(catalog, "course_code", "left")
    return joined.select(
        "course_id",
        "course_code",
        "title",
        "provider",
        "category",
        # The LMS level wins; the catalog's fills in where the LMS has none.
        F.coalesce("level", F.initcap("educational_level")).alias("level"),
        "duration_hours",
        "description",
        F.coalesce("skills", F.array().cast("array<string>")).alias("skills"),
        F.coalesce("prerequisites", F.array().cast("array<string>")).alias("prerequisites"),
        "catalog_url",
        F.col("catalog_content_hash").isNotNull().alias("in_catalog"),
        "catalog_content_hash",
        "updated_at",
        F.lit(COURSE_ITEM_TYPE).alias("item_type"),
        F.lit(None).cast("bigint").alias("parent_course_id"),
    )
