"""lakehouse.interactions: silver.interactions from LMS activity events and ratings."""

from __future__ import annotations

import datetime as dt
import hashlib

from chispa import assert_df_equality

from lakehouse.interactions import (
    INTERACTION_COLUMNS,
    activity_events_as_interactions,
    conform_interactions,
    dedupe_interactions,
    ratings_as_interactions,
    with_confidence,
)

T0 = dt.datetime(2026, 10, 31, 2, 0)
EVENTS = (
    "learner_id bigint, course_id bigint, event_type string, event_ts timestamp, value double, "
    "source string"
)
ACTIVITY_BRONZE = (
    "id bigint, learner_id bigint, course_id bigint, event_type string, ts string, value double, "
    "_ingested_at timestamp, _source string, _batch_id string"
)
WEIGHTS = {"view": 1.0, "progress": 2.0, "quiz": 3.0, "complete": 6.0}


def _content_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def test_activity_events_as_interactions(spark):
    bronze = spark.createDataFrame(
        [
            (101, 1, 10, " View ", "2026-10-05 08:00:00", 12.5, T0, "lms:activity_events", "b"),
            (102, 2, 11, "QUIZ", "2026-10-06 23:59:59", 0.8, T0, "lms:activity_events", "b"),
        ],
        ACTIVITY_BRONZE,
    )

    out = activity_events_as_interactions(bronze)

    expected = spark.createDataFrame(
        [
            (1, 10, "view", dt.datetime(2026, 10, 5, 8), 12.5, "lms.activity_events"),
            (2, 11, "quiz", dt.datetime(2026, 10, 6, 23, 59, 59), 0.8, "lms.activity_events"),
        ],
        EVENTS,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_ratings_as_interactions(spark):
    bronze = spark.createDataFrame(
        [(1, 10, 4, "2026-10-07 10:00:00", T0), (3, 12, 1, "2026-10-08 11:30:00", T0)],
        "learner_id bigint, course_id bigint, stars int, ts string, _ingested_at timestamp",
    )

    out = ratings_as_interactions(bronze)

    expected = spark.createDataFrame(
        [
            (1, 10, "rate", dt.datetime(2026, 10, 7, 10), 4.0, "lms.ratings"),
            (3, 12, "rate", dt.datetime(2026, 10, 8, 11, 30), 1.0, "lms.ratings"),
        ],
        EVENTS,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_dedupe_interactions_collapses_duplicates_with_different_source_ids(spark):
    bronze = spark.createDataFrame(
        [
            # the same event delivered twice under two source ids, and once more in a later load
            (101, 1, 10, "view", "2026-10-05 08:00:00", 5.0, T0, "lms:activity_events", "b-1"),
            (102, 1, 10, "view", "2026-10-05 08:00:00", 5.0, T0, "lms:activity_events", "b-1"),
            (101, 1, 10, "view", "2026-10-05 08:00:00", 5.0, T0, "lms:activity_events", "b-2"),
            # differs only in value: a distinct event
            (103, 1, 10, "view", "2026-10-05 08:00:00", 6.0, T0, "lms:activity_events", "b-1"),
            # no value: kept, hashed with an empty value
            (104, 2, 11, "complete", "2026-10-06 00:30:00", None, T0, "lms:activity_events", "b-1"),
        ],
        ACTIVITY_BRONZE,
    )  # fmt: skip

    out = dedupe_interactions(activity_events_as_interactions(bronze))

    expected = spark.createDataFrame(
        [
            (1, 10, "view", dt.datetime(2026, 10, 5, 8), 5.0, "lms.activity_events",
             _content_id("1", "10", "view", "2026-10-05 08:00:00", "5.0"), dt.date(2026, 10, 5)),
            (1, 10, "view", dt.datetime(2026, 10, 5, 8), 6.0, "lms.activity_events",
             _content_id("1", "10", "view", "2026-10-05 08:00:00", "6.0"), dt.date(2026, 10, 5)),
            (2, 11, "complete", dt.datetime(2026, 10, 6, 0, 30), None, "lms.activity_events",
             _content_id("2", "11", "complete", "2026-10-06 00:30:00", ""), dt.date(2026, 10, 6)),
        ],
        EVENTS + ", interaction_id string, event_date date",
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_dedupe_interactions_ids_do_not_depend_on_the_rest_of_the_batch(spark):
    event = (1, 10, "rate", dt.datetime(2026, 10, 7, 10), 4.0, "lms.ratings")
    alone = spark.createDataFrame([event], EVENTS)
    crowd = spark.createDataFrame(
        [
            (9, 99, "view", dt.datetime(2026, 1, 1), 1.0, "lms.activity_events"),
            event,
            (1, 10, "rate", dt.datetime(2026, 10, 7, 10), 5.0, "lms.ratings"),
        ],
        EVENTS,
    )

    ids_alone = {r.interaction_id for r in dedupe_interactions(alone).collect()}
    ids_crowd = {
        r.value: r.interaction_id
        for r in dedupe_interactions(crowd).filter("learner_id = 1").collect()
    }

    assert ids_alone == {ids_crowd[4.0]}
    assert ids_crowd[4.0] != ids_crowd[5.0]
    assert len(ids_crowd[4.0]) == 32 and int(ids_crowd[4.0], 16) >= 0


def test_with_confidence_weights_by_event_type_and_stars(spark):
    events = spark.createDataFrame(
        [
            (1, 10, "view", T0, 30.0, "s"),
            (1, 10, "progress", T0, 0.5, "s"),
            (1, 10, "quiz", T0, 0.9, "s"),
            (1, 10, "complete", T0, None, "s"),
            (1, 10, "rate", T0, 4.0, "s"),
            (1, 10, "share", T0, 1.0, "s"),
        ],
        EVENTS,
    )

    out = with_confidence(events, WEIGHTS, rate_weight_per_star=1.5)

    expected = spark.createDataFrame(
        [
            (1, 10, "view", T0, 30.0, "s", 1.0),
            (1, 10, "progress", T0, 0.5, "s", 2.0),
            (1, 10, "quiz", T0, 0.9, "s", 3.0),
            (1, 10, "complete", T0, None, "s", 6.0),
            (1, 10, "rate", T0, 4.0, "s", 6.0),
            (1, 10, "share", T0, 1.0, "s", 0.0),
        ],
        EVENTS + ", weight double",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_with_confidence_rate_uses_stars_even_if_rate_has_a_configured_weight(spark):
    events = spark.createDataFrame(
        [(1, 10, "rate", T0, 2.0, "s"), (1, 11, "view", T0, 5.0, "s")], EVENTS
    )

    out = with_confidence(events, {"rate": 100.0, "view": 0.25}, rate_weight_per_star=2)

    assert sorted((r.course_id, r.weight) for r in out.collect()) == [(10, 4.0), (11, 0.25)]


def test_conform_interactions_keeps_rows_with_null_keys_for_quarantine_and_orders_columns(spark):
    day = dt.date(2026, 10, 5)
    ts = dt.datetime(2026, 10, 5, 8)
    rows = spark.createDataFrame(
        [
            ("extra", 1, "a", 10, "view", ts, day, 5.0, 1.0, "lms.activity_events"),
            # incomplete events stay too: the quality rules quarantine them, nothing drops them
            ("extra", None, "b", 10, "view", ts, day, 5.0, 1.0, "lms.activity_events"),
            ("extra", 1, "c", None, "view", ts, day, 5.0, 1.0, "lms.activity_events"),
            ("extra", 1, "d", 10, "view", None, None, 5.0, 1.0, "lms.activity_events"),
            # a missing value is not a key: kept
            ("extra", 2, "e", 11, "complete", ts, day, None, 6.0, "lms.activity_events"),
        ],
        "junk string, learner_id bigint, interaction_id string, course_id bigint, "
        "event_type string, event_ts timestamp, event_date date, value double, weight double, "
        "source string",
    )

    out = conform_interactions(rows)

    assert tuple(out.columns) == INTERACTION_COLUMNS
    expected = spark.createDataFrame(
        [
            ("a", 1, 10, "view", ts, day, 5.0, 1.0, "lms.activity_events"),
            ("b", None, 10, "view", ts, day, 5.0, 1.0, "lms.activity_events"),
            ("c", 1, None, "view", ts, day, 5.0, 1.0, "lms.activity_events"),
            ("d", 1, 10, "view", None, None, 5.0, 1.0, "lms.activity_events"),
            ("e", 2, 11, "complete", ts, day, None, 6.0, "lms.activity_events"),
        ],
        "interaction_id string, learner_id bigint, course_id bigint, event_type string, "
        "event_ts timestamp, event_date date, value double, weight double, source string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
