"""Holdout evaluation of recommendations by learner segment, and the champion/challenger gate.

Metrics per segment (metric names as in segment_metrics' output):

- precision_at_K, recall_at_K, ndcg_at_K, map_at_K: lakehouse.ranking's definitions, averaged
  over the segment's learners with held-out courses (evaluated_learners of them);
- catalog_coverage: the share of the catalog's courses that appear in some learner's top K;
- popularity_percentile: popularity bias, the mean popularity percentile of the recommended
  courses (0 = the least engaged course of the catalog in the training data, 1 = the most);
- top_decile_share: popularity bias too, the share of recommendations that are among the 10 %
  most popular courses (popularity percentile >= 0.9).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.ranking import learner_ranking_metrics

ALL = "all"
SEGMENT_COLUMNS = ("segment_type", "segment", "metric", "value")
TOP_DECILE = 0.9


def learner_segments(
    evaluated: DataFrame,
    learners: DataFrame,
    train: DataFrame,
    cutoff: dt.datetime,
    new_learner_days: int,
) -> DataFrame:
    """One row per evaluated learner and segment type (learner_id, segment_type): the learner's
    'department' ('unknown' when missing) and 'tenure', 'new' when its first training engagement
    is less than new_learner_days before the cut-off (or it has none), else 'established'."""
    since = cutoff - dt.timedelta(days=int(new_learner_days))
    firsts = train.groupBy("learner_id").agg(F.min("first_ts").alias("first_ts"))
    base = (
        evaluated.select("learner_id")
        .distinct()
        .join(learners.select("learner_id", "department"), "learner_id", "left")
        .join(firsts, "learner_id", "left")
    )
    tenure = F.when(F.col("first_ts") <= F.lit(since), "established").otherwise("new")
    return base.select(
        "learner_id",
        F.explode(
            F.array(
                F.struct(
                    F.lit("department").alias("segment_type"),
                    F.coalesce("department", F.lit("unknown")).alias("segment"),
                ),
                F.struct(F.lit("tenure").alias("segment_type"), tenure.alias("segment")),
            )
        ).alias("s"),
    ).select("learner_id", "s.segment_type", "s.segment")


def popularity_percentiles(catalog: DataFrame, popularity: DataFrame) -> DataFrame:
    """One row per catalog course (course_id): its popularity `percentile` among the catalog's
    courses, courses without a popularity score counting as the least popular."""
    scored = (
        catalog.select("course_id")
        .distinct()
        .join(popularity, "course_id", "left")
        .select("course_id", F.coalesce("score", F.lit(0.0)).alias("score"))
    )
    # percent_rank over an unpartitioned window would move the catalog into one task; instead
    # each distinct score counts the courses scored below it (percent_rank's (rank - 1) / (n - 1))
    # against the distinct scores, which are far fewer than the courses.
    levels = scored.groupBy("score").agg(F.count(F.lit(1)).alias("courses"))
    lower = levels.select(F.col("score").alias("lower_score"), F.col("courses").alias("lower"))
    below = (
        levels.join(F.broadcast(lower), F.col("lower_score") < F.col("score"), "left")
        .groupBy("score")
        .agg(F.coalesce(F.sum("lower"), F.lit(0)).alias("below"))
    )
    total = levels.agg(F.sum("courses").alias("total"))
    return (
        scored.join(below, "score")
        .crossJoin(F.broadcast(total))
        .select(
            "course_id",
            (F.col("below") / F.greatest(F.col("total") - 1, F.lit(1))).alias("percentile"),
        )
    )


def segment_metrics(
    recommended: DataFrame,
    relevant: DataFrame,
    segments: DataFrame,
    percentiles: DataFrame,
    k: int,
) -> DataFrame:
    """One row per (segment_type, segment, metric) with its `value` over the segment's learners
    with held-out courses; segment_type 'all' (segment 'all') covers every such learner."""
    per_learner = learner_ranking_metrics(recommended, relevant, k)
    everyone = per_learner.select(
        "learner_id", F.lit(ALL).alias("segment_type"), F.lit(ALL).alias("segment")
    )
    members = segments.select("learner_id", "segment_type", "segment").unionByName(everyone)
    keys = ["segment_type", "segment"]
    catalog_size = F.lit(percentiles.count()).cast("double")
    ranking = (
        per_learner.join(members, "learner_id")
        .groupBy(*keys)
        .agg(
            F.avg("precision").alias(f"precision_at_{k}"),
            F.avg("recall").alias(f"recall_at_{k}"),
            F.avg("ndcg").alias(f"ndcg_at_{k}"),
            F.avg("average_precision").alias(f"map_at_{k}"),
            F.count(F.lit(1)).cast("double").alias("evaluated_learners"),
        )
    )
    spread = (
        recommended.filter(F.col("rank") <= k)
        .join(members, "learner_id")
        .join(percentiles, "course_id", "left")
        .groupBy(*keys)
        .agg(
            (F.countDistinct("course_id") / catalog_size).alias("catalog_coverage"),
            F.avg(F.coalesce("percentile", F.lit(0.0))).alias("popularity_percentile"),
            F.avg((F.coalesce("percentile", F.lit(0.0)) >= TOP_DECILE).cast("double")).alias(
                "top_decile_share"
            ),
        )
    )
    # A segment whose learners got no recommendation covers nothing and carries no bias.
    wide = ranking.join(spread, keys, "left").fillna(
        0.0, ["catalog_coverage", "popularity_percentile", "top_decile_share"]
    )
    metrics = [c for c in wide.columns if c not in keys]
    return wide.unpivot(keys, metrics, "metric", "value").select(
        *keys, "metric", F.col("value").cast("double").alias("value")
    )


def promotion_decision(
    challenger: float,
    champion: float | None,
    margin: float,
    metric: str = "NDCG@10",
    same_recipe: bool = False,
) -> tuple[bool, str]:
    """(promote, reason): whether the challenger's holdout score earns it the champion alias."""
    if champion is None:
        return True, f"no champion yet: challenger {metric} {challenger:.4f} promoted"
    if same_recipe:
        # The same settings on the same split score the same: the challenger is the
        # champion's recipe refreshed on newer data, which is what the nightly is for.
        return (
            True,
            f"same recipe as the champion: refreshed on newer data ({metric} {challenger:.4f})",
        )
    needed = champion * (1 + margin)
    if challenger >= needed:
        return True, (
            f"challenger {metric} {challenger:.4f} >= champion {champion:.4f} x {1 + margin:g}"
        )
    return False, (
        f"challenger {metric} {challenger:.4f} < champion {champion:.4f} x {1 + margin:g}: "
        "the champion keeps scoring"
    )
