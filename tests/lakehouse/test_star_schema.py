"""lakehouse.star_schema: SCD2 dimensions, dim_date, the facts keyed to dimension versions and
the gold aggregates."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.star_schema import (
    course_dimension,
    course_learner_starts,
    course_statistics,
    daily_activity,
    date_dimension,
    earlier_course_learner_starts,
    enrollment_activity,
    enrollment_facts,
    learner_activity_days,
    learner_dimension,
    learner_engagement,
    learning_activity_facts,
    scd2_dimension,
    skill_coverage,
    with_changed_activity_days,
    with_more_course_learner_starts,
    with_more_enrollment_activity,
    with_version_key,
)

DIM_DATE = (
    "date_key int, date date, year int, quarter int, month int, month_name string, "
    "day_of_month int, day_of_week int, day_name string, iso_week int, is_weekend boolean"
)
D = dt.date
T = dt.datetime
FIRST = T(1900, 1, 1)
N1, N2, N3, N4, N5 = (T(2026, 10, d) for d in (2, 3, 4, 5, 6))
THING = "id bigint, name string, tags array<string>"
THING_DIM = (
    "thing_key bigint, id bigint, name string, tags array<string>, valid_from timestamp, "
    "valid_to timestamp, is_current boolean, is_deleted boolean, loaded_at timestamp"
)


def _key(spark, key_column, natural_id, valid_from):
    """The expected surrogate key of a version: xxhash64(key column name, natural key,
    valid_from), computed here independently of the code under test."""
    df = spark.createDataFrame([(natural_id, valid_from)], "id bigint, valid_from timestamp")
    return df.select(F.xxhash64(F.lit(key_column), "id", "valid_from")).first()[0]


def _thing_night(spark, previous, rows, as_of):
    if previous is not None:
        # As gold reads it back from its table: a plan built on every earlier night's plan
        # grows with each night (86 s for five nights), a stored one does not.
        previous = spark.createDataFrame(previous.collect(), previous.schema)
    return scd2_dimension(
        previous, spark.createDataFrame(rows, THING), ["id"], ["name", "tags"], as_of, "thing_key"
    )


def _version(spark, natural_id, name, tags, valid_from, valid_to, current, deleted, loaded):
    key = _key(spark, "thing_key", natural_id, valid_from)
    return (key, natural_id, name, tags, valid_from, valid_to, current, deleted, loaded)


def _equal(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_scd2_sequence_new_changed_unchanged_deleted_and_back(spark):
    v = lambda *a: _version(spark, *a)  # noqa: E731
    night1 = _thing_night(spark, None, [(1, "Ada", ["a"]), (2, "Bob", None)], N1)
    _equal(
        night1,
        spark.createDataFrame(
            [
                v(1, "Ada", ["a"], FIRST, None, True, False, N1),
                v(2, "Bob", None, FIRST, None, True, False, N1),
            ],
            THING_DIM,
        ),
    )

    # 1 changed (its tags), 2 unchanged, 3 new.
    snapshot2 = [(1, "Ada", ["a", "b"]), (2, "Bob", None), (3, "Cy", [])]
    night2 = _thing_night(spark, night1, snapshot2, N2)
    expected2 = spark.createDataFrame(
        [
            v(1, "Ada", ["a"], FIRST, N2, False, False, N1),
            v(1, "Ada", ["a", "b"], N2, None, True, False, N2),
            v(2, "Bob", None, FIRST, None, True, False, N1),
            v(3, "Cy", [], FIRST, None, True, False, N2),
        ],
        THING_DIM,
    )
    _equal(night2, expected2)

    # A later night with the same snapshot changes nothing; so does a rerun of night 2.
    _equal(_thing_night(spark, night2, snapshot2, N3), expected2)
    _equal(_thing_night(spark, night2, snapshot2, N2), expected2)

    # 2 deleted at the source: its version is closed and marked.
    night4 = _thing_night(spark, night2, [(1, "Ada", ["a", "b"]), (3, "Cy", [])], N4)
    expected4 = spark.createDataFrame(
        [
            v(1, "Ada", ["a"], FIRST, N2, False, False, N1),
            v(1, "Ada", ["a", "b"], N2, None, True, False, N2),
            v(2, "Bob", None, FIRST, N4, False, True, N1),
            v(3, "Cy", [], FIRST, None, True, False, N2),
        ],
        THING_DIM,
    )
    _equal(night4, expected4)

    # 2 comes back: a new version from that night on, the deleted one kept as history.
    night5 = _thing_night(
        spark, night4, [(1, "Ada", ["a", "b"]), (2, "Bob", None), (3, "Cy", [])], N5
    )
    expected5 = spark.createDataFrame(
        [
            v(1, "Ada", ["a"], FIRST, N2, False, False, N1),
            v(1, "Ada", ["a", "b"], N2, None, True, False, N2),
            v(2, "Bob", None, FIRST, N4, False, True, N1),
            v(2, "Bob", None, N5, None, True, False, N5),
            v(3, "Cy", [], FIRST, None, True, False, N2),
        ],
        THING_DIM,
    )
    _equal(night5, expected5)


def test_scd2_rerun_of_a_night_with_changed_silver_equals_a_first_run_of_it(spark):
    night1 = _thing_night(spark, None, [(1, "Ada", ["a"]), (2, "Bob", None)], N1)
    night2 = _thing_night(spark, night1, [(1, "Ada", ["a", "b"]), (3, "Cy", [])], N2)
    # Silver changed before night 2 was rerun: 1 back to its old tags, 3 gone, 2 back.
    snapshot = [(1, "Ada", ["a"]), (2, "Bob", None)]

    rerun = _thing_night(spark, night2, snapshot, N2)

    _equal(rerun, night1)


def test_scd2_null_in_different_columns_is_a_change(spark):
    night1 = _thing_night(spark, None, [(1, None, ["x"])], N1)

    night2 = _thing_night(spark, night1, [(1, "x", None)], N2)

    assert night2.filter("is_current").select("name", "tags").collect() == [("x", None)]
    assert night2.count() == 2


def test_learner_dimension_tracks_learner_attributes(spark):
    schema = (
        "learner_id bigint, name string, department string, job_role string, country string, "
        "hired_at timestamp, updated_at timestamp"
    )
    night1 = learner_dimension(
        None,
        spark.createDataFrame(
            [(1, "Ada", "Data", "Engineer", "GB", T(2020, 1, 15), T(2026, 6, 1))], schema
        ),
        N1,
    )
    # A new updated_at alone is no change; a new department is.
    same = [(1, "Ada", "Data", "Engineer", "GB", T(2020, 1, 15), T(2026, 9, 1))]
    moved = [(1, "Ada", "Ops", "Engineer", "GB", T(2020, 1, 15), T(2026, 9, 1))]
    unchanged = learner_dimension(night1, spark.createDataFrame(same, schema), N2)
    changed = learner_dimension(night1, spark.createDataFrame(moved, schema), N2)

    expected = spark.createDataFrame(
        [
            (_key(spark, "learner_key", 1, FIRST), 1, "Ada", "Data", "Engineer", "GB",
             T(2020, 1, 15), FIRST, N2, False, False, N1),
            (_key(spark, "learner_key", 1, N2), 1, "Ada", "Ops", "Engineer", "GB",
             T(2020, 1, 15), N2, None, True, False, N2),
        ],
        "learner_key bigint, learner_id bigint, name string, department string, "
        "job_role string, country string, hired_at timestamp, valid_from timestamp, "
        "valid_to timestamp, is_current boolean, is_deleted boolean, loaded_at timestamp",
    )  # fmt: skip
    _equal(unchanged, night1)
    _equal(changed, expected)


COURSES = (
    "course_id bigint, course_code string, title string, provider string, category string, "
    "level string, duration_hours int, description string, skills array<string>, "
    "prerequisites array<string>, catalog_url string, in_catalog boolean, "
    "catalog_content_hash string, updated_at timestamp"
)
DIM_COURSE = (
    "course_key bigint, course_id bigint, course_code string, title string, provider string, "
    "category string, level string, duration_hours int, skills array<string>, "
    "prerequisites array<string>, description string, catalog_url string, in_catalog boolean, "
    "item_type string, parent_course_id bigint, valid_from timestamp, valid_to timestamp, "
    "is_current boolean, is_deleted boolean, loaded_at timestamp"
)


def test_course_dimension_carries_item_type_and_parent(spark):
    courses = spark.createDataFrame(
        [
            (2000000001, "AAA-2013J", "AAA 2013J", "OU", "AAA", None, None, None, [], [], None,
             False, None, None, "module_presentation", None),
            (546614, "AAA-2013J-546614", "AAA 2013J oucontent 546614", "OU", "AAA", None, None,
             None, [], [], None, False, None, None, "oucontent", 2000000001),
        ],
        COURSES + ", item_type string, parent_course_id bigint",
    )  # fmt: skip

    out = course_dimension(None, courses, N1)

    expected = spark.createDataFrame(
        [
            (_key(spark, "course_key", 2000000001, FIRST), 2000000001, "AAA-2013J", "AAA 2013J",
             "OU", "AAA", None, None, [], [], None, None, False, "module_presentation", None,
             FIRST, None, True, False, N1),
            (_key(spark, "course_key", 546614, FIRST), 546614, "AAA-2013J-546614",
             "AAA 2013J oucontent 546614", "OU", "AAA", None, None, [], [], None, None, False,
             "oucontent", 2000000001, FIRST, None, True, False, N1),
        ],
        DIM_COURSE,
    )  # fmt: skip
    _equal(out, expected)


def test_course_dimension_of_lms_courses_without_item_columns(spark):
    courses = spark.createDataFrame(
        [(10, "ML-101", "ML", "Acme", "Data", "Beginner", 6, "Intro", ["python"], ["PY-1"],
          "https://c/ml", True, "h1", T(2026, 3, 1))],
        COURSES,
    )  # fmt: skip

    out = course_dimension(None, courses, N1)

    expected = spark.createDataFrame(
        [(_key(spark, "course_key", 10, FIRST), 10, "ML-101", "ML", "Acme", "Data", "Beginner",
          6, ["python"], ["PY-1"], "Intro", "https://c/ml", True, "course", None, FIRST, None,
          True, False, N1)],
        DIM_COURSE,
    )  # fmt: skip
    _equal(out, expected)


def _learner_versions(spark):
    """Learner 1 moved from Data to Ops at N2; learner 2 has one version."""
    schema = "learner_key bigint, learner_id bigint, valid_from timestamp, valid_to timestamp"
    return spark.createDataFrame(
        [(101, 1, FIRST, N2), (102, 1, N2, None), (201, 2, FIRST, None)], schema
    )


def _course_versions(spark):
    schema = "course_key bigint, course_id bigint, valid_from timestamp, valid_to timestamp"
    return spark.createDataFrame([(1010, 10, FIRST, None), (1100, 11, FIRST, None)], schema)


def test_version_key_picks_the_version_valid_at_the_event(spark):
    events = spark.createDataFrame(
        [
            (1, T(2026, 10, 2, 23, 59, 59)),  # just before the change
            (1, N2),  # at the change: the new version
            (1, T(2027, 1, 1)),
            (2, T(1999, 5, 5)),  # before the first load: the first version
            (3, N2),  # no such learner
            (1, None),
        ],
        "learner_id bigint, event_ts timestamp",
    )

    out = with_version_key(
        events, _learner_versions(spark), "learner_id", "event_ts", "learner_key"
    )

    expected = spark.createDataFrame(
        [
            (1, T(2026, 10, 2, 23, 59, 59), 101),
            (1, N2, 102),
            (1, T(2027, 1, 1), 102),
            (2, T(1999, 5, 5), 201),
            (3, N2, None),
            (1, None, None),
        ],
        "learner_id bigint, event_ts timestamp, learner_key bigint",
    )
    _equal(out, expected)


INTERACTIONS = (
    "learner_id bigint, course_id bigint, event_type string, event_ts timestamp, "
    "event_date date, value double, weight double"
)


def _event(learner, course, event_type, ts, value=None, weight=1.0):
    return (learner, course, event_type, ts, ts.date(), value, weight)


def test_learning_activity_facts_per_learner_item_and_day_keyed_to_versions(spark):
    d1, d2 = T(2026, 10, 2, 9), T(2026, 10, 3, 9)  # learner 1 changed between the two days
    interactions = spark.createDataFrame(
        [
            _event(1, 10, "view", d1, 10.0),
            _event(1, 10, "view", d1, 5.0),
            _event(1, 10, "progress", d1, 0.25, 2.0),
            _event(1, 10, "progress", d1, 0.75, 2.0),
            _event(1, 10, "quiz", d1, 0.75, 3.0),
            _event(1, 10, "quiz", d1, 0.25, 3.0),
            _event(1, 10, "complete", d1, None, 6.0),
            _event(1, 10, "rate", d1, 4.0, 4.0),
            _event(1, 10, "view", d2, 2.0),
            _event(2, 11, "click", d1, 7.0),
            _event(2, 11, "click", d1 + dt.timedelta(hours=1), 3.0),
            _event(2, 99, "view", d1, 1.0),  # an item not in dim_course
        ],
        INTERACTIONS,
    )

    out = learning_activity_facts(interactions, _learner_versions(spark), _course_versions(spark))

    expected = spark.createDataFrame(
        [
            (101, 1010, 20261002, 1, 10, d1.date(), d1, 8, 2, 15.0, 0, 2, 0.75, 2, 0.5, 1, 1,
             4.0, 22.0),
            (102, 1010, 20261003, 1, 10, d2.date(), d2, 1, 1, 2.0, 0, 0, None, 0, None, 0, 0,
             0.0, 1.0),
            (201, 1100, 20261002, 2, 11, d1.date(), d1, 2, 0, 0.0, 10, 0, None, 0, None, 0, 0,
             0.0, 2.0),
            (201, None, 20261002, 2, 99, d1.date(), d1, 1, 1, 1.0, 0, 0, None, 0, None, 0, 0,
             0.0, 1.0),
        ],
        "learner_key bigint, course_key bigint, date_key int, learner_id bigint, "
        "course_id bigint, activity_date date, first_event_at timestamp, events bigint, "
        "views bigint, minutes_viewed double, clicks bigint, progress_events bigint, "
        "max_progress double, quizzes bigint, avg_quiz_score double, completions bigint, "
        "ratings bigint, rating_stars double, confidence double",
    )  # fmt: skip
    _equal(out, expected)


def test_enrollment_facts_accumulate_milestones_and_roll_items_up_to_their_course(spark):
    enrollments = spark.createDataFrame(
        [
            (1, 10, T(2026, 10, 1, 8), T(2026, 10, 11, 12), 88.0, "completed"),
            (1, 11, T(2026, 10, 5), None, None, "enrolled"),  # after the change, no activity
            (2, 20, T(2026, 9, 1), None, None, "in_progress"),  # OULAD: activity on item 21
            (2, 10, None, None, None, "enrolled"),
        ],
        "learner_id bigint, course_id bigint, enrolled_at timestamp, completed_at timestamp, "
        "score double, status string",
    )
    interactions = spark.createDataFrame(
        [
            _event(1, 10, "view", T(2026, 10, 2, 9)),
            _event(1, 10, "complete", T(2026, 10, 11, 12)),
            _event(2, 21, "click", T(2026, 9, 3, 0), 4.0),
            _event(2, 21, "click", T(2026, 9, 4, 0), 1.0),
            _event(2, 10, "view", T(2026, 9, 20)),
        ],
        INTERACTIONS,
    )
    courses = spark.createDataFrame(
        [(10, None), (11, None), (20, None), (21, 20)], "course_id bigint, parent_course_id bigint"
    )
    dim_course = spark.createDataFrame(
        [(1010, 10, FIRST, None), (1100, 11, FIRST, None), (2000, 20, FIRST, None)],
        "course_key bigint, course_id bigint, valid_from timestamp, valid_to timestamp",
    )

    activity = daily_activity(interactions)

    started = enrollment_activity(activity, courses)
    out = enrollment_facts(enrollments, started, _learner_versions(spark), dim_course)

    expected = spark.createDataFrame(
        [
            (101, 1010, 20261001, 20261002, 20261011, 1, 10, T(2026, 10, 1, 8),
             T(2026, 10, 2, 9), T(2026, 10, 11, 12), "completed", 88.0, 2, 10),
            (102, 1100, 20261005, None, None, 1, 11, T(2026, 10, 5), None, None, "enrolled",
             None, 0, None),
            (201, 2000, 20260901, 20260903, None, 2, 20, T(2026, 9, 1), T(2026, 9, 3), None,
             "in_progress", None, 2, None),
            # No enrolment date: keyed as of the first activity.
            (201, 1010, None, 20260920, None, 2, 10, None, T(2026, 9, 20), None, "enrolled",
             None, 1, None),
        ],
        "learner_key bigint, course_key bigint, enrolled_date_key int, started_date_key int, "
        "completed_date_key int, learner_id bigint, course_id bigint, enrolled_at timestamp, "
        "started_at timestamp, completed_at timestamp, status string, score double, "
        "events bigint, days_to_complete int",
    )  # fmt: skip
    _equal(out, expected)


RUN = D(2026, 11, 1)


def _on(day, learner, course, event_type="view", value=1.0):
    """An event at noon `day` days before the run date (negative: after it)."""
    return _event(learner, course, event_type, T(2026, 11, 1, 12) - dt.timedelta(days=day), value)


def test_course_statistics_with_ratings_and_active_learners_over_7_and_30_days(spark):
    courses = spark.createDataFrame(
        [(1001, 1, "ML-101", "ML"), (1002, 2, "DS-200", "Stats"), (1003, 3, "OPS-1", "Ops")],
        "course_key bigint, course_id bigint, course_code string, title string",
    )
    enrollments = spark.createDataFrame(
        [
            (1, 1, "completed", 80.0),
            (2, 1, "completed", 91.0),
            (3, 1, "dropped", 10.0),
            (1, 2, "enrolled", None),
            (1, 99, "completed", 50.0),  # a course not in the dimension
        ],
        "learner_id bigint, course_id bigint, status string, score double",
    )
    interactions = spark.createDataFrame(
        [
            _on(0, 1, 1, "rate", 4.0),  # the run date itself is in both windows
            _on(6, 2, 1, "rate", 5.0),  # the 7th day back: still in the 7-day window
            _on(7, 2, 1, "view", 30.0),
            _on(7, 3, 1, "rate", 5.0),  # the 8th day back: only in the 30-day window
            _on(29, 4, 1),  # the 30th day back
            _on(30, 5, 1),  # outside both
            _on(-1, 6, 1, "rate", 1.0),  # after the run date: ignored
            _on(40, 1, 2, "view", 3.0),
            _on(3, 5, 99, "rate", 1.0),
        ],
        INTERACTIONS,
    )

    activity = daily_activity(interactions)

    out = course_statistics(courses, enrollments, activity, course_learner_starts(activity), RUN)

    expected = spark.createDataFrame(
        [
            (1001, 1, "ML-101", "ML", 3, 2, 0.6667, 85.5, 3, 4.67, 5, 2, 4),
            (1002, 2, "DS-200", "Stats", 1, 0, 0.0, None, 0, None, 1, 0, 0),
            (1003, 3, "OPS-1", "Ops", 0, 0, None, None, 0, None, 0, 0, 0),
        ],
        "course_key bigint, course_id bigint, course_code string, title string, "
        "enrollments bigint, completions bigint, completion_rate double, avg_score double, "
        "ratings bigint, avg_rating double, active_learners bigint, active_learners_7d bigint, "
        "active_learners_30d bigint",
    )
    _equal(out, expected)


def test_learner_engagement_recency_windows_streaks_with_gaps_and_completion_ratio(spark):
    learners = spark.createDataFrame(
        [(501, 1), (502, 2), (503, 3), (504, 4)], "learner_key bigint, learner_id bigint"
    )
    days_back_1 = [40, 39, 38, 37, 20, 19, 15, 2, 1, 0]  # streaks 4, 2, 1, 3 (current)
    interactions = spark.createDataFrame(
        [_on(d, 1, 10) for d in days_back_1]
        + [_on(0, 1, 11), _on(-1, 1, 10), _on(-2, 1, 10)]  # two events on the run date; later
        + [_on(d, 2, 10) for d in (5, 4, 3, 1)]  # a streak of 3, none on the run date
        + [_on(45, 3, 10), _on(45, 3, 11)],  # one active day, long ago
        INTERACTIONS,
    )
    enrollments = spark.createDataFrame(
        [(1, 10, "completed"), (1, 11, "in_progress"), (1, 12, "completed"), (3, 10, "dropped")],
        "learner_id bigint, course_id bigint, status string",
    )

    days = learner_activity_days(daily_activity(interactions))
    out = learner_engagement(learners, days, enrollments, RUN)

    expected = spark.createDataFrame(
        [
            (501, 1, D(2026, 9, 22), RUN, 0, 10, 11, 6, 7, 4, 3, 3, 2, 0.6667),
            (502, 2, D(2026, 10, 27), D(2026, 10, 31), 1, 4, 4, 4, 4, 3, 0, 0, 0, None),
            (503, 3, D(2026, 9, 17), D(2026, 9, 17), 45, 1, 2, 0, 0, 1, 0, 1, 0, 0.0),
            (504, 4, None, None, None, 0, 0, 0, 0, 0, 0, 0, 0, None),
        ],
        "learner_key bigint, learner_id bigint, first_activity_date date, "
        "last_activity_date date, recency_days int, active_days bigint, events bigint, "
        "active_days_30d bigint, events_30d bigint, longest_streak bigint, "
        "current_streak bigint, enrollments bigint, completions bigint, "
        "completion_ratio double",
    )
    _equal(out, expected)


ACTIVITY_ROWS = (
    "learner_id bigint, course_id bigint, activity_date date, first_event_at timestamp, "
    "events bigint"
)


def _activity(spark, rows):
    return spark.createDataFrame(
        [(lr, c, day, T(day.year, day.month, day.day, 9), n) for lr, c, day, n in rows],
        ACTIVITY_ROWS,
    )


def test_learner_activity_days_after_a_change_feed_equal_those_of_the_changed_rows(spark):
    before = [
        (1, 10, D(2026, 10, 1), 2),
        (1, 11, D(2026, 10, 1), 1),  # a second item the same day
        (1, 10, D(2026, 10, 3), 4),
        (2, 10, D(2026, 10, 2), 1),  # learner 2's only day: deleted below
        (4, 13, D(2026, 9, 30), 3),  # learner 4: no change, kept as is
        (4, 13, D(2026, 10, 2), 2),
        (5, 14, D(2026, 9, 29), 2),  # learner 5: only new days after its last
    ]
    later = [(5, 14, D(2026, 10, 5), 1), (5, 15, D(2026, 10, 4), 2)]
    after = [
        (1, 10, D(2026, 10, 1), 5),  # updated
        (1, 10, D(2026, 10, 3), 4),
        (1, 10, D(2026, 10, 4), 1),  # inserted, a new day
        (3, 12, D(2026, 10, 4), 7),  # a new learner
        *before[4:],
        *later,
    ]
    change = lambda rows, kind: _activity(spark, rows).withColumn("_change_type", F.lit(kind))  # noqa: E731
    changes = (
        change([before[0]], "update_preimage")
        .unionByName(change([after[0]], "update_postimage"))
        .unionByName(change([before[1], before[3]], "delete"))
        .unionByName(change(after[2:4], "insert"))
        .unionByName(change(later, "insert"))
    )

    out = with_changed_activity_days(learner_activity_days(_activity(spark, before)), changes)

    _equal(out, learner_activity_days(_activity(spark, after)))
    assert [tuple(d) for d in out.filter("learner_id = 1").first()["days"]] == [
        (D(2026, 10, 1), 1, 5),
        (D(2026, 10, 3), 1, 4),
        (D(2026, 10, 4), 1, 1),
    ]
    assert [tuple(d) for d in out.filter("learner_id = 5").first()["days"]] == [
        (D(2026, 9, 29), 1, 2),
        (D(2026, 10, 4), 1, 2),
        (D(2026, 10, 5), 1, 1),
    ]


def test_enrollment_activity_with_more_activity_equals_that_of_all_of_it(spark):
    courses = spark.createDataFrame(
        [(10, None), (21, 20)], "course_id bigint, parent_course_id bigint"
    )
    first = _activity(spark, [(1, 10, D(2026, 10, 3), 2), (1, 21, D(2026, 10, 5), 1)])
    more = _activity(spark, [(1, 10, D(2026, 10, 1), 1), (2, 21, D(2026, 10, 6), 3)])

    out = with_more_enrollment_activity(
        enrollment_activity(first, courses), enrollment_activity(more, courses)
    )

    _equal(out, enrollment_activity(first.unionByName(more), courses))
    assert sorted((r["learner_id"], r["course_id"], r["events"]) for r in out.collect()) == [
        (1, 10, 3), (1, 20, 1), (1, 21, 1), (2, 20, 3), (2, 21, 3)
    ]  # fmt: skip


@pytest.mark.parametrize("broadcast", [True, False])
def test_course_learner_starts_with_more_activity_equal_those_of_all_of_it(spark, broadcast):
    first = _activity(
        spark,
        [
            (1, 10, D(2026, 10, 3), 2),
            (1, 10, D(2026, 10, 5), 1),  # a later day of the same pair
            (2, 10, D(2026, 10, 4), 1),  # no more activity: kept as it is
            (1, 11, D(2026, 10, 8), 1),
        ],
    )
    more = _activity(
        spark,
        [
            (1, 10, D(2026, 10, 9), 1),  # later than its first day: no change
            (1, 11, D(2026, 10, 2), 4),  # a late day before its first: the new first day
            (3, 10, D(2026, 10, 9), 3),  # a new pair
        ],
    )

    out = with_more_course_learner_starts(
        course_learner_starts(first), course_learner_starts(more), broadcast=broadcast
    )

    _equal(out, course_learner_starts(first.unionByName(more)))
    changing = earlier_course_learner_starts(
        course_learner_starts(first), course_learner_starts(more), broadcast=broadcast
    )
    # What a night appends (new pairs) or must rewrite the starts for (an earlier first day).
    assert sorted(tuple(r) for r in changing.collect()) == [
        (10, 3, D(2026, 10, 9), False), (11, 1, D(2026, 10, 2), True)
    ]  # fmt: skip
    assert sorted(tuple(r) for r in out.collect()) == [
        (10, 1, D(2026, 10, 3)), (10, 2, D(2026, 10, 4)), (10, 3, D(2026, 10, 9)),
        (11, 1, D(2026, 10, 2)),
    ]  # fmt: skip


def test_skill_coverage_by_department_and_skill(spark):
    learners = spark.createDataFrame(
        [(1, "Data"), (2, "Data"), (3, "Data"), (4, "Ops"), (5, None)],
        "learner_id bigint, department string",
    )
    courses = spark.createDataFrame(
        [(10, ["python", "sql"]), (11, ["python"]), (12, []), (13, ["k8s"])],
        "course_id bigint, skills array<string>",
    )
    enrollments = spark.createDataFrame(
        [
            (1, 10, "completed"),
            (1, 11, "completed"),  # python twice: one learner
            (2, 11, "completed"),
            (3, 10, "in_progress"),  # not completed
            (4, 12, "completed"),  # a course without skills
            (5, 13, "completed"),  # no department
        ],
        "learner_id bigint, course_id bigint, status string",
    )

    out = skill_coverage(learners, courses, enrollments)

    expected = spark.createDataFrame(
        [
            ("Data", "python", 2, 3, 2, 0.6667),
            ("Data", "sql", 1, 3, 1, 0.3333),
            ("Data", "k8s", 1, 3, 0, 0.0),
            ("Ops", "python", 2, 1, 0, 0.0),
            ("Ops", "sql", 1, 1, 0, 0.0),
            ("Ops", "k8s", 1, 1, 0, 0.0),
        ],
        "department string, skill string, courses bigint, learners bigint, "
        "learners_with_skill bigint, coverage double",
    )
    _equal(out, expected)


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
