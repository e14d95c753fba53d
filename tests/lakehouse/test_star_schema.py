"""lakehouse.star_schema: the gold dimensions, the daily activity fact and course statistics."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.star_schema import (
    course_dimension,
    course_key,
    course_statistics,
    date_dimension,
    learner_dimension,
    learner_key,
    learning_activity_facts,
)

DIM_DATE = (
    "date_key int, date date, year int, quarter int, month int, month_name string, "
    "day_of_month int, day_of_week int, day_name string, iso_week int, is_weekend boolean"
)
D = dt.date


def _keys(spark, key_fn, ids):
    """{id: key} from the surrogate-key function itself, for bigint natural keys."""
    df = spark.createDataFrame([(i,) for i in ids], "id bigint")
    return {r.id: r.key for r in df.select("id", key_fn("id").alias("key")).collect()}


def test_surrogate_keys_are_stable_and_differ_between_learners_and_courses(spark):
    df = spark.createDataFrame([(1,), (2,), (1,)], "id bigint")
    rows = df.select(
        "id", learner_key("id").alias("lk"), course_key(F.col("id")).alias("ck")
    ).collect()

    by_id = {}
    for r in rows:
        by_id.setdefault(r.id, set()).add((r.lk, r.ck))
    assert all(len(keys) == 1 for keys in by_id.values())  # same id, same keys
    (lk1, ck1), (lk2, ck2) = by_id[1].pop(), by_id[2].pop()
    assert len({lk1, ck1, lk2, ck2}) == 4
    assert all(isinstance(k, int) for k in (lk1, ck1, lk2, ck2))


def test_learner_dimension(spark):
    learners = spark.createDataFrame(
        [
            (1, "Ada", "Data", "Engineer", "GB", dt.datetime(2020, 1, 15), dt.datetime(2026, 6, 1)),
            (2, "Grace", "Ops", "SRE", "US", None, dt.datetime(2026, 1, 2)),
        ],
        "learner_id bigint, name string, department string, job_role string, country string, "
        "hired_at timestamp, updated_at timestamp",
    )
    keys = _keys(spark, learner_key, [1, 2])

    out = learner_dimension(learners)

    expected = spark.createDataFrame(
        [
            (keys[1], 1, "Ada", "Data", "Engineer", "GB", dt.datetime(2020, 1, 15)),
            (keys[2], 2, "Grace", "Ops", "SRE", "US", None),
        ],
        "learner_key bigint, learner_id bigint, name string, department string, "
        "job_role string, country string, hired_at timestamp",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_course_dimension(spark):
    courses = spark.createDataFrame(
        [
            (10, "ML-101", "ML", "Acme", "Data", "Beginner", 6, "Intro", ["python"], ["PY-1"],
             "https://c/ml", True, "h1", dt.datetime(2026, 3, 1)),
            (11, "OPS-1", "Ops", "Acme", "Ops", None, 2, None, [], [], None, False, None,
             dt.datetime(2026, 3, 2)),
        ],
        "course_id bigint, course_code string, title string, provider string, category string, "
        "level string, duration_hours int, description string, skills array<string>, "
        "prerequisites array<string>, catalog_url string, in_catalog boolean, "
        "catalog_content_hash string, updated_at timestamp",
    )  # fmt: skip
    keys = _keys(spark, course_key, [10, 11])

    out = course_dimension(courses)

    expected = spark.createDataFrame(
        [
            (keys[10], 10, "ML-101", "ML", "Acme", "Data", "Beginner", 6, ["python"], ["PY-1"],
             "Intro", "https://c/ml", True),
            (keys[11], 11, "OPS-1", "Ops", "Acme", "Ops", None, 2, [], [], None, None, False),
        ],
        "course_key bigint, course_id bigint, course_code string, title string, "
        "provider string, category string, level string, duration_hours int, "
        "skills array<string>, prerequisites array<string>, description string, "
        "catalog_url string, in_catalog boolean",
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_date_dimension_spans_min_to_max_with_iso_weekdays(spark):
    dates = spark.createDataFrame(
        [(D(2026, 11, 2),), (D(2026, 10, 30),), (None,), (D(2026, 11, 1),), (D(2026, 11, 2),)],
        "event_date date",
    )

    out = date_dimension(dates)

    expected = spark.createDataFrame(
        [
            (20261030, D(2026, 10, 30), 2026, 4, 10, "October", 30, 5, "Friday", 44, False),
            (20261031, D(2026, 10, 31), 2026, 4, 10, "October", 31, 6, "Saturday", 44, True),
            (20261101, D(2026, 11, 1), 2026, 4, 11, "November", 1, 7, "Sunday", 44, True),
            (20261102, D(2026, 11, 2), 2026, 4, 11, "November", 2, 1, "Monday", 45, False),
        ],
        DIM_DATE,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_date_dimension_iso_week_across_new_year(spark):
    dates = spark.createDataFrame([(D(2027, 1, 4),), (D(2026, 12, 31),)], "activity_date date")

    out = date_dimension(dates, date_column="activity_date")

    expected = spark.createDataFrame(
        [
            (20261231, D(2026, 12, 31), 2026, 4, 12, "December", 31, 4, "Thursday", 53, False),
            (20270101, D(2027, 1, 1), 2027, 1, 1, "January", 1, 5, "Friday", 53, False),
            (20270102, D(2027, 1, 2), 2027, 1, 1, "January", 2, 6, "Saturday", 53, True),
            (20270103, D(2027, 1, 3), 2027, 1, 1, "January", 3, 7, "Sunday", 53, True),
            (20270104, D(2027, 1, 4), 2027, 1, 1, "January", 4, 1, "Monday", 1, False),
        ],
        DIM_DATE,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_date_dimension_without_dates_is_empty(spark):
    dates = spark.createDataFrame([(None,)], "event_date date")

    assert date_dimension(dates).count() == 0


def test_learning_activity_facts_aggregate_per_learner_course_and_day(spark):
    d5, d6 = D(2026, 10, 5), D(2026, 10, 6)
    interactions = spark.createDataFrame(
        [
            (1, 10, "view", d5, 10.0, 1.0),
            (1, 10, "view", d5, 5.0, 1.0),
            (1, 10, "progress", d5, 0.25, 2.0),
            (1, 10, "progress", d5, 0.75, 2.0),
            (1, 10, "quiz", d5, 0.75, 3.0),
            (1, 10, "quiz", d5, 0.25, 3.0),
            (1, 10, "complete", d5, None, 6.0),
            (1, 10, "rate", d5, 4.0, 4.0),
            (1, 10, "view", d6, 2.0, 1.0),
            (2, 10, "progress", d5, 0.5, 2.0),
        ],
        "learner_id bigint, course_id bigint, event_type string, event_date date, value double, "
        "weight double",
    )
    lk = _keys(spark, learner_key, [1, 2])
    ck = _keys(spark, course_key, [10])

    out = learning_activity_facts(interactions)

    expected = spark.createDataFrame(
        [
            (lk[1], ck[10], 20261005, 1, 10, d5, 8, 2, 15.0, 2, 0.75, 2, 0.5, 1, 1, 22.0),
            (lk[1], ck[10], 20261006, 1, 10, d6, 1, 1, 2.0, 0, None, 0, None, 0, 0, 1.0),
            (lk[2], ck[10], 20261005, 2, 10, d5, 1, 0, 0.0, 1, 0.5, 0, None, 0, 0, 2.0),
        ],
        "learner_key bigint, course_key bigint, date_key int, learner_id bigint, "
        "course_id bigint, activity_date date, events bigint, views bigint, "
        "minutes_viewed double, progress_events bigint, max_progress double, quizzes bigint, "
        "avg_quiz_score double, completions bigint, ratings bigint, confidence double",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_course_statistics_including_a_course_without_enrollments(spark):
    courses = spark.createDataFrame(
        [(1, "ML-101", "ML"), (2, "DS-200", "Stats"), (3, "OPS-1", "Ops")],
        "course_id bigint, course_code string, title string",
    )
    enrollments = spark.createDataFrame(
        [
            (1, 1, "completed", 80.0),
            (2, 1, "completed", 91.0),
            (3, 1, "dropped", 10.0),
            (1, 2, "enrolled", None),
            (1, 99, "completed", 50.0),  # a course not in silver.courses
        ],
        "learner_id bigint, course_id bigint, status string, score double",
    )
    interactions = spark.createDataFrame(
        [
            (1, 1, "rate", 4.0),
            (2, 1, "rate", 5.0),
            (2, 1, "view", 30.0),
            (3, 1, "rate", 5.0),
            (1, 2, "view", 3.0),
            (1, 2, "view", 4.0),
            (5, 99, "rate", 1.0),
        ],
        "learner_id bigint, course_id bigint, event_type string, value double",
    )
    ck = _keys(spark, course_key, [1, 2, 3])

    out = course_statistics(courses, enrollments, interactions)

    expected = spark.createDataFrame(
        [
            (ck[1], 1, "ML-101", "ML", 3, 2, 0.6667, 85.5, 3, 4.67, 3),
            (ck[2], 2, "DS-200", "Stats", 1, 0, 0.0, None, 0, None, 1),
            (ck[3], 3, "OPS-1", "Ops", 0, 0, None, None, 0, None, 0),
        ],
        "course_key bigint, course_id bigint, course_code string, title string, "
        "enrollments bigint, completions bigint, completion_rate double, avg_score double, "
        "ratings bigint, avg_rating double, active_learners bigint",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
