"""Top-K course recommendations per learner, and the rows of gold.recommendations."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

RECOMMENDATION_COLUMNS = ("run_date", "learner_id", "rank", "course_id", "score", "model_version")


def factor_scores(
    learners: DataFrame, learner_factors: DataFrame, course_factors: DataFrame
) -> DataFrame:
    """One row per (learner_id, course_id) for the given learners and every course with factors:
    the ALS preference score, the dot product of their factors."""
    users = (
        learners.select("learner_id")
        .distinct()
        .join(
            learner_factors.select(
                F.col("id").cast("bigint").alias("learner_id"), F.col("features").alias("uf")
            ),
            "learner_id",
        )
    )
    items = course_factors.select(
        F.col("id").cast("bigint").alias("course_id"), F.col("features").alias("cf")
    )
    dot = F.aggregate(
        F.zip_with("uf", "cf", lambda x, y: x * y), F.lit(0.0), lambda acc, v: acc + v
    )
    # Course factors are few (hundreds to thousands): broadcasting them keeps the
    # cross join local to each partition of learners.
    return users.crossJoin(F.broadcast(items)).select("learner_id", "course_id", dot.alias("score"))


def popularity_candidates(learners: DataFrame, popularity: DataFrame) -> DataFrame:
    """One row per (learner_id, course_id) for the given learners and every scored course,
    scored by the course's popularity."""
    return (
        learners.select("learner_id")
        .distinct()
        .crossJoin(F.broadcast(popularity))
        .select("learner_id", "course_id", "score")
    )


def top_k(candidates: DataFrame, exclude: DataFrame, k: int) -> DataFrame:
    """One row per learner and rank 1..k (learner_id, rank): the highest-scoring candidate
    courses not in `exclude`, ties broken by course_id."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    kept = candidates.join(
        exclude.select("learner_id", "course_id").distinct(),
        ["learner_id", "course_id"],
        "left_anti",
    )
    window = Window.partitionBy("learner_id").orderBy(
        F.col("score").desc(), F.col("course_id").asc()
    )
    ranked = kept.withColumn("rank", F.row_number().over(window))
    return ranked.filter(F.col("rank") <= k).select("learner_id", "rank", "course_id", "score")


def recommendation_rows(top: DataFrame, run_date: dt.date, model_version: str) -> DataFrame:
    """gold.recommendations rows for one run date: (run_date, learner_id, rank) key, scores
    rounded so that reruns compare equal."""
    return top.select(
        F.lit(run_date).cast("date").alias("run_date"),
        F.col("learner_id").cast("bigint").alias("learner_id"),
        F.col("rank").cast("int").alias("rank"),
        F.col("course_id").cast("bigint").alias("course_id"),
        F.round(F.col("score").cast("double"), 6).alias("score"),
        F.lit(model_version).cast("string").alias("model_version"),
    )
