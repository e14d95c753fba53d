"""Score: top-K courses per active learner with the champion model into gold.recommendations,
replacing only the run date's partition.

    spark-submit --py-files dist/lakehouse.zip jobs/score.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import mlflow
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.train import mlflow_client
from lakehouse import tables
from lakehouse.recommendations import blocked_top_k, recommendation_rows
from lakehouse.runs import data_end, job_main


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """Learners scored and rows written to gold.recommendations for the run date."""
    rec = cfg["recommender"]
    run_date: dt.date = cfg["run"]["date"]
    as_of = data_end(run_date)
    since = as_of - dt.timedelta(days=int(rec["active_days"]))

    client = mlflow_client(cfg)
    champion = client.get_model_version_by_alias(rec["registered_model"], "champion")
    model = mlflow.spark.load_model(f"models:/{rec['registered_model']}@champion").stages[0]

    interactions = tables.read_table(spark, cfg, "silver.interactions")
    active = (
        interactions.filter(
            (F.col("event_ts") >= F.lit(since)) & (F.col("event_ts") < F.lit(as_of))
        )
        .select("learner_id")
        .distinct()
    )
    completed = (
        tables.read_table(spark, cfg, "silver.enrollments")
        .filter((F.col("status") == "completed") & (F.col("completed_at") < F.lit(as_of)))
        .select("learner_id", "course_id")
    )
    known_courses = tables.read_table(spark, cfg, "silver.courses").select("course_id")
    course_factors = model.itemFactors.join(
        known_courses, F.col("id").cast("bigint") == F.col("course_id"), "left_semi"
    )
    top = blocked_top_k(active, model.userFactors, course_factors, completed, int(rec["k"]))
    rows = recommendation_rows(top, run_date, rec["registered_model"], str(champion.version))
    tables.replace_partition(rows, cfg, "gold.recommendations", "run_date", run_date)
    written = (
        tables.read_table(spark, cfg, "gold.recommendations")
        .filter(F.col("run_date") == F.lit(run_date))
        .count()
    )
    return {
        "model_name": rec["registered_model"],
        "model_version": champion.version,
        "rows": written,
    }


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "score", argv)


if __name__ == "__main__":
    sys.exit(main())
