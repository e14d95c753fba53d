"""lakehouse.recommendations: ALS scores, top-K per learner and gold.recommendations rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_df_equality

from lakehouse.recommendations import (
    RANKED_SCHEMA,
    RECOMMENDATION_COLUMNS,
    blended_recommendations,
    blocked_top_k,
    factor_scores,
    hybrid_recommendations,
    popular_in_department,
    popularity_candidates,
    recommendation_rows,
    top_k,
)

CANDIDATES = "learner_id bigint, course_id bigint, score double"
TOP = "learner_id bigint, rank int, course_id bigint, score double"
FACTORS = "id int, features array<float>"
PAIRS = "learner_id bigint, course_id bigint"
DAY = dt.date(2026, 11, 1)
CATALOG = "popular across the catalog"


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
        [
            (1, 1, 10, 0.98765432, "als", "similar to A"),
            (1, 2, 11, -1.23456789, "content", "similar to B"),
            (2, 1, 10, 2.0000004, "popular", "popular across the catalog"),
        ],
        "learner_id int, rank long, course_id int, score double, strategy string, reason string",
    )

    out = recommendation_rows(top, dt.date(2026, 11, 1), "course_recommender", "7")

    assert tuple(out.columns) == RECOMMENDATION_COLUMNS
    expected = spark.createDataFrame(
        [
            (DAY, 1, 1, 10, 0.987654, "course_recommender", "7", "als", "similar to A"),
            (DAY, 1, 2, 11, -1.234568, "course_recommender", "7", "content", "similar to B"),
            (DAY, 2, 1, 10, 2.0, "course_recommender", "7", "popular", CATALOG),
        ],
        "run_date date, learner_id bigint, rank int, course_id bigint, score double, "
        "model_name string, model_version string, strategy string, reason string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def assert_same_top_k(out, expected):
    """Both top-k DataFrames hold the same rows, compared in (learner_id, rank) order."""
    assert_df_equality(
        out.orderBy("learner_id", "rank"),
        expected.orderBy("learner_id", "rank"),
        ignore_nullable=True,
    )


def brute_force_top_k(learners, learner_factors, course_factors, exclude, k):
    return top_k(factor_scores(learners, learner_factors, course_factors), exclude, k)


def test_blocked_top_k_equals_brute_force_with_ties_exclusions_and_few_courses(spark):
    learners = spark.createDataFrame([(1,), (2,), (2,), (3,), (4,), (5,)], "learner_id bigint")
    learner_factors = spark.createDataFrame(
        [
            (1, [1.0, 0.0]),  # courses 10, 11 and 13 tie at 1.0
            (2, [0.5, -2.0]),
            (3, [0.0, 1.0]),  # every course excluded: no rows
            (4, [0.0, 0.0]),  # all scores 0: ranked by course_id
            (6, [9.0, 9.0]),  # not asked for
        ],
        FACTORS,
    )  # learner 5 has no factors
    course_factors = spark.createDataFrame(
        [(13, [1.0, 0.25]), (10, [1.0, 0.5]), (12, [2.0, -1.0]), (11, [1.0, 0.125])], FACTORS
    )
    exclude = spark.createDataFrame(
        [(1, 12), (1, 12), (2, 99), (3, 10), (3, 11), (3, 12), (3, 13)], PAIRS
    )

    for k in (1, 2, 3, 10):  # 10 > the 4 courses: fewer rows
        out = blocked_top_k(learners, learner_factors, course_factors, exclude, k)
        expected = brute_force_top_k(learners, learner_factors, course_factors, exclude, k)
        assert_same_top_k(out, expected)


def test_blocked_top_k_of_tiny_blocks_ranks_ties_by_course_id(spark):
    learners = spark.createDataFrame([(1,), (2,)], "learner_id bigint")
    learner_factors = spark.createDataFrame([(1, [1.0, 0.0]), (2, [0.0, 1.0])], FACTORS)
    course_factors = spark.createDataFrame(
        [(12, [1.0, 1.0]), (10, [1.0, 2.0]), (11, [1.0, 3.0])], FACTORS
    )
    exclude = spark.createDataFrame([(2, 11)], PAIRS)

    out = blocked_top_k(learners, learner_factors, course_factors, exclude, 2, block_cells=1)

    expected = spark.createDataFrame(
        [(1, 1, 10, 1.0), (1, 2, 11, 1.0), (2, 1, 10, 2.0), (2, 2, 12, 1.0)], TOP
    )
    assert_df_equality(out.orderBy("learner_id", "rank"), expected, ignore_nullable=True)


def test_blocked_top_k_equals_brute_force_on_random_factors(spark):
    rng = np.random.default_rng(7)
    learner_factors = spark.createDataFrame(
        [(i, rng.normal(size=8).tolist()) for i in range(200)], FACTORS
    )
    course_factors = spark.createDataFrame(
        [(100 + j, rng.normal(size=8).tolist()) for j in range(50)], FACTORS
    )
    learners = spark.createDataFrame([(i,) for i in range(0, 220, 2)], "learner_id bigint")
    exclude = spark.createDataFrame(
        [
            (int(i), int(100 + j))
            for i, j in zip(rng.integers(0, 200, 600), rng.integers(0, 60, 600), strict=True)
        ],
        PAIRS,
    )

    out = blocked_top_k(learners, learner_factors, course_factors, exclude, 10, block_cells=500)
    expected = brute_force_top_k(learners, learner_factors, course_factors, exclude, 10)

    # Scores are computed as factor_scores does (float products summed in double): equal
    # to the last bit, not only within a tolerance.
    assert expected.count() == 100 * 10
    assert_same_top_k(out, expected)


def test_blocked_top_k_without_exclusions_equals_brute_force_over_every_course(spark):
    learners = spark.createDataFrame([(1,), (2,), (2,), (3,)], "learner_id bigint")
    learner_factors = spark.createDataFrame(
        [(1, [1.0, 0.0]), (2, [0.5, -2.0]), (3, [0.0, 1.0])], FACTORS
    )
    course_factors = spark.createDataFrame(
        [(13, [1.0, 0.25]), (10, [1.0, 0.5]), (12, [2.0, -1.0]), (11, [1.0, 0.125])], FACTORS
    )
    nothing = spark.createDataFrame([], PAIRS)

    out = blocked_top_k(learners, learner_factors, course_factors, None, 3)

    expected = brute_force_top_k(learners, learner_factors, course_factors, nothing, 3)
    assert expected.count() == 3 * 3
    assert_same_top_k(out, expected)


def test_blocked_top_k_of_every_learner_equals_brute_force_over_the_factor_rows(spark):
    rng = np.random.default_rng(11)
    learner_factors = spark.createDataFrame(
        [(i, rng.normal(size=4).tolist()) for i in range(30)], FACTORS
    )
    course_factors = spark.createDataFrame(
        [(100 + j, rng.normal(size=4).tolist()) for j in range(12)], FACTORS
    )
    exclude = spark.createDataFrame([(i, 100 + i % 12) for i in range(0, 40, 3)], PAIRS)
    everyone = spark.createDataFrame([(i,) for i in range(30)], "learner_id bigint")

    out = blocked_top_k(None, learner_factors, course_factors, exclude, 5)

    expected = brute_force_top_k(everyone, learner_factors, course_factors, exclude, 5)
    assert expected.count() == 30 * 5
    assert_same_top_k(out, expected)


def test_blocked_top_k_of_no_learners_or_no_courses_is_empty(spark):
    learner_factors = spark.createDataFrame([(1, [1.0, 2.0])], FACTORS)
    course_factors = spark.createDataFrame([(10, [1.0, 1.0])], FACTORS)
    learners = spark.createDataFrame([(1,)], "learner_id bigint")
    nobody = spark.createDataFrame([], "learner_id bigint")
    no_courses = spark.createDataFrame([], FACTORS)
    exclude = spark.createDataFrame([], PAIRS)
    empty = spark.createDataFrame([], TOP)

    for out in (
        blocked_top_k(nobody, learner_factors, course_factors, exclude, 3),
        blocked_top_k(learners, learner_factors, no_courses, exclude, 3),
    ):
        assert_df_equality(out, empty, ignore_nullable=True)


@pytest.mark.parametrize("k", [0, -1])
def test_blocked_top_k_rejects_k_below_1(spark, k):
    factors = spark.createDataFrame([(1, [1.0])], FACTORS)
    learners = spark.createDataFrame([(1,)], "learner_id bigint")
    exclude = spark.createDataFrame([], PAIRS)

    with pytest.raises(ValueError, match="k must be at least 1"):
        blocked_top_k(learners, factors, factors, exclude, k)


PEOPLE = "learner_id bigint, department string, job_role string"
LIKED = "liked by learners whose activity is like yours"
LIKE_YOURS = "like the courses you engaged with"


def test_popular_in_department_falls_back_to_role_then_everyone(spark):
    people = spark.createDataFrame(
        [
            (1, "Sales", "Analyst"),
            (2, "Sales", "Manager"),
            (3, "IT", "Analyst"),
            (4, "Sales", "Analyst"),  # cold start
            (5, None, None),  # cold start, nothing known
        ],
        PEOPLE,
    )
    engagement = spark.createDataFrame(
        [(1, 10), (2, 10), (2, 11), (3, 12), (3, 13), (1, 12), (3, 14)], PAIRS
    )
    exclude = spark.createDataFrame([(4, 11)], PAIRS)
    learners = spark.createDataFrame([(4,), (5,)], "learner_id bigint")

    out = popular_in_department(learners, people, engagement, exclude, k=4)

    expected = spark.createDataFrame(
        [
            (4, 1, 10, 2.0, "popular_in_department", "popular with Sales learners"),
            (4, 2, 12, 1.0, "popular_in_department", "popular with Sales learners"),
            # 11 is excluded; Analysts (1, 3) engaged with 12 (taken) and 13, 14 once each
            (4, 3, 13, 1.0, "popular_in_department", "popular with learners in your role"),
            (4, 4, 14, 1.0, "popular_in_department", "popular with learners in your role"),
            (5, 1, 10, 2.0, "popular", CATALOG),
            (5, 2, 12, 2.0, "popular", CATALOG),
            (5, 3, 11, 1.0, "popular", CATALOG),
            (5, 4, 13, 1.0, "popular", CATALOG),
        ],
        RANKED_SCHEMA,
    )
    assert_df_equality(out.orderBy("learner_id", "rank"), expected, ignore_nullable=True)


def test_blended_recommendations_give_new_courses_their_slots_and_cold_starts_fallbacks(spark):
    def ranked(rows):
        return spark.createDataFrame(
            [
                (learner, rank, course, 1.0 / rank, strategy, None)
                for learner, rank, course, strategy in rows
            ],
            RANKED_SCHEMA,
        )

    als = ranked([(1, r, 10 + r, "als") for r in range(1, 5)] + [(2, 1, 11, "als")])
    new_courses = ranked([(1, 1, 90, "content"), (1, 2, 91, "content"), (3, 1, 90, "content")])
    content = ranked([(1, 1, 50, "content"), (3, 1, 51, "content"), (3, 2, 52, "content")])
    popular = ranked([(3, 1, 60, "popular"), (4, 1, 61, "popular"), (4, 2, 62, "popular")])

    out = blended_recommendations(als, new_courses, content, popular, k=3)

    expected = spark.createDataFrame(
        [
            (1, 1, 11, 1.0, "als", None),  # als first, then its new-course slots
            (1, 2, 90, 1.0, "content", None),
            (1, 3, 91, 0.5, "content", None),
            (2, 1, 11, 1.0, "als", None),  # no new course for learner 2
            (3, 1, 51, 1.0, "content", None),  # no factors: content, not popular
            (3, 2, 52, 0.5, "content", None),
            (4, 1, 61, 1.0, "popular", None),  # no history: popular
            (4, 2, 62, 0.5, "popular", None),
        ],
        RANKED_SCHEMA,
    )
    assert_df_equality(out.orderBy("learner_id", "rank"), expected, ignore_nullable=True)


HYBRID_COURSES = (
    "course_id bigint, course_code string, title string, description string, "
    "skills array<string>, category string, level string, item_type string, "
    "prerequisites array<string>"
)


def hybrid_world(spark):
    courses = spark.createDataFrame(
        [
            (
                10,
                "PY-1",
                "Python Basics",
                "Write python scripts with loops.",
                ["python"],
                "Data",
                "Beginner",
                "course",
                [],
            ),
            (
                11,
                "PY-2",
                "Pandas Analysis",
                "Analyse dataframes with pandas and python.",
                ["pandas", "python"],
                "Data",
                "Intermediate",
                "course",
                ["PY-1"],
            ),
            (
                12,
                "LD-1",
                "Leading Teams",
                "Coach people and give feedback.",
                ["leadership"],
                "Management",
                "Beginner",
                "course",
                [],
            ),
            (
                13,
                "NG-1",
                "Negotiation",
                "Close deals and settle conflict.",
                ["negotiation"],
                "Management",
                "Intermediate",
                "course",
                [],
            ),
            # brand new: nobody engaged with it, so ALS has no factors for it
            (
                14,
                "PD-3",
                "Pandas Performance",
                "Fast pandas dataframes in python.",
                ["pandas"],
                "Data",
                "Advanced",
                "course",
                ["PY-2"],
            ),
        ],
        HYBRID_COURSES,
    )
    people = spark.createDataFrame(
        [
            (1, "Engineering", "Analyst"),
            (2, "Engineering", "Analyst"),
            (3, "Sales", "Manager"),
            (4, "Engineering", "Developer"),  # no events, no enrolments
            (5, "Sales", "Analyst"),  # enrolled in 12, no events: no ALS factors
        ],
        PEOPLE,
    )
    engagement = spark.createDataFrame(
        [(1, 10), (1, 11), (2, 10), (2, 12), (3, 12), (3, 13), (5, 12)], PAIRS
    )
    completed = spark.createDataFrame([(1, 10), (3, 12)], PAIRS)
    learner_factors = spark.createDataFrame(
        [(1, [1.0, 0.0]), (2, [0.2, 1.0]), (3, [0.0, 1.0])], FACTORS
    )
    course_factors = spark.createDataFrame(
        [(10, [1.0, 0.0]), (11, [0.9, 0.1]), (12, [0.1, 0.9]), (13, [0.0, 1.0])], FACTORS
    )
    learners = spark.createDataFrame([(i,) for i in range(1, 6)], "learner_id bigint")
    return learners, people, engagement, completed, courses, learner_factors, course_factors


def test_hybrid_recommendations_cover_cold_learners_and_new_courses_with_reasons(spark):
    world = hybrid_world(spark)

    out = hybrid_recommendations(
        *world, k=4, new_course_slots=1, min_similarity=0.05, num_features=256
    )

    expected = spark.createDataFrame(
        [
            (1, 1, 11, "als", "similar to Python Basics"),
            (1, 2, 12, "als", LIKED),  # shares no term with what learner 1 engaged with
            (1, 3, 13, "als", LIKED),
            # the brand-new course reaches the Python learners through its content
            (1, 4, 14, "content", "similar to Pandas Analysis"),
            (2, 1, 13, "als", "similar to Leading Teams"),
            (2, 2, 12, "als", LIKED),  # engaged with 12 itself: not similar to itself
            (2, 3, 11, "als", "similar to Python Basics"),
            (2, 4, 14, "content", "similar to Python Basics"),
            # 12 completed; nothing like 14 in learner 3's history: no new-course slot
            (3, 1, 13, "als", "similar to Leading Teams"),
            (3, 2, 11, "als", LIKED),
            (3, 3, 10, "als", LIKED),
            # no events, no enrolments: their department, then everyone
            (4, 1, 10, "popular_in_department", "popular with Engineering learners"),
            (4, 2, 11, "popular_in_department", "popular with Engineering learners"),
            (4, 3, 12, "popular_in_department", "popular with Engineering learners"),
            (4, 4, 13, "popular", "popular across the catalog"),
            # only an enrolment (12), no factors: content, never 12 itself
            (5, 1, 13, "content", "similar to Leading Teams"),
            (5, 2, 10, "content", LIKE_YOURS),
            (5, 3, 11, "content", LIKE_YOURS),
            (5, 4, 14, "content", LIKE_YOURS),
        ],
        "learner_id bigint, rank int, course_id bigint, strategy string, reason string",
    )
    assert_df_equality(
        out.drop("score").orderBy("learner_id", "rank"), expected, ignore_nullable=True
    )
