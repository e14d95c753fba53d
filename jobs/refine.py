"""Refine: bronze to silver (learners, courses, enrollments, interactions), typed and deduplicated.

spark-submit --py-files dist/lakehouse.zip jobs/refine.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import sys
from typing import Any

from pyspark.sql import SparkSession

from lakehouse import tables
from lakehouse.courses import conform_lms_courses, current_catalog_entries, with_catalog_details
from lakehouse.enrollments import conform_enrollments
from lakehouse.interactions import (
    activity_events_as_interactions,
    conform_interactions,
    dedupe_interactions,
    ratings_as_interactions,
    with_confidence,
)
from lakehouse.learners import conform_learners
from lakehouse.runs import job_main


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows per silver table after this run (each table rebuilt from the whole of bronze)."""
    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731
    weights = cfg["interactions"]

    learners = read("bronze.lms_learners").transform(conform_learners)
    catalog_name = cfg["sources"]["catalog"]["bronze"]
    if tables.table_exists(spark, cfg, catalog_name):
        catalog = read(catalog_name).transform(current_catalog_entries)
    else:
        catalog = spark.createDataFrame(
            [], "course_code string, catalog_url string, description string, "
            "educational_level string, skills array<string>, prerequisites array<string>, "
            "catalog_content_hash string",
        )  # fmt: skip
    courses = (
        read("bronze.lms_courses")
        .transform(conform_lms_courses)
        .transform(with_catalog_details, catalog)
    )
    enrollments = read("bronze.lms_enrollments").transform(conform_enrollments)
    events = activity_events_as_interactions(read("bronze.lms_activity_events")).unionByName(
        ratings_as_interactions(read("bronze.lms_ratings"))
    )
    interactions = (
        events.transform(dedupe_interactions)
        .transform(with_confidence, weights["event_weights"], weights["rate_weight_per_star"])
        .transform(conform_interactions)
    )

    outputs = {
        "silver.learners": learners,
        "silver.courses": courses,
        "silver.enrollments": enrollments,
        "silver.interactions": interactions,
    }
    return tables.overwrite_tables(spark, cfg, outputs)


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "refine", argv)


if __name__ == "__main__":
    sys.exit(main())
