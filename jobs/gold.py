"""Gold: the star schema (SCD2 dims, dim_date, the activity and enrolment facts) and the
aggregates (course_stats, learner_engagement, skill_coverage).

The dimensions carry history: each night applies the silver snapshot to the previous dimension
(lakehouse.star_schema.scd2_dimension); every other gold table is rebuilt from silver and the
new dimensions.

spark-submit --py-files dist/lakehouse.zip jobs/gold.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.runs import data_end, job_main
from lakehouse.star_schema import (
    SCD2_COLUMNS,
    course_dimension,
    course_items,
    course_statistics,
    date_dimension,
    enrollment_facts,
    learner_dimension,
    learner_engagement,
    learning_activity_facts,
    skill_coverage,
)


def previous_dimension(spark: SparkSession, cfg: dict[str, Any], name: str) -> DataFrame | None:
    """The SCD2 dimension `name` as the last night left it; None before the first SCD2 load
    (no table, or one from before the dimensions kept history, which is rebuilt)."""
    if not tables.table_exists(spark, cfg, name):
        return None
    previous = tables.read_table(spark, cfg, name)
    return previous if set(SCD2_COLUMNS) <= set(previous.columns) else None


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows per gold table after this run."""
    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731
    run_date: dt.date = cfg["run"]["date"]
    as_of = data_end(run_date)
    learners = read("silver.learners")
    courses = read("silver.courses").transform(course_items)
    enrollments = read("silver.enrollments")
    interactions = read("silver.interactions")

    # Written first and read back: the facts and aggregates key on the committed versions.
    counts = tables.overwrite_tables(
        spark,
        cfg,
        {
            "gold.dim_learner": learner_dimension(
                previous_dimension(spark, cfg, "gold.dim_learner"), learners, as_of
            ),
            "gold.dim_course": course_dimension(
                previous_dimension(spark, cfg, "gold.dim_course"), courses, as_of
            ),
        },
    )
    dim_learner, dim_course = read("gold.dim_learner"), read("gold.dim_course")
    current_learners = dim_learner.filter(F.col("is_current"))
    current_courses = dim_course.filter(F.col("is_current"))

    # The calendar reaches the run date even when the last event is older.
    calendar = (
        interactions.select("event_date")
        .unionByName(enrollments.select(F.to_date("enrolled_at").alias("event_date")))
        .unionByName(enrollments.select(F.to_date("completed_at").alias("event_date")))
        .unionByName(spark.createDataFrame([(run_date,)], "event_date date"))
        .filter(F.col("event_date").isNotNull())
    )
    outputs = {
        "gold.dim_date": date_dimension(calendar),
        "gold.fact_learning_activity": learning_activity_facts(
            interactions, dim_learner, dim_course
        ),
        "gold.fact_enrollment": enrollment_facts(
            enrollments, interactions, courses, dim_learner, dim_course
        ),
        "gold.course_stats": course_statistics(
            current_courses, enrollments, interactions, run_date
        ),
        "gold.learner_engagement": learner_engagement(
            current_learners, interactions, enrollments, run_date
        ),
        "gold.skill_coverage": skill_coverage(learners, courses, enrollments),
    }
    return {**counts, **tables.overwrite_tables(spark, cfg, outputs)}


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "gold", argv)


if __name__ == "__main__":
    sys.exit(main())
