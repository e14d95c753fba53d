"""lakehouse.evaluation: learner segments, popularity percentiles, segment metrics, the gate."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import Window
from pyspark.sql import functions as F

from lakehouse.evaluation import (
    learner_segments,
    popularity_percentiles,
    promotion_decision,
    segment_metrics,
)

CUTOFF = dt.datetime(2026, 10, 10)
TOP = "learner_id bigint, rank int, course_id bigint, score double"
PAIRS = "learner_id bigint, course_id bigint"
SEGMENTS = "learner_id bigint, segment_type string, segment string"
PERCENTILES = "course_id bigint, percentile double"


def days_before_cutoff(days: int) -> dt.datetime:
    return CUTOFF - dt.timedelta(days=days)


def test_learner_segments_department_and_tenure_of_evaluated_learners(spark):
    evaluated = spark.createDataFrame([(1,), (2,), (3,), (4,)], "learner_id bigint")
    learners = spark.createDataFrame(
        [(1, "Sales"), (2, None), (3, "Finance"), (5, "Sales")],  # 5 is not evaluated
        "learner_id bigint, department string",
    )
    train = spark.createDataFrame(
        [
            (1, 10, days_before_cutoff(5)),  # first engaged 5 days before: new
            (2, 10, days_before_cutoff(40)),  # 40 days: established
            (3, 10, days_before_cutoff(2)),
            (3, 11, days_before_cutoff(30)),  # its first engagement, exactly 30 days: established
            (5, 10, days_before_cutoff(90)),
        ],  # learner 4 has no training engagement: new
        "learner_id bigint, course_id bigint, first_ts timestamp",
    )

    out = learner_segments(evaluated, learners, train, CUTOFF, new_learner_days=30)

    expected = spark.createDataFrame(
        [
            (1, "department", "Sales"),
            (1, "tenure", "new"),
            (2, "department", "unknown"),
            (2, "tenure", "established"),
            (3, "department", "Finance"),
            (3, "tenure", "established"),
            (4, "department", "unknown"),
            (4, "tenure", "new"),
        ],
        SEGMENTS,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_popularity_percentiles_rank_the_whole_catalog(spark):
    catalog = spark.createDataFrame([(10,), (11,), (12,), (13,), (14,)], "course_id bigint")
    popularity = spark.createDataFrame(
        [(10, 3.0), (11, 1.0), (12, 3.0), (13, 2.0), (99, 5.0)],  # 99 left the catalog
        "course_id bigint, score double",
    )

    out = popularity_percentiles(catalog, popularity)

    # 14 was never engaged with: the least popular; 10 and 12 tie as the most popular
    expected = spark.createDataFrame(
        [(14, 0.0), (11, 0.25), (13, 0.5), (10, 0.75), (12, 0.75)], PERCENTILES
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_popularity_percentiles_of_a_single_course_catalog_is_zero(spark):
    catalog = spark.createDataFrame([(10,)], "course_id bigint")
    popularity = spark.createDataFrame([(10, 4.0)], "course_id bigint, score double")

    out = popularity_percentiles(catalog, popularity)

    assert_df_equality(out, spark.createDataFrame([(10, 0.0)], PERCENTILES), ignore_nullable=True)


def test_popularity_percentiles_equal_spark_percent_rank_over_the_catalog(spark):
    # 300 courses, scores with many ties (and unscored courses), as percent_rank over one
    # unpartitioned window ranks them
    catalog = spark.range(300).select(F.col("id").alias("course_id"))
    popularity = catalog.filter(F.col("course_id") % 7 != 0).select(
        "course_id", ((F.col("course_id") * 37) % 23).cast("double").alias("score")
    )

    out = popularity_percentiles(catalog, popularity)

    order = Window.orderBy(F.coalesce("score", F.lit(0.0)))
    expected = catalog.join(popularity, "course_id", "left").select(
        "course_id", F.percent_rank().over(order).alias("percentile")
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_segment_metrics_per_segment_hand_computed(spark):
    # top 2 of three learners; learner 3 got a single recommendation
    recommended = spark.createDataFrame(
        [(1, 1, 10, 0.9), (1, 2, 11, 0.8), (2, 1, 10, 0.9), (2, 2, 12, 0.7), (3, 1, 13, 0.5)],
        TOP,
    )
    relevant = spark.createDataFrame([(1, 11), (2, 12), (2, 13), (3, 13)], PAIRS)
    segments = spark.createDataFrame(
        [
            (1, "department", "A"),
            (2, "department", "A"),
            (3, "department", "B"),
            (1, "tenure", "new"),
            (2, "tenure", "established"),
            (3, "tenure", "established"),
        ],
        SEGMENTS,
    )
    percentiles = spark.createDataFrame(
        [(10, 1.0), (11, 1 / 3), (12, 2 / 3), (13, 0.0)], PERCENTILES
    )

    out = segment_metrics(recommended, relevant, segments, percentiles, k=2)

    g1, g2 = 1.0, 1 / math.log2(3)
    # (precision, recall, ndcg, average precision) per learner
    learner = {
        1: (0.5, 1.0, g2 / g1, 0.5),  # hit at rank 2 of one relevant course
        2: (0.5, 0.5, g2 / (g1 + g2), 0.25),  # hit at rank 2 of two
        3: (0.5, 1.0, 1.0, 1.0),  # hit at rank 1; precision still over k = 2
    }
    # (learners, distinct courses recommended, percentiles of the recommendations)
    groups = {
        ("all", "all"): ([1, 2, 3], 4, [1.0, 1 / 3, 1.0, 2 / 3, 0.0]),
        ("department", "A"): ([1, 2], 3, [1.0, 1 / 3, 1.0, 2 / 3]),
        ("department", "B"): ([3], 1, [0.0]),
        ("tenure", "new"): ([1], 2, [1.0, 1 / 3]),
        ("tenure", "established"): ([2, 3], 3, [1.0, 2 / 3, 0.0]),
    }
    expected = {}
    for (kind, segment), (members, courses, pcts) in groups.items():
        names = ("precision_at_2", "recall_at_2", "ndcg_at_2", "map_at_2")
        for i, name in enumerate(names):
            expected[kind, segment, name] = sum(learner[m][i] for m in members) / len(members)
        expected[kind, segment, "evaluated_learners"] = float(len(members))
        expected[kind, segment, "catalog_coverage"] = courses / 4
        expected[kind, segment, "popularity_percentile"] = sum(pcts) / len(pcts)
        expected[kind, segment, "top_decile_share"] = sum(p >= 0.9 for p in pcts) / len(pcts)
    got = {(r.segment_type, r.segment, r.metric): r.value for r in out.collect()}
    assert out.columns == ["segment_type", "segment", "metric", "value"]
    assert got == pytest.approx(expected)


def test_segment_metrics_segment_without_recommendations_covers_nothing(spark):
    recommended = spark.createDataFrame([(1, 1, 10, 0.9)], TOP)
    relevant = spark.createDataFrame([(1, 10), (2, 10)], PAIRS)
    segments = spark.createDataFrame([(1, "tenure", "established"), (2, "tenure", "new")], SEGMENTS)
    percentiles = spark.createDataFrame([(10, 1.0), (11, 0.0)], PERCENTILES)

    out = segment_metrics(recommended, relevant, segments, percentiles, k=1)

    got = {r.metric: r.value for r in out.collect() if r.segment == "new"}
    assert got == {
        "precision_at_1": 0.0,
        "recall_at_1": 0.0,
        "ndcg_at_1": 0.0,
        "map_at_1": 0.0,
        "evaluated_learners": 1.0,
        "catalog_coverage": 0.0,
        "popularity_percentile": 0.0,
        "top_decile_share": 0.0,
    }


@pytest.mark.parametrize(
    ("challenger", "champion", "same_recipe", "promote", "reason"),
    [
        (0.10, None, False, True, "no champion yet: challenger NDCG@10 0.1000 promoted"),
        (0.1746, 0.171, False, True, "challenger NDCG@10 0.1746 >= champion 0.1710 x 1.02"),
        (
            0.150,
            0.171,
            False,
            False,
            "challenger NDCG@10 0.1500 < champion 0.1710 x 1.02: the champion keeps scoring",
        ),
        # better, but not by the margin
        (
            0.1740,
            0.171,
            False,
            False,
            "challenger NDCG@10 0.1740 < champion 0.1710 x 1.02: the champion keeps scoring",
        ),
        (
            0.171,
            0.171,
            True,
            True,
            "same recipe as the champion: refreshed on newer data (NDCG@10 0.1710)",
        ),
    ],
)
def test_promotion_decision(challenger, champion, same_recipe, promote, reason):
    decision = promotion_decision(challenger, champion, 0.02, "NDCG@10", same_recipe=same_recipe)

    assert decision == (promote, reason)
