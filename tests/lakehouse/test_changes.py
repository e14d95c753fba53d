"""lakehouse.changes: payload hashes and the scope of an incremental batch."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.changes import (
    batch_scope,
    changed_scope,
    in_scope,
    rows_touching,
    same_rows,
    with_row_hash,
)

D = dt.date
BRONZE = "id bigint, learner_id bigint, day date, _is_deleted boolean"
SCOPE = "learner_id bigint, day date"


def scope_of_row():
    return {"learner_id": F.col("learner_id"), "day": F.col("day")}


def _equal(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_row_hash_changes_with_any_value_and_with_a_value_moving_between_null_columns(spark):
    rows = spark.createDataFrame(
        [(1, "a", None), (1, None, "a"), (1, "a", "b"), (1, "a", None)], "k int, x string, y string"
    )

    hashes = [r["_row_hash"] for r in with_row_hash(rows).collect()]

    assert hashes[0] == hashes[3]
    assert len(set(hashes[:3])) == 3
    assert with_row_hash(rows).columns == ["k", "x", "y", "_row_hash"]


def test_batch_scope_covers_every_row_of_a_batch_key_but_no_tombstone(spark):
    bronze = spark.createDataFrame(
        [
            (1, 7, D(2026, 10, 1), None),  # the old version of key 1
            (1, 7, D(2026, 10, 3), None),  # its new version, in the batch
            (2, 8, D(2026, 10, 2), None),  # key 2: its tombstone is in the batch
            (2, None, None, True),
            (3, 9, D(2026, 10, 2), None),  # untouched
        ],
        BRONZE,
    )
    batch = bronze.filter("(id = 1 AND day = DATE'2026-10-03') OR _is_deleted")

    out = batch_scope(batch, bronze, ["id"], scope_of_row())

    _equal(
        out,
        spark.createDataFrame(
            [(7, D(2026, 10, 1)), (7, D(2026, 10, 3)), (8, D(2026, 10, 2))], SCOPE
        ),
    )


def test_rows_touching_a_scope_bring_every_row_of_their_keys(spark):
    bronze = spark.createDataFrame(
        [
            (1, 7, D(2026, 10, 1), None),
            (1, None, None, True),  # key 1's tombstone comes along with its row in the scope
            (2, 7, D(2026, 10, 2), None),  # same learner, another day: not in the scope
            (3, None, D(2026, 10, 1), None),  # a null learner matches a null in the scope
        ],
        BRONZE,
    )
    scope = spark.createDataFrame([(7, D(2026, 10, 1)), (None, D(2026, 10, 1))], SCOPE)

    keyed = rows_touching(bronze, scope, ["id"], scope_of_row())
    unkeyed = rows_touching(bronze.drop("_is_deleted"), scope, [], scope_of_row())

    _equal(keyed, bronze.filter("id IN (1, 3)"))
    # Without keys, only the rows in the scope themselves.
    _equal(unkeyed, bronze.drop("_is_deleted").filter("id IN (1, 3) AND day IS NOT NULL"))


def test_rows_touching_with_a_cheap_condition_first_give_the_same_rows(spark):
    bronze = spark.createDataFrame(
        [
            (1, 7, D(2026, 10, 1), None),
            (1, None, None, True),  # fails the condition, still comes along with key 1
            (2, 7, D(2026, 10, 2), None),
            (3, 8, D(2026, 9, 1), None),
        ],
        BRONZE,
    )
    scope = spark.createDataFrame([(7, D(2026, 10, 1))], SCOPE)
    on_day = F.col("day") == F.lit(D(2026, 10, 1))

    keyed = rows_touching(bronze, scope, ["id"], scope_of_row(), may_touch=on_day)
    unkeyed = rows_touching(bronze.drop("_is_deleted"), scope, [], scope_of_row(), may_touch=on_day)

    _equal(keyed, rows_touching(bronze, scope, ["id"], scope_of_row()))
    _equal(keyed, bronze.filter("id = 1"))
    _equal(unkeyed, bronze.drop("_is_deleted").filter("id = 1 AND day IS NOT NULL"))


def test_in_scope_and_changed_scope(spark):
    changes = spark.createDataFrame(
        [(7, D(2026, 10, 1), "insert"), (7, D(2026, 10, 1), "delete"), (8, None, "insert")],
        "learner_id bigint, day date, _change_type string",
    )

    scope = changed_scope(changes, scope_of_row())

    _equal(scope, spark.createDataFrame([(7, D(2026, 10, 1)), (8, None)], SCOPE))
    rows = spark.createDataFrame(
        [(1, 7, D(2026, 10, 1)), (2, 7, D(2026, 10, 2)), (3, 8, None)],
        "id bigint, learner_id bigint, day date",
    )
    _equal(in_scope(rows, scope), rows.filter("id IN (1, 3)"))


def test_same_rows_counts_duplicates_and_ignores_row_and_column_order(spark):
    rows = spark.createDataFrame(
        [(1, [D(2024, 1, 1)]), (1, [D(2024, 1, 1)]), (2, [])], "k int, days array<date>"
    )
    reordered = spark.createDataFrame(
        [([], 2), ([D(2024, 1, 1)], 1), ([D(2024, 1, 1)], 1)], "days array<date>, k int"
    )
    once = rows.dropDuplicates(["k"])
    changed = spark.createDataFrame(
        [(1, [D(2024, 1, 2)]), (1, [D(2024, 1, 1)]), (2, [])], "k int, days array<date>"
    )

    assert same_rows(rows, reordered)
    assert not same_rows(rows, once)
    assert not same_rows(once, rows)
    assert not same_rows(rows, changed)
    assert not same_rows(rows, rows.select("k"))
