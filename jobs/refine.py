"""Refine: bronze to silver (learners, courses, enrollments, interactions), typed and deduplicated.

The silver model is one; `refine.model` in conf/ says which sources feed it (lms or oulad).

Every silver table's rows go through its quality rules (conf `quality:`, lakehouse/quality.py)
before any table is written. Rows failing a rule go to silver.quarantine instead of silver;
each rule's counts and each table's row balance (bronze rows = silver + quarantined + removed
duplicates) go to gold.data_quality_runs; both replace the run date's rows, so a rerun of a
night does not duplicate them. A rule failing more rows than its error threshold fails the run
with DataQualityError before anything is written: no silver, quarantine or gold table changes
(the failed run's counts are in the error message and the log, not in gold.data_quality_runs).

spark-submit --py-files dist/lakehouse.zip jobs/refine.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakehouse import quality, tables
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

log = logging.getLogger("lakehouse.refine")

# The bronze tables whose rows feed each silver table of the LMS model (its row balance).
LMS_FEEDS = {
    "silver.learners": ["bronze.lms_learners"],
    "silver.courses": ["bronze.lms_courses"],
    "silver.enrollments": ["bronze.lms_enrollments"],
    "silver.interactions": ["bronze.lms_activity_events", "bronze.lms_ratings"],
}
# The same for the OULAD model, as parts of conf `sources.files.oulad.files`.
OULAD_FEEDS = {
    "silver.learners": ["student_info"],
    "silver.courses": ["courses", "vle"],
    "silver.enrollments": ["student_registration"],
    "silver.interactions": ["student_vle"],
}


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows per silver table after this run (each table rebuilt from the whole of bronze), and
    the quarantine rows of the run (`silver.quarantine`); raises quality.DataQualityError,
    changing no table, when a rule fails more rows than its error threshold allows."""
    model = cfg.get("refine", {}).get("model", "lms")
    builders = {"lms": lms_silver, "oulad": oulad_silver}
    if model not in builders:
        raise ValueError(f"unknown refine.model {model!r} (known: {', '.join(builders)})")
    if model == "lms":
        feeds = LMS_FEEDS
    else:
        parts = cfg["sources"]["files"]["oulad"]["files"]
        feeds = {name: [parts[p]["bronze"] for p in ps] for name, ps in OULAD_FEEDS.items()}
    silver = builders[model](spark, cfg)
    persisted: list[DataFrame] = []
    try:
        flagged, results = quality_checked(spark, cfg, silver, feeds, persisted)
        for result in results:
            log.info("quality %s", result)
        quality.enforce_thresholds(results)
        return write_checked(spark, cfg, flagged, results)
    finally:
        for df in persisted:
            df.unpersist()


def quality_checked(
    spark: SparkSession,
    cfg: dict[str, Any],
    silver: dict[str, DataFrame],
    feeds: dict[str, list[str]],
    persisted: list[DataFrame],
) -> tuple[dict[str, DataFrame], list[dict[str, Any]]]:
    """(each silver table's rows with their rule failures, by name; the rule results and row
    balances of every table), writing nothing; the DataFrames it caches go to `persisted`.

    Tables are checked in order, so a rule referring to an earlier table (interactions ->
    learners) sees only that table's passing rows. Removed duplicates are the bronze rows the
    conforming step collapsed (superseded versions of a key, repeated deliveries, rows of
    deleted keys): bronze rows minus the rows it produced.
    """
    run_date = cfg["run"]["date"]
    rules = cfg.get("quality") or {}
    flagged: dict[str, DataFrame] = {}
    results: list[dict[str, Any]] = []
    passing: dict[str, DataFrame] = {}
    for name, rows in silver.items():
        table_rules = rules.get(name) or []
        rows = rows.persist()
        checked = quality.with_rule_failures(rows, name, table_rules, passing, run_date).persist()
        persisted += [rows, checked]
        conformed = rows.count()
        silver_rows, quarantined = quality.outcome_counts(checked)
        bronze = sum(tables.read_table(spark, cfg, b).count() for b in feeds[name])
        results += quality.rule_results(checked, name, table_rules)
        results.append(
            quality.row_balance(name, bronze, silver_rows, quarantined, bronze - conformed)
        )
        flagged[name] = checked
        passing[name] = quality.passing_rows(checked)
    return flagged, results


def write_checked(
    spark: SparkSession,
    cfg: dict[str, Any],
    flagged: dict[str, DataFrame],
    results: list[dict[str, Any]],
) -> dict[str, int]:
    """Rows per silver table and quarantine rows of the run, after writing the passing rows to
    silver and replacing the run date's rows of the quarantine and data quality tables."""
    run_date, batch_id = cfg["run"]["date"], cfg["run"].get("batch_id")
    counts = tables.overwrite_tables(
        spark, cfg, {name: quality.passing_rows(rows) for name, rows in flagged.items()}
    )
    quarantine = functools.reduce(
        DataFrame.unionByName,
        [
            quality.quarantined_rows(rows, name, run_date, batch_id)
            for name, rows in flagged.items()
        ],
    )
    tables.replace_partition(quarantine, cfg, quality.QUARANTINE_TABLE, "run_date", run_date)
    runs = quality.data_quality_runs(spark, results, run_date, batch_id)
    tables.replace_partition(runs, cfg, quality.RUNS_TABLE, "run_date", run_date)
    counts[quality.QUARANTINE_TABLE] = (
        tables.read_table(spark, cfg, quality.QUARANTINE_TABLE)
        .filter(f"run_date = DATE'{run_date.isoformat()}'")
        .count()
    )
    return counts


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
