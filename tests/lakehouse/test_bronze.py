"""lakehouse.bronze: lineage columns and the current version of each source key."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import StructType

from lakehouse.bronze import (
    LINEAGE_COLUMNS,
    changed_rows,
    deleted_keys,
    latest_rows,
    live_keys,
    live_rows,
    schema_drift,
    tombstone_rows,
    with_ingest_metadata,
    with_types,
    without_deleted,
)

T0 = dt.datetime(2026, 11, 1, 2, 0, 0)
T1 = dt.datetime(2026, 11, 2, 2, 0, 0)
T2 = dt.datetime(2026, 11, 3, 2, 0, 0)


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


VERSIONED = "id bigint, v string, updated_at string, _ingested_at timestamp, _load_seq bigint, "
VERSIONED += "_is_deleted boolean"


def test_without_deleted_drops_keys_whose_last_load_is_a_tombstone(spark):
    df = spark.createDataFrame(
        [
            (1, "v1", "2026-01-01", T0, 1, None),
            (1, None, None, T1, 2, True),  # deleted
            (2, "v1", "2026-01-01", T0, 1, None),
            (2, None, None, T1, 2, True),
            (2, "back", "2026-03-01", T2, 3, None),  # re-inserted after its deletion
            (3, "v1", "2026-01-01", T0, 1, False),  # never deleted
        ],
        VERSIONED,
    )

    out = without_deleted(df, ["id"])

    expected = spark.createDataFrame(
        [(2, "v1", "2026-01-01", T0, 1, None), (2, "back", "2026-03-01", T2, 3, None)]
        + [(3, "v1", "2026-01-01", T0, 1, False)],
        VERSIONED,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_without_deleted_orders_by_load_sequence_before_ingestion_time(spark):
    # A tombstone of a later load wins even if its clock ran behind; without _load_seq (copied
    # tables) the ingestion time decides.
    df = spark.createDataFrame(
        [(1, "v1", "2026-01-01", T1, 1, None), (1, None, None, T0, 2, True)], VERSIONED
    )
    copied = spark.createDataFrame(
        [(1, "old", T0, None), (1, None, T1, True), (2, "old", T0, None), (2, "new", T2, None)]
        + [(2, None, T1, True)],
        "id bigint, v string, _ingested_at timestamp, _is_deleted boolean",
    )

    assert without_deleted(df, ["id"]).count() == 0
    assert_df_equality(
        without_deleted(copied, ["id"]),
        spark.createDataFrame(
            [(2, "old", T0, None), (2, "new", T2, None)],
            "id bigint, v string, _ingested_at timestamp, _is_deleted boolean",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_without_deleted_leaves_bronze_without_tombstones_alone(spark):
    df = spark.createDataFrame([(1, "a"), (1, "b")], "id bigint, v string")
    assert_df_equality(without_deleted(df, ["id"]), df)


def test_live_rows_is_the_latest_version_of_live_keys(spark):
    df = spark.createDataFrame(
        [
            (1, "old", "2026-01-01", T0, 1, None),
            (1, "new", "2026-02-01", T1, 2, None),
            (2, "gone", "2026-01-01", T0, 1, None),
            (2, None, None, T1, 2, True),
        ],
        VERSIONED,
    )

    out = live_rows(df, ["id"], ["updated_at"])

    expected = spark.createDataFrame([(1, "new", "2026-02-01", T1, 2, None)], VERSIONED)
    assert_df_equality(out, expected, ignore_nullable=True)


def test_deleted_keys_are_live_bronze_keys_missing_from_the_source(spark):
    bronze = spark.createDataFrame(
        [
            (1, 10, "a", T0, None),
            (1, 11, "b", T0, None),
            (2, 10, "c", T0, None),
            (2, 11, "d", T0, None),
            (2, 11, None, T1, True),  # already tombstoned: not deleted again
        ],
        "learner_id bigint, course_id bigint, status string, _ingested_at timestamp, "
        "_is_deleted boolean",
    )
    source = spark.createDataFrame([(1, 10), (3, 10)], "learner_id bigint, course_id bigint")

    out = deleted_keys(live_keys(bronze, ["learner_id", "course_id"]), source)

    expected = spark.createDataFrame([(1, 11), (2, 10)], "learner_id bigint, course_id bigint")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_tombstone_rows_carry_the_key_the_flag_and_lineage(spark):
    keys = spark.createDataFrame([(7,)], "id bigint")

    out = tombstone_rows(keys, "lms:learners", "b-9", T1)

    expected = spark.createDataFrame(
        [(7, True, T1, "lms:learners", "b-9")],
        "id bigint, _is_deleted boolean, _ingested_at timestamp, _source string, _batch_id string",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


BRONZE = StructType.fromJson(
    {
        "type": "struct",
        "fields": [
            {"name": n, "type": t, "nullable": True, "metadata": {}}
            for n, t in [
                ("id", "long"),
                ("stars", "integer"),
                ("score", "double"),
                ("amount", "decimal(12,2)"),
                ("title", "string"),
                ("_ingested_at", "timestamp"),
            ]
        ],
    }
)


def _schema(spark, ddl):
    return spark.createDataFrame([], ddl).schema


def test_schema_drift_reports_new_columns_and_accepts_an_unchanged_schema(spark):
    source = _schema(
        spark, "ID bigint, stars int, score double, amount decimal(12,2), title string, nick string"
    )

    added, widened, incompatible = schema_drift(BRONZE, source)

    assert [(f.name, f.dataType.simpleString()) for f in added] == [("nick", "string")]
    assert (widened, incompatible) == ([], [])


def test_schema_drift_accepts_lossless_widening_into_the_bronze_type(spark):
    source = _schema(
        spark, "id int, stars smallint, score float, amount decimal(9,2), title string"
    )

    added, widened, incompatible = schema_drift(BRONZE, source)

    assert added == [] and incompatible == []
    assert widened == [
        ("id", "int", "bigint"),
        ("stars", "smallint", "int"),
        ("score", "float", "double"),
        ("amount", "decimal(9,2)", "decimal(12,2)"),
    ]


@pytest.mark.parametrize(
    ("ddl", "change"),
    [
        ("id string", ("id", "string", "bigint")),  # text where a number was
        ("stars bigint", ("stars", "bigint", "int")),  # narrowing
        ("id double", ("id", "double", "bigint")),  # fractions into an integer
        ("score bigint", ("score", "bigint", "double")),  # beyond 2^53 a double rounds
        ("amount decimal(12,4)", ("amount", "decimal(12,4)", "decimal(12,2)")),  # scale lost
        ("title int", ("title", "int", "string")),  # a number where text was
    ],
)
def test_schema_drift_rejects_lossy_or_unrelated_type_changes(spark, ddl, change):
    added, widened, incompatible = schema_drift(BRONZE, _schema(spark, ddl))

    assert (added, widened, incompatible) == ([], [], [change])


def test_with_types_casts_only_the_named_columns(spark):
    df = spark.createDataFrame([(1, 2.5, "x")], "id int, score float, title string")

    out = with_types(df, {"ID": "bigint", "score": "double"})

    expected = spark.createDataFrame([(1, 2.5, "x")], "id bigint, score double, title string")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_changed_rows_of_a_whole_copy_are_new_changed_and_re_inserted_keys_only(spark):
    schema = "learner_id bigint, course_id bigint, status string"
    bronze = spark.createDataFrame(
        [
            (1, 10, "in_progress", None, T0, "b0"),
            (1, 10, "completed", None, T1, "b1"),  # the latest version of (1, 10)
            (2, 10, "dropped", None, T0, "b0"),
            (3, 10, "dropped", None, T0, "b0"),
            (3, 10, None, True, T1, "b1"),  # (3, 10) deleted in the source
        ],
        f"{schema}, _is_deleted boolean, _ingested_at timestamp, _batch_id string",
    )
    copy = spark.createDataFrame(
        [
            (1, 10, "completed"),  # unchanged since T1
            (2, 10, "completed"),  # changed
            (3, 10, "dropped"),  # back after its deletion
            (4, 10, "in_progress"),  # new
        ],
        schema,
    )

    assert_df_equality(
        changed_rows(copy, bronze, ["learner_id", "course_id"]),
        spark.createDataFrame(
            [(2, 10, "completed"), (3, 10, "dropped"), (4, 10, "in_progress")], schema
        ),
        ignore_row_order=True,
    )
    # Nothing in bronze yet: the whole copy.
    assert_df_equality(changed_rows(copy, None, ["learner_id", "course_id"]), copy)
