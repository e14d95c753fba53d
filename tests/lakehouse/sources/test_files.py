"""lakehouse.sources.files: CSV and Parquet drops described by file specs."""

from __future__ import annotations

import datetime as dt
import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality

from lakehouse.sources.files import (
    FileSourceError,
    check_drop,
    csv_header,
    file_reader_options,
    prepare_drop,
    read_drop,
    schema_columns,
)

SCHEMA = "id INT, name STRING, score DOUBLE"
SPEC = {
    "file": "people*.csv*",
    "format": "csv",
    "options": {"header": True, "nullValue": "?"},
    "schema": SCHEMA,
    "bronze": "bronze.people",
}
T0 = dt.datetime(2026, 11, 1, 2, 0)


def _write(path, text, compress=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_schema_columns_reads_names_in_order_across_nested_types():
    ddl = "a INT, `b c` STRING, d DECIMAL(9,2), e ARRAY<STRUCT<x: INT, y: INT>>, f MAP<STRING,INT>"
    assert schema_columns(ddl) == ["a", "b c", "d", "e", "f"]


def test_file_reader_options_fill_csv_defaults_and_select_the_files():
    assert file_reader_options(SPEC) == {
        "pathGlobFilter": "people*.csv*",
        "header": "true",
        "delimiter": ",",
        "nullValue": "?",
        "enforceSchema": "false",
    }
    semicolon = {**SPEC, "options": {"sep": ";", "header": False}}
    assert file_reader_options(semicolon) == {
        "pathGlobFilter": "people*.csv*",
        "header": "false",
        "delimiter": ";",
    }
    parquet = {"file": "*.parquet", "format": "Parquet", "schema": SCHEMA}
    assert file_reader_options(parquet) == {"pathGlobFilter": "*.parquet"}


def test_unknown_format_and_incomplete_spec_are_clear_errors():
    with pytest.raises(FileSourceError, match=r"unknown format 'json'.*csv, parquet"):
        file_reader_options({**SPEC, "format": "json"})
    with pytest.raises(FileSourceError, match="lacks schema"):
        file_reader_options({"file": "x.csv", "format": "csv"})


def test_read_drop_reads_plain_and_gzipped_csv_with_question_marks_as_nulls(spark, tmp_path):
    drop = tmp_path / "drop"
    _write(drop / "people_1.csv", '"id","name","score"\n"1","Ann","7.5"\n"2","?","?"\n')
    _write(drop / "sub" / "people_2.csv.gz", "id,name,score\n3,Bob,1\n", compress=True)
    _write(drop / "other.csv", "x,y\n1,2\n")  # not this spec's file: ignored

    out = read_drop(spark, SPEC, str(drop)).drop("_source_file")

    expected = spark.createDataFrame([(1, "Ann", 7.5), (2, None, None), (3, "Bob", 1.0)], SCHEMA)
    assert_df_equality(out, expected, ignore_row_order=True)
    files = read_drop(spark, SPEC, str(drop)).select("_source_file").distinct().collect()
    assert sorted(r[0].rsplit("/", 1)[1] for r in files) == ["people_1.csv", "people_2.csv.gz"]


def test_read_drop_reads_parquet(spark, tmp_path):
    drop = tmp_path / "pq"
    drop.mkdir()
    table = pa.table(
        {"id": pa.array([1], pa.int32()), "name": ["Ann"], "score": [2.0], "more": ["extra"]}
    )
    pq.write_table(table, drop / "part-0.parquet")
    spec = {"file": "*.parquet", "format": "parquet", "schema": SCHEMA}

    out = read_drop(spark, spec, str(drop)).drop("_source_file")

    assert_df_equality(out, spark.createDataFrame([(1, "Ann", 2.0)], SCHEMA))


def test_missing_directory_and_no_matching_file_are_clear_errors(spark, tmp_path):
    with pytest.raises(FileSourceError, match="drop directory .* does not exist"):
        read_drop(spark, SPEC, str(tmp_path / "nowhere"))
    _write(tmp_path / "empty" / "other.csv", "id\n1\n")
    with pytest.raises(FileSourceError, match=r"no file matching 'people\*\.csv\*'"):
        check_drop(spark, SPEC, str(tmp_path / "empty"))


def test_header_lacking_expected_columns_is_a_clear_error(spark, tmp_path):
    _write(tmp_path / "d1" / "people.csv.gz", "id,name\n1,Ann\n", compress=True)
    with pytest.raises(
        FileSourceError, match="people.csv.gz: header lacks expected columns: score"
    ):
        read_drop(spark, SPEC, str(tmp_path / "d1"))
    _write(tmp_path / "d2" / "people.csv", "name,id,score\nAnn,1,2\n")
    with pytest.raises(FileSourceError, match="taken by position"):
        check_drop(spark, SPEC, str(tmp_path / "d2"))


def test_parquet_lacking_expected_columns_is_a_clear_error(spark, tmp_path):
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.table({"id": pa.array([1], pa.int32())}), tmp_path / "pq" / "x.parquet")
    spec = {"file": "*.parquet", "format": "parquet", "schema": SCHEMA}
    with pytest.raises(FileSourceError, match="lacks expected columns: name, score"):
        check_drop(spark, spec, str(tmp_path / "pq"))


def test_csv_header_unquotes_and_honours_the_delimiter(tmp_path):
    path = _write(tmp_path / "h.csv", '\ufeff"a";"b c"\n1;2\n')
    assert csv_header(str(path), ";") == ["a", "b c"]


def test_prepare_drop_orders_columns_and_adds_lineage(spark, tmp_path):
    _write(tmp_path / "d" / "people.csv", "id,name,score\n1,Ann,2\n")
    prepare = prepare_drop(SPEC, batch_id="b-1", ingested_at=T0, source="hr:people")

    out = prepare(read_drop(spark, SPEC, str(tmp_path / "d")))

    assert out.columns == ["id", "name", "score", "_source_file", "_ingested_at", "_source",
                           "_batch_id"]  # fmt: skip
    expected = spark.createDataFrame(
        [(1, "Ann", 2.0, T0, "hr:people", "b-1")],
        SCHEMA + ", _ingested_at TIMESTAMP, _source STRING, _batch_id STRING",
    )
    assert_df_equality(out.drop("_source_file"), expected, ignore_nullable=True)
    default = prepare_drop(SPEC, batch_id="b-1", ingested_at=T0)(out.select("id", "name", "score"))
    assert default.first()["_source"] == "files:people*.csv*"
