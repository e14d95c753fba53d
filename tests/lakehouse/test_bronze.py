"""lakehouse.bronze: lineage columns and the current version of each source key."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from lakehouse.bronze import LINEAGE_COLUMNS, latest_rows, with_ingest_metadata

T0 = dt.datetime(2026, 11, 1, 2, 0, 0)
T1 = dt.datetime(2026, 11, 2, 2, 0, 0)


def test_with_ingest_metadata_appends_lineage_and_keeps_source_rows(spark):
    raw = spark.createDataFrame(
        [(1, "Ada", None), (2, " Grace ", "x")], "id bigint, name string, note string"
    )

    out = with_ingest_metadata(raw, "lms:learners", "b-1", dt.datetime(2026, 11, 1, 3, 4, 5))

    assert out.columns == ["id", "name", "note", *LINEAGE_COLUMNS]
    expected = spark.createDataFrame(
        [
            (1, "Ada", None, dt.datetime(2026, 11, 1, 3, 4, 5), "lms:learners", "b-1"),
            (2, " Grace ", "x", dt.datetime(2026, 11, 1, 3, 4, 5), "lms:learners", "b-1"),
        ],
        "id bigint, name string, note string, _ingested_at timestamp, _source string, "
        "_batch_id string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_rows_keeps_the_row_sorting_last_per_key(spark):
    df = spark.createDataFrame(
        [
            (1, "old", "2026-01-01 00:00:00"),
            (1, "new", "2026-03-01 00:00:00"),
            (1, "mid", "2026-02-01 00:00:00"),
            (2, "only", "2025-12-31 23:59:59"),
        ],
        "id bigint, v string, updated_at string",
    )

    out = latest_rows(df, ["id"], ["updated_at"])

    expected = spark.createDataFrame(
        [(1, "new", "2026-03-01 00:00:00"), (2, "only", "2025-12-31 23:59:59")],
        "id bigint, v string, updated_at string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_rows_null_order_value_sorts_first_so_loses(spark):
    df = spark.createDataFrame(
        [
            (1, "dated", "2026-01-01 00:00:00"),
            (1, "undated", None),
            (2, "undated only", None),
        ],
        "id bigint, v string, updated_at string",
    )

    out = latest_rows(df, ["id"], ["updated_at"])

    expected = spark.createDataFrame(
        [(1, "dated", "2026-01-01 00:00:00"), (2, "undated only", None)],
        "id bigint, v string, updated_at string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_rows_breaks_ties_by_ingested_at_then_batch_id(spark):
    same = "2026-01-01 00:00:00"
    df = spark.createDataFrame(
        [
            # key 1: same updated_at, the later ingestion wins
            (1, "first load", same, T0, "b-2"),
            (1, "second load", same, T1, "b-1"),
            # key 2: same updated_at and ingestion time, the greater batch id wins
            (2, "batch a", same, T0, "b-a"),
            (2, "batch b", same, T0, "b-b"),
            # key 3: a row without ingestion time loses to one with it
            (3, "no time", same, None, "b-z"),
            (3, "timed", same, T0, "b-a"),
        ],
        "id bigint, v string, updated_at string, _ingested_at timestamp, _batch_id string",
    )

    out = latest_rows(df, ["id"], ["updated_at"])

    expected = spark.createDataFrame(
        [
            (1, "second load", same, T1, "b-1"),
            (2, "batch b", same, T0, "b-b"),
            (3, "timed", same, T0, "b-a"),
        ],
        "id bigint, v string, updated_at string, _ingested_at timestamp, _batch_id string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_rows_order_by_wins_over_lineage(spark):
    df = spark.createDataFrame(
        [
            (1, "newer version, older load", "2026-02-01 00:00:00", T0),
            (1, "older version, newer load", "2026-01-01 00:00:00", T1),
        ],
        "id bigint, v string, updated_at string, _ingested_at timestamp",
    )

    out = latest_rows(df, ["id"], ["updated_at"])

    expected = spark.createDataFrame(
        [(1, "newer version, older load", "2026-02-01 00:00:00", T0)],
        "id bigint, v string, updated_at string, _ingested_at timestamp",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_latest_rows_with_composite_key(spark):
    df = spark.createDataFrame(
        [
            (1, 10, "enrolled", T0),
            (1, 10, "completed", T1),
            (1, 11, "enrolled", T0),
            (2, 10, "dropped", T0),
        ],
        "learner_id bigint, course_id bigint, status string, _ingested_at timestamp",
    )

    out = latest_rows(df, ["learner_id", "course_id"], ["_ingested_at"])

    expected = spark.createDataFrame(
        [(1, 10, "completed", T1), (1, 11, "enrolled", T0), (2, 10, "dropped", T0)],
        "learner_id bigint, course_id bigint, status string, _ingested_at timestamp",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
