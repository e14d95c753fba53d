"""lakehouse.spark: the few local rows built in the JVM are those createDataFrame gives."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from lakehouse.spark import local_rows

SCHEMA = "name string, version bigint, day date, previous bigint, at timestamp, share double"


def test_local_rows_equal_those_of_create_data_frame_schema_and_nulls_included(spark):
    rows = [
        ("gold", 3, dt.date(2026, 10, 1), None, dt.datetime(2026, 10, 2, 8, 30), 0.5),
        ("refine", 7, None, 2, None, None),
    ]

    out = local_rows(spark, rows, SCHEMA)

    assert_df_equality(out, spark.createDataFrame(rows, SCHEMA), ignore_row_order=True)


def test_no_local_rows_is_an_empty_frame_of_the_schema(spark):
    out = local_rows(spark, [], SCHEMA)

    assert out.schema == spark.createDataFrame([], SCHEMA).schema
    assert out.count() == 0


def test_a_row_of_another_length_than_the_schema_is_refused(spark):
    with pytest.raises(ValueError):
        local_rows(spark, [("gold", 3)], SCHEMA)
