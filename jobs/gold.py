"""Gold: the star schema (dims, fact_learning_activity) and course_stats, rebuilt from silver.

spark-submit --py-files dist/lakehouse.zip jobs/gold.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import sys
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.runs import job_main
from lakehouse.star_schema import (
    course_dimension,
    course_statistics,
    date_dimension,
    learner_dimension,
    learning_activity_facts,
)


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows per gold table after this run (each rebuilt from silver)."""
    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731
    interactions = read("silver.interactions")
    courses = read("silver.courses")
    # The calendar reaches the run date even when the last event is older.
    run_day = spark.createDataFrame([(cfg["run"]["date"],)], "event_date date")
    calendar = interactions.select("event_date").unionByName(run_day)

    outputs = {
        "gold.dim_learner": learner_dimension(read("silver.learners")),
        "gold.dim_course": course_dimension(courses),
        "gold.dim_date": date_dimension(calendar.filter(F.col("event_date").isNotNull())),
        "gold.fact_learning_activity": learning_activity_facts(interactions),
        "gold.course_stats": course_statistics(courses, read("silver.enrollments"), interactions),
    }
    return tables.overwrite_tables(spark, cfg, outputs)


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "gold", argv)


if __name__ == "__main__":
    sys.exit(main())
