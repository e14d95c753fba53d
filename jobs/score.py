"""Score: top-K courses per active or new learner into gold.recommendations (the champion ALS
model, content matches of new courses, content and department popularity for cold starts, each
row with its strategy and reason), and the learning path of each into gold.learning_paths,
replacing only the run date's partition of each.

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
from lakehouse.learning_paths import learning_paths
from lakehouse.recommendations import hybrid_recommendations, recommendation_rows
from lakehouse.runs import data_end, job_main


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """Rows written to gold.recommendations (in all and by strategy) and steps written to
    gold.learning_paths for the run date."""
    rec = cfg["recommender"]
    run_date: dt.date = cfg["run"]["date"]
    as_of = data_end(run_date)
    since = as_of - dt.timedelta(days=int(rec["active_days"]))

    client = mlflow_client(cfg)
    champion = client.get_model_version_by_alias(rec["registered_model"], "champion")
    model = mlflow.spark.load_model(f"models:/{rec['registered_model']}@champion").stages[0]

    interactions = tables.read_table(spark, cfg, "silver.interactions")
    before = interactions.filter(F.col("event_ts") < F.lit(as_of))
    people = tables.read_table(spark, cfg, "silver.learners").select(
        "learner_id", "department", "job_role"
    )
    active = before.filter(F.col("event_ts") >= F.lit(since)).select("learner_id").distinct()
    # Learners without any event yet (new, or only enrolled) are the cold starts.
    newcomers = people.select("learner_id").join(before, "learner_id", "left_anti")
    learners = active.unionByName(newcomers).distinct()
    enrollments = tables.read_table(spark, cfg, "silver.enrollments")
    completed = enrollments.filter(
        (F.col("status") == "completed") & (F.col("completed_at") < F.lit(as_of))
    ).select("learner_id", "course_id")
    engagement = (
        before.filter(F.col("weight") > 0)
        .select("learner_id", "course_id")
        .unionByName(
            enrollments.filter(F.coalesce(F.col("enrolled_at") < F.lit(as_of), F.lit(True))).select(
                "learner_id", "course_id"
            )
        )
        .distinct()
    )
    courses = tables.read_table(spark, cfg, "silver.courses")
    hybrid = rec["hybrid"]
    course_factors = model.itemFactors.join(
        courses.select("course_id"), F.col("id").cast("bigint") == F.col("course_id"), "left_semi"
    )
    top = hybrid_recommendations(
        learners,
        people,
        engagement,
        completed,
        courses,
        model.userFactors,
        course_factors,
        int(rec["k"]),
        int(hybrid["new_course_slots"]),
        float(hybrid["min_similarity"]),
        int(hybrid["num_features"]),
    )
    rows = recommendation_rows(top, run_date, rec["registered_model"], str(champion.version))
    tables.replace_partition(rows, cfg, "gold.recommendations", "run_date", run_date)
    written_recs = tables.read_table(spark, cfg, "gold.recommendations").filter(
        F.col("run_date") == F.lit(run_date)
    )
    paths = learning_paths(written_recs, courses, completed, run_date)
    tables.replace_partition(paths, cfg, "gold.learning_paths", "run_date", run_date)
    strategies = {
        r["strategy"]: r["count"] for r in written_recs.groupBy("strategy").count().collect()
    }
    written = sum(strategies.values())
    steps = (
        tables.read_table(spark, cfg, "gold.learning_paths")
        .filter(F.col("run_date") == F.lit(run_date))
        .count()
    )
    return {
        "model_name": rec["registered_model"],
        "model_version": champion.version,
        "rows": written,
        "rows_by_strategy": strategies,
        "learning_path_steps": steps,
    }


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "score", argv)


if __name__ == "__main__":
    sys.exit(main())
