"""silver.courses: one row per course, LMS data enriched with the crawled catalog."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.bronze import latest_rows, live_rows

# What current_catalog_entries gives, per course_code (an empty catalog has this schema).
CATALOG_DETAILS_SCHEMA = (
    "course_code string, catalog_url string, description string, educational_level string, "
    "skills array<string>, prerequisites array<string>, catalog_content_hash string"
)
# item_type of an LMS course; other sources' items (e.g. OULAD's VLE materials) have their own
# and name their course in parent_course_id.
COURSE_ITEM_TYPE = "course"
# What catalog_record_changes says of a landed record; only NEW_VERSIONS reach bronze.
NEW_VERSIONS = ("new", "changed")


def fetched_ok() -> Column:
    """True for a catalog record whose page was fetched (HTTP status below 400, or unknown)."""
    # Records from before the spider recorded the status count as fetched.
    return F.coalesce(F.col("http_status") < 400, F.lit(True))


def conform_lms_courses(lms_courses: DataFrame) -> DataFrame:
    """One row per course_id not deleted in the LMS: its latest version, with a normalised
    course_code."""
    return live_rows(lms_courses, ["id"], ["updated_at"]).select(
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
    ok = catalog_courses.filter(F.col("course_code").isNotNull() & fetched_ok()).withColumn(
        "course_code", F.upper(F.trim("course_code"))
    )
    return latest_rows(ok, ["course_code"], ["fetched_at"]).select(
        "course_code",
        F.col("url").alias("catalog_url"),
        "description",
        "educational_level",
        F.coalesce("skills", F.array().cast("array<string>")).alias("skills"),
        F.coalesce("prerequisites", F.array().cast("array<string>")).alias("prerequisites"),
        F.col("content_hash").alias("catalog_content_hash"),
    )


def catalog_record_changes(batch: DataFrame, current: DataFrame | None) -> DataFrame:
    """One row per landed catalog record of batch, its columns plus `change`: 'new' (the first
    record of its page, url), 'changed' or 'unchanged' (content_hash against the page's previous
    good record: the one fetched before it in the batch, else the latest in `current`, the bronze
    records), or 'failed' (http_status 400 or above: no content, never a version)."""
    ok = batch.filter(fetched_ok())
    failed = batch.filter(~fetched_ok()).withColumn("change", F.lit("failed"))
    if current is None:
        previous = batch.sparkSession.createDataFrame(
            [], "url string, _previous_hash string, _known boolean"
        )
    else:
        # Compared with the latest version only: a page going A -> B -> A is versioned again.
        previous = latest_rows(current.filter(fetched_ok()), ["url"], ["fetched_at"]).select(
            "url", F.col("content_hash").alias("_previous_hash"), F.lit(True).alias("_known")
        )
    fetch_order = Window.partitionBy("url").orderBy(
        F.col("fetched_at").asc_nulls_first(), F.col("content_hash").asc_nulls_first()
    )
    first = F.row_number().over(fetch_order) == 1
    before = F.when(first, F.col("_previous_hash")).otherwise(
        F.lag("content_hash").over(fetch_order)
    )
    change = (
        F.when(first & F.col("_known").isNull(), "new")
        .when(F.col("content_hash").eqNullSafe(before), "unchanged")
        .otherwise("changed")
    )
    versioned = ok.join(previous, "url", "left").withColumn("change", change)
    return versioned.select(*batch.columns, "change").unionByName(failed)


def changed_catalog_records(batch: DataFrame, current: DataFrame | None) -> DataFrame:
    """The batch's catalog records that are new versions of their page (url): its first record,
    or content_hash differing from the page's previous good record (see catalog_record_changes)."""
    return (
        catalog_record_changes(batch, current)
        .filter(F.col("change").isin(*NEW_VERSIONS))
        .drop("change")
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
