"""Refine: bronze to silver (learners, courses, enrollments, interactions), typed and deduplicated.

The silver model is one; `refine.model` in conf/ says which sources feed it (lms or oulad).

spark-submit --py-files dist/lakehouse.zip jobs/refine.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import sys
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakehouse import tables
from lakehouse.courses import (
    CATALOG_DETAILS_SCHEMA,
    conform_lms_courses,
    current_catalog_entries,
    with_catalog_details,
)
from lakehouse.enrollments import conform_enrollments
from lakehouse.interactions import (
    activity_events_as_interactions,
    conform_interactions,
    dedupe_interactions,
    ratings_as_interactions,
    with_confidence,
)
from lakehouse.learners import conform_learners
from lakehouse.oulad import oulad_courses, oulad_enrollments, oulad_interactions, oulad_learners
from lakehouse.runs import job_main


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows per silver table after this run (each table rebuilt from the whole of bronze)."""
    model = cfg.get("refine", {}).get("model", "lms")
    builders = {"lms": lms_silver, "oulad": oulad_silver}
    if model not in builders:
        raise ValueError(f"unknown refine.model {model!r} (known: {', '.join(builders)})")
    return tables.overwrite_tables(spark, cfg, builders[model](spark, cfg))


def lms_silver(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, DataFrame]:
    """The silver tables, by name, from the LMS's and the crawled catalog's bronze tables."""
    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731
    weights = cfg["interactions"]

    learners = read("bronze.lms_learners").transform(conform_learners)
    catalog_source = cfg["sources"].get("catalog") or {}
    catalog_name = catalog_source.get("bronze")
    if catalog_name and tables.table_exists(spark, cfg, catalog_name):
        catalog = read(catalog_name).transform(current_catalog_entries)
    else:
        catalog = spark.createDataFrame([], CATALOG_DETAILS_SCHEMA)
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
    return {
        "silver.learners": learners,
        "silver.courses": courses,
        "silver.enrollments": enrollments,
        "silver.interactions": interactions,
    }


def oulad_silver(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, DataFrame]:
    """The silver tables, by name, from the OULAD's bronze tables (lakehouse.oulad)."""
    read = lambda part: tables.read_table(  # noqa: E731
        spark, cfg, cfg["sources"]["files"]["oulad"]["files"][part]["bronze"]
    )
    months = cfg["oulad"]["start_months"]
    student_info = read("student_info")
    return {
        "silver.learners": oulad_learners(student_info),
        "silver.courses": oulad_courses(read("courses"), read("vle")),
        "silver.enrollments": oulad_enrollments(
            read("student_registration"), student_info, read("courses"), months
        ),
        "silver.interactions": oulad_interactions(
            read("student_vle"), months, float(cfg["oulad"]["click_weight"])
        ),
    }


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "refine", argv)


if __name__ == "__main__":
    sys.exit(main())
