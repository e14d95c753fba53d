"""lakehouse.recommendations: ALS scores, top-K per learner and gold.recommendations rows."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from lakehouse.recommendations import (
    RECOMMENDATION_COLUMNS,
    factor_scores,
    popularity_candidates,
    recommendation_rows,
    top_k,
)

CANDIDATES = "learner_id bigint, course_id bigint, score double"
TOP = "learner_id bigint, rank int, course_id bigint, score double"


def test_factor_scores_are_dot_products_for_requested_learners_with_factors(spark):
    learners = spark.createDataFrame([(1,), (1,), (2,), (3,)], "learner_id bigint")
    learner_factors = spark.createDataFrame(
        [(1, [1.0, 2.0]), (2, [0.5, -1.0]), (4, [9.0, 9.0])], "id int, features array<float>"
    )
    course_factors = spark.createDataFrame(
        [(10, [3.0, 0.5]), (11, [-1.0, 2.0])], "id int, features array<float>"
    )

    out = factor_scores(learners, learner_factors, course_factors)

    # learner 3 has no factors, learner 4 was not asked for
    expected = spark.createDataFrame(
        [
            (1, 10, 1.0 * 3.0 + 2.0 * 0.5),
            (1, 11, 1.0 * -1.0 + 2.0 * 2.0),
            (2, 10, 0.5 * 3.0 + -1.0 * 0.5),
            (2, 11, 0.5 * -1.0 + -1.0 * 2.0),
        ],
        CANDIDATES,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_popularity_candidates_pair_every_learner_with_every_scored_course(spark):
    learners = spark.createDataFrame([(1,), (2,), (2,)], "learner_id bigint")
    popularity = spark.createDataFrame([(10, 3.0), (11, 1.0)], "course_id bigint, score double")

    out = popularity_candidates(learners, popularity)

    expected = spark.createDataFrame(
        [(1, 10, 3.0), (1, 11, 1.0), (2, 10, 3.0), (2, 11, 1.0)], CANDIDATES
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_top_k_ranks_by_score_then_course_id_excluding_seen_pairs(spark):
    candidates = spark.createDataFrame(
        [
            (1, 13, 0.1),
            (1, 12, 0.5),
            (1, 14, 0.95),  # seen: excluded
            (1, 11, 0.5),
            (1, 10, 0.9),
            (2, 14, 0.3),  # not seen by learner 2
            (2, 10, 0.2),
            (3, 10, 0.7),  # seen: learner 3 has nothing left
        ],
        CANDIDATES,
    )
    exclude = spark.createDataFrame(
        [(1, 14, 5.0), (1, 14, 5.0), (3, 10, 1.0), (2, 99, 1.0)],
        "learner_id bigint, course_id bigint, confidence double",
    )

    out = top_k(candidates, exclude, k=3)

    expected = spark.createDataFrame(
        [
            (1, 1, 10, 0.9),
            (1, 2, 11, 0.5),
            (1, 3, 12, 0.5),
            (2, 1, 14, 0.3),
            (2, 2, 10, 0.2),
        ],
        TOP,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_top_k_with_k_1_keeps_only_the_best(spark):
    candidates = spark.createDataFrame([(1, 12, 2.0), (1, 11, 2.0), (1, 10, -1.0)], CANDIDATES)
    exclude = spark.createDataFrame([], "learner_id bigint, course_id bigint")

    out = top_k(candidates, exclude, k=1)

    assert_df_equality(out, spark.createDataFrame([(1, 1, 11, 2.0)], TOP), ignore_nullable=True)


@pytest.mark.parametrize("k", [0, -3])
def test_top_k_rejects_k_below_1(spark, k):
    candidates = spark.createDataFrame([(1, 10, 1.0)], CANDIDATES)
    exclude = spark.createDataFrame([], "learner_id bigint, course_id bigint")

    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k(candidates, exclude, k=k)


def test_recommendation_rows_types_and_rounding(spark):
    top = spark.createDataFrame(
        [(1, 1, 10, 0.98765432), (1, 2, 11, -1.23456789), (2, 1, 10, 2.0000004)],
        "learner_id int, rank long, course_id int, score double",
    )

    out = recommendation_rows(top, dt.date(2026, 11, 1), "7")

    assert tuple(out.columns) == RECOMMENDATION_COLUMNS
    expected = spark.createDataFrame(
        [
            (dt.date(2026, 11, 1), 1, 1, 10, 0.987654, "7"),
            (dt.date(2026, 11, 1), 1, 2, 11, -1.234568, "7"),
            (dt.date(2026, 11, 1), 2, 1, 10, 2.0, "7"),
        ],
        "run_date date, learner_id bigint, rank int, course_id bigint, score double, "
        "model_version string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
