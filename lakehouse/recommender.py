"""Implicit-feedback ALS on learner x course confidence: inputs, time split, training, baseline."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

# ALS keys must be 32-bit integers.
MAX_ALS_ID = 2**31 - 1
# Ratings per ALS block (als_blocks): below the minimum a block is not worth a task, above the
# maximum one task's share of the factor exchange grows too large for comfort.
MIN_PAIRS_PER_BLOCK = 5_000
MAX_PAIRS_PER_BLOCK = 500_000


def confidence_matrix(
    interactions: DataFrame,
    before: dt.datetime,
    half_life_days: float | None = None,
    completion_weight: float = 0.0,
) -> DataFrame:
    """One row per (learner_id, course_id) with positive-weight events before `before`: the
    confidence, the time of the first such event and their number.

    The confidence sums the event weights, each halved for every `half_life_days` of its age at
    `before` (no decay when None), plus `completion_weight` times the share of the course the
    learner got through (1 for a 'complete' event, else the highest 'progress' value).
    """
    # Zero-weight events carry no preference: they neither create a pair nor
    # date its first engagement.
    events = interactions.filter((F.col("event_ts") < F.lit(before)) & (F.col("weight") > 0))
    weight = F.col("weight")
    if half_life_days:
        age_days = (F.lit(before).cast("double") - F.col("event_ts").cast("double")) / 86400.0
        weight = weight * F.pow(F.lit(0.5), age_days / F.lit(float(half_life_days)))
    aggregates = [
        F.sum(weight).alias("confidence"),
        F.min("event_ts").alias("first_ts"),
        F.count(F.lit(1)).alias("events"),
    ]
    if not completion_weight:
        return events.groupBy("learner_id", "course_id").agg(*aggregates)
    completion = (
        F.when(F.col("event_type") == "complete", F.lit(1.0))
        .when(
            F.col("event_type") == "progress", F.least(F.greatest("value", F.lit(0.0)), F.lit(1.0))
        )
        .otherwise(F.lit(0.0))
    )
    return (
        events.groupBy("learner_id", "course_id")
        .agg(*aggregates, F.max(completion).alias("completion"))
        .select(
            "learner_id",
            "course_id",
            (
                F.col("confidence")
                + F.lit(float(completion_weight)) * F.coalesce("completion", F.lit(0.0))
            ).alias("confidence"),
            "first_ts",
            "events",
        )
    )


def holdout_pairs(interactions: DataFrame, cutoff: dt.datetime, until: dt.datetime) -> DataFrame:
    """One row per (learner_id, course_id) whose first positive event falls in [cutoff, until):
    the courses a learner newly engaged with after the training cut-off."""
    window = interactions.filter(F.col("event_ts") < F.lit(until))
    firsts = confidence_matrix(window, until)
    return firsts.filter(F.col("first_ts") >= F.lit(cutoff)).select("learner_id", "course_id")


def als_blocks(
    pairs: int,
    parallelism: int,
    min_pairs_per_block: int = MIN_PAIRS_PER_BLOCK,
    max_pairs_per_block: int = MAX_PAIRS_PER_BLOCK,
) -> int:
    """The number of user (and item) blocks ALS should split `pairs` ratings into."""
    # One block per core keeps every core busy in each half-step, unless blocks would hold
    # fewer than min_pairs_per_block ratings (then shuffling costs more than it spreads);
    # past max_pairs_per_block ratings per block a task's memory grows too large, so large
    # inputs get more blocks than cores.
    spread = min(max(1, parallelism), -(-pairs // min_pairs_per_block))
    return max(1, spread, -(-pairs // max_pairs_per_block))


def task_slots(spark: SparkSession) -> int:
    """How many tasks the session runs at once: N of a local[N] master (every core for
    local[*]), else Spark's default parallelism (the executors' cores unless set)."""
    # spark.default.parallelism is often set above the cores (the local profile asks for 8 on
    # 2 cores): ALS blocks beyond the cores only queue up, so local masters count cores.
    found = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", spark.sparkContext.master)
    if found is None:
        return spark.sparkContext.defaultParallelism
    if found.group(1) is None:
        return 1
    return (os.cpu_count() or 1) if found.group(1) == "*" else int(found.group(1))


def checkpoint_interval(max_iter: int, interval: int) -> int:
    """ALS's checkpointInterval for a fit of max_iter iterations: `interval`, or -1 (never) for
    a fit of at most that many iterations."""
    # Checkpoints (under the session's checkpoint directory, lakehouse.spark sets one) cut the
    # lineage so that long fits neither overflow the stack nor recompute from the start after a
    # lost executor. A fit of up to 12 iterations never overflowed; a 16-iteration OULAD tuning
    # trial without one did (StackOverflowError in its tasks), so any fit longer than one
    # interval checkpoints; a shorter one is spared the write.
    if interval < 1 or max_iter <= interval:
        return -1
    return interval


def als_params(params: dict[str, Any], blocks: int = 4) -> dict[str, Any]:
    """The keyword arguments of pyspark's ALS for the configured hyperparameters; `blocks` is
    used when num_blocks is 'auto' or missing."""
    configured = params.get("num_blocks", "auto")
    blocks = blocks if configured in (None, "auto") else int(configured)
    return {
        "rank": int(params["rank"]),
        "maxIter": int(params["max_iter"]),
        "regParam": float(params["reg_param"]),
        "alpha": float(params["alpha"]),
        "seed": int(params.get("seed", 42)),
        "numUserBlocks": blocks,
        "numItemBlocks": blocks,
        "checkpointInterval": checkpoint_interval(
            int(params["max_iter"]), int(params.get("checkpoint_interval", 10))
        ),
        "implicitPrefs": True,
        "nonnegative": bool(params.get("nonnegative", False)),
        "coldStartStrategy": "drop",
        "userCol": "learner_id",
        "itemCol": "course_id",
        "ratingCol": "confidence",
    }


def train_als(confidence: DataFrame, params: dict[str, Any]) -> ALSModel:
    """An implicit ALS model fitted on the (learner_id, course_id, confidence) rows."""
    bounds = confidence.agg(
        F.max("learner_id").alias("max_learner"),
        F.max("course_id").alias("max_course"),
        F.min("learner_id").alias("min_learner"),
        F.min("course_id").alias("min_course"),
        F.count(F.lit(1)).alias("pairs"),
    ).first()
    if bounds["max_learner"] is None:
        raise ValueError("no interactions to train on")
    for name in ("max_learner", "max_course"):
        if bounds[name] > MAX_ALS_ID:
            raise ValueError(f"{name}={bounds[name]} does not fit the 32-bit ids ALS needs")
    for name in ("min_learner", "min_course"):
        if bounds[name] < 0:
            raise ValueError(f"{name}={bounds[name]}: ALS ids must be non-negative")
    ratings = confidence.select(
        F.col("learner_id").cast("int"), F.col("course_id").cast("int"), "confidence"
    )
    blocks = als_blocks(int(bounds["pairs"]), task_slots(confidence.sparkSession))
    return ALS(**als_params(params, blocks)).fit(ratings)


def popularity_scores(confidence: DataFrame) -> DataFrame:
    """One row per course_id: its popularity score, the number of distinct learners engaged."""
    return confidence.groupBy("course_id").agg(
        F.countDistinct("learner_id").cast("double").alias("score")
    )


def item_similarities(
    confidence: DataFrame, neighbours: int, courses: DataFrame | None = None
) -> DataFrame:
    """One row per (course_id, neighbour_id) for each course's `neighbours` most similar other
    courses: the cosine `similarity` of their learner confidence vectors (ties by neighbour_id);
    only for the course_ids of `courses` when given (their neighbours may be any course)."""
    pairs = confidence.select("learner_id", "course_id", "confidence")
    norms = pairs.groupBy("course_id").agg(F.sqrt(F.sum(F.col("confidence") ** 2)).alias("norm"))
    # The self-join by learner is the cost (on OULAD about 247M pair rows): restricting its
    # left side to the courses asked for leaves their rows exact and skips the others.
    left = pairs
    if courses is not None:
        left = pairs.join(courses.select("course_id"), "course_id", "left_semi")
    dots = (
        left.alias("a")
        .join(pairs.alias("b"), "learner_id")
        .filter(F.col("a.course_id") != F.col("b.course_id"))
        .groupBy(
            F.col("a.course_id").alias("course_id"), F.col("b.course_id").alias("neighbour_id")
        )
        .agg(F.sum(F.col("a.confidence") * F.col("b.confidence")).alias("dot"))
    )
    similar = (
        dots.join(norms, "course_id")
        .join(
            norms.withColumnRenamed("course_id", "neighbour_id").withColumnRenamed("norm", "n2"),
            "neighbour_id",
        )
        .select(
            "course_id",
            "neighbour_id",
            (F.col("dot") / (F.col("norm") * F.col("n2"))).alias("similarity"),
        )
    )
    window = Window.partitionBy("course_id").orderBy(F.col("similarity").desc(), "neighbour_id")
    return (
        similar.withColumn("n", F.row_number().over(window))
        .filter(F.col("n") <= neighbours)
        .select("course_id", "neighbour_id", "similarity")
    )


def item_neighbour_scores(
    learners: DataFrame, confidence: DataFrame, similarities: DataFrame
) -> DataFrame:
    """One row per (learner_id, course_id) for the given learners and every neighbour of a course
    they engaged with: the summed similarity to those courses (item-to-item recommendation)."""
    engaged = confidence.join(learners.select("learner_id").distinct(), "learner_id", "left_semi")
    return (
        engaged.select("learner_id", F.col("course_id").alias("seen_id"))
        .join(similarities.withColumnRenamed("course_id", "seen_id"), "seen_id")
        .groupBy("learner_id", F.col("neighbour_id").alias("course_id"))
        .agg(F.sum("similarity").alias("score"))
    )
