"""lakehouse.ranking: prediction/label arrays and ranking metrics against held-out courses."""

from __future__ import annotations

import math

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from lakehouse.ranking import learner_ranking_metrics, ranking_frame, ranking_metrics

TOP = "learner_id bigint, rank int, course_id bigint, score double"
PAIRS = "learner_id bigint, course_id bigint"


def test_ranking_frame_orders_predictions_by_rank_and_sorts_labels(spark):
    recommended = spark.createDataFrame(
        [
            # ranks arrive out of order, and rank 10 must come after rank 2
            (1, 10, 30, 0.1),
            (1, 2, 20, 0.5),
            (1, 1, 50, 0.9),
            (2, 1, 70, 0.8),
            # learner 4 has recommendations but no held-out courses: not evaluated
            (4, 1, 10, 0.9),
        ],
        TOP,
    )
    relevant = spark.createDataFrame(
        [(1, 40), (1, 20), (1, 20), (2, 70), (3, 60)],  # learner 3 got no recommendations
        PAIRS,
    )

    out = ranking_frame(recommended, relevant)

    expected = spark.createDataFrame(
        [
            (1, [50.0, 20.0, 30.0], [20.0, 40.0]),
            (2, [70.0], [70.0]),
            (3, [], [60.0]),
        ],
        "learner_id bigint, prediction array<double>, label array<double>",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_ranking_metrics_one_learner_hand_computed(spark):
    recommended = spark.createDataFrame([(1, 1, 1, 0.9), (1, 2, 2, 0.8), (1, 3, 3, 0.7)], TOP)
    relevant = spark.createDataFrame([(1, 2)], PAIRS)

    out = ranking_metrics(recommended, relevant, k=3)

    # one hit, at position 2 of 3, one relevant course
    assert set(out) == {
        "precision_at_3",
        "recall_at_3",
        "ndcg_at_3",
        "map_at_3",
        "evaluated_learners",
    }
    assert out["precision_at_3"] == pytest.approx(1 / 3)
    assert out["recall_at_3"] == pytest.approx(1.0)
    assert out["ndcg_at_3"] == pytest.approx((1 / math.log2(3)) / (1 / math.log2(2)))
    assert out["map_at_3"] == pytest.approx(1 / 2)
    assert out["evaluated_learners"] == 1.0


def test_ranking_metrics_average_over_learners_including_those_without_recommendations(spark):
    recommended = spark.createDataFrame(
        [(1, 1, 5, 0.9), (1, 2, 6, 0.8), (2, 1, 7, 0.5), (2, 2, 8, 0.4)], TOP
    )
    # learner 1: both relevant courses at ranks 1 and 2; learner 2: one of two relevant
    # courses, at rank 2; learner 3: nothing recommended
    relevant = spark.createDataFrame([(1, 5), (1, 6), (2, 8), (2, 9), (3, 5)], PAIRS)

    out = ranking_metrics(recommended, relevant, k=2)

    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert out["evaluated_learners"] == 3.0
    assert out["precision_at_2"] == pytest.approx((1.0 + 1 / 2 + 0.0) / 3)
    assert out["recall_at_2"] == pytest.approx((1.0 + 1 / 2 + 0.0) / 3)
    assert out["ndcg_at_2"] == pytest.approx((1.0 + (1 / math.log2(3)) / ideal + 0.0) / 3)
    # average precision: the precision at each hit, over min(|relevant|, k)
    assert out["map_at_2"] == pytest.approx((1.0 + (1 / 2) / 2 + 0.0) / 3)


def test_ranking_metrics_without_held_out_courses_raises(spark):
    recommended = spark.createDataFrame([(1, 1, 5, 0.9)], TOP)
    relevant = spark.createDataFrame([], PAIRS)

    with pytest.raises(ValueError, match="nothing to evaluate"):
        ranking_metrics(recommended, relevant, k=10)


def test_learner_ranking_metrics_hand_computed_per_learner(spark):
    recommended = spark.createDataFrame(
        [(1, 1, 5, 0.9), (1, 2, 6, 0.8), (1, 3, 7, 0.7), (2, 1, 7, 0.5), (2, 2, 8, 0.4)], TOP
    )
    # learner 1: hits at ranks 1 and 3 (rank 3 beyond k = 2), 3 relevant; learner 2: a hit at
    # rank 2 of 1 relevant; learner 3: nothing recommended
    relevant = spark.createDataFrame([(1, 5), (1, 7), (1, 9), (2, 8), (3, 5)], PAIRS)

    out = learner_ranking_metrics(recommended, relevant, k=2)

    g1, g2 = 1 / math.log2(2), 1 / math.log2(3)
    expected = spark.createDataFrame(
        [
            (1, 1 / 2, 1 / 3, g1 / (g1 + g2), 1.0 / 2),
            (2, 1 / 2, 1.0, g2 / g1, (1 / 2) / 1),
            (3, 0.0, 0.0, 0.0, 0.0),
        ],
        "learner_id bigint, precision double, recall double, ndcg double, average_precision double",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_learner_ranking_metrics_average_to_the_ranking_evaluator_metrics(spark):
    recommended = spark.createDataFrame(
        [(u, r, (u * 7 + r * 3) % 11, 1.0 / r) for u in range(1, 7) for r in range(1, 6)], TOP
    )
    relevant = spark.createDataFrame(
        [(u, c) for u in range(1, 8) for c in range(11) if (u + c) % 4 == 0], PAIRS
    )

    per_learner = learner_ranking_metrics(recommended, relevant, k=4)
    means = per_learner.agg(
        *[F.avg(c).alias(c) for c in ("precision", "recall", "ndcg", "average_precision")]
    ).first()
    reference = ranking_metrics(recommended, relevant, k=4)

    assert per_learner.count() == reference["evaluated_learners"] == 7
    assert means["precision"] == pytest.approx(reference["precision_at_4"])
    assert means["recall"] == pytest.approx(reference["recall_at_4"])
    assert means["ndcg"] == pytest.approx(reference["ndcg_at_4"])
    assert means["average_precision"] == pytest.approx(reference["map_at_4"])
