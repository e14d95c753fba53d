"""lakehouse.learning_paths: recommended courses ordered by prerequisites, level and rank."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from lakehouse.learning_paths import PATH_SCHEMA, learning_paths

COURSES = (
    "course_id bigint, course_code string, title string, level string, prerequisites array<string>"
)
RECS = "learner_id bigint, rank int, course_id bigint, reason string"
PAIRS = "learner_id bigint, course_id bigint"
DAY = dt.date(2026, 11, 1)
PRE_DA = "prerequisite of Data Analysis"
PRE_ML = "prerequisite of Machine Learning"


def catalog(spark):
    return spark.createDataFrame(
        [
            (1, "PY-101", "Python Basics", "Beginner", []),
            (2, "PY-201", "Data Analysis", "Intermediate", ["PY-101"]),
            (3, "ML-301", "Machine Learning", "Advanced", ["PY-201", "ST-101", "XX-999"]),
            (4, "ST-101", "Statistics", "Beginner", []),
            (5, "LD-101", "Leadership", "Intermediate", []),
            (6, "CY-A", "Cycle A", "Beginner", ["CY-B"]),
            (7, "CY-B", "Cycle B", "Beginner", ["CY-A"]),
            (8, "NO-LVL", "No Level", None, []),
            (9, "ADV-1", "Advanced Only", "Advanced", []),
        ],
        COURSES,
    )


def test_prerequisites_come_first_and_missing_ones_are_added(spark):
    recs = spark.createDataFrame(
        [
            (1, 1, 3, "similar to X"),  # needs PY-201 (needs PY-101) and ST-101
            (1, 2, 5, "popular with Sales"),
            (1, 3, 8, "similar to Y"),
            (1, 4, 2, "similar to Z"),  # recommended and a prerequisite of 3
            (2, 1, 3, "similar to X"),
        ],
        RECS,
    )
    # learner 2 completed PY-101 and ST-101: only PY-201 is missing
    completed = spark.createDataFrame([(2, 1), (2, 4), (1, 9)], PAIRS)

    out = learning_paths(recs, catalog(spark), completed, DAY)

    expected = spark.createDataFrame(
        [
            # Beginners first (added prerequisites take the rank of what they unlock),
            (DAY, 1, 1, 1, "PY-101", "Python Basics", "Beginner", None, PRE_DA),
            (DAY, 1, 2, 4, "ST-101", "Statistics", "Beginner", None, PRE_ML),
            # then intermediates by rank: 2 (rank 4, but unlocking rank 1) before 5 (rank 2),
            (DAY, 1, 3, 2, "PY-201", "Data Analysis", "Intermediate", 4, "similar to Z"),
            (DAY, 1, 4, 5, "LD-101", "Leadership", "Intermediate", 2, "popular with Sales"),
            (DAY, 1, 5, 3, "ML-301", "Machine Learning", "Advanced", 1, "similar to X"),
            (DAY, 1, 6, 8, "NO-LVL", "No Level", None, 3, "similar to Y"),  # unknown level last
            (DAY, 2, 1, 2, "PY-201", "Data Analysis", "Intermediate", None, PRE_ML),
            (DAY, 2, 2, 3, "ML-301", "Machine Learning", "Advanced", 1, "similar to X"),
        ],
        PATH_SCHEMA,
    )  # fmt: skip
    assert_df_equality(out.orderBy("learner_id", "step"), expected, ignore_nullable=True)


def test_level_and_rank_order_a_path_without_prerequisites(spark):
    recs = spark.createDataFrame(
        [(1, 1, 9, "a"), (1, 2, 5, "b"), (1, 3, 4, "c"), (1, 4, 1, "d")], RECS
    )
    completed = spark.createDataFrame([], PAIRS)

    out = learning_paths(recs, catalog(spark), completed, DAY)

    expected = spark.createDataFrame(
        [
            (DAY, 1, 1, 4, "ST-101", "Statistics", "Beginner", 3, "c"),
            (DAY, 1, 2, 1, "PY-101", "Python Basics", "Beginner", 4, "d"),
            (DAY, 1, 3, 5, "LD-101", "Leadership", "Intermediate", 2, "b"),
            (DAY, 1, 4, 9, "ADV-1", "Advanced Only", "Advanced", 1, "a"),
        ],
        PATH_SCHEMA,
    )
    assert_df_equality(out.orderBy("step"), expected, ignore_nullable=True)


def test_a_prerequisite_cycle_is_broken_at_its_first_course(spark):
    # 7 needs 6 and 6 needs 7: both lead to rank 1, so 7 (recommended at rank 1) goes first.
    recs = spark.createDataFrame([(1, 1, 7, "x"), (1, 2, 6, "y")], RECS)
    completed = spark.createDataFrame([], PAIRS)

    out = learning_paths(recs, catalog(spark), completed, DAY)

    expected = spark.createDataFrame(
        [
            (DAY, 1, 1, 7, "CY-B", "Cycle B", "Beginner", 1, "x"),
            (DAY, 1, 2, 6, "CY-A", "Cycle A", "Beginner", 2, "y"),
        ],
        PATH_SCHEMA,
    )
    assert_df_equality(out.orderBy("step"), expected, ignore_nullable=True)
