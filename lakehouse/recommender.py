"""Implicit-feedback ALS on learner x course confidence: inputs, time split, training, baseline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# ALS keys must be 32-bit integers.
MAX_ALS_ID = 2**31 - 1


def confidence_matrix(interactions: DataFrame, before: dt.datetime) -> DataFrame:
    """One row per (learner_id, course_id) with positive-weight events before `before`: summed
    confidence, the time of the first such event and their number."""
    # Zero-weight events carry no preference: they neither create a pair nor
    # date its first engagement.
    return (
        interactions.filter((F.col("event_ts") < F.lit(before)) & (F.col("weight") > 0))
        .groupBy("learner_id", "course_id")
        .agg(
            F.sum("weight").alias("confidence"),
            F.min("event_ts").alias("first_ts"),
            F.count(F.lit(1)).alias("events"),
        )
    )


def holdout_pairs(interactions: DataFrame, cutoff: dt.datetime, until: dt.datetime) -> DataFrame:
    """One row per (learner_id, course_id) whose first positive event falls in [cutoff, until):
    the courses a learner newly engaged with after the training cut-off."""
    window = interactions.filter(F.col("event_ts") < F.lit(until))
    firsts = confidence_matrix(window, until)
    return firsts.filter(F.col("first_ts") >= F.lit(cutoff)).select("learner_id", "course_id")


def als_params(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of pyspark's ALS for the configured hyperparameters."""
    blocks = int(params.get("num_blocks", 4))
    return {
        "rank": int(params["rank"]),
        "maxIter": int(params["max_iter"]),
        "regParam": float(params["reg_param"]),
        "alpha": float(params["alpha"]),
        "seed": int(params.get("seed", 42)),
        "numUserBlocks": blocks,
        "numItemBlocks": blocks,
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
    return ALS(**als_params(params)).fit(ratings)


def popularity_scores(confidence: DataFrame) -> DataFrame:
    """One row per course_id: its popularity score, the number of distinct learners engaged."""
    return confidence.groupBy("course_id").agg(
        F.countDistinct("learner_id").cast("double").alias("score")
    )
