"""The file connector: directories of CSV or Parquet drops, each file described in conf.

Arbitrary datasets cannot have a named schema constant each, so a dataset's settings describe
its files, one spec (a mapping, as conf gives it) per file:

- `file`: the file name, or a glob of names (`*`, `?`, `[...]`), e.g. `studentVle.csv*`; it is
  matched against file names anywhere below the drop directory;
- `format`: `csv` or `parquet`;
- `options`: CSV reader options (`header`, default true; `delimiter`, default `,`; `nullValue`,
  ...); `.gz`/`.bz2` files are decompressed automatically, by their extension;
- `schema`: the explicit schema as a DDL string (`id INT, name STRING`); CSV columns are
  positional, so for CSV it also names the header's columns, in order;
- `bronze`: the bronze table the file loads into.

`read_drop` reads one drop in a batch (tests, one-offs); `file_reader_options` and
`prepare_drop` are what a stream of drops into bronze (`tables.append_new_files`) needs: the
reader options (file glob included, so one directory can hold several datasets' files) and the
function adding lineage to each micro-batch.
"""

from __future__ import annotations

import bz2
import csv
import datetime as dt
import fnmatch
import gzip
import io
import os
from collections.abc import Callable, Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze import with_ingest_metadata

FORMATS = ("csv", "parquet")
# What a CSV drop is read with unless its spec says otherwise.
CSV_DEFAULTS: dict[str, str] = {"header": "true", "delimiter": ","}
_REQUIRED = ("file", "format", "schema")


class FileSourceError(RuntimeError):
    """A file drop cannot be read as its spec describes."""


def schema_columns(ddl: str) -> list[str]:
    """The column names of a DDL schema string, in order (`a INT, b DECIMAL(9,2)` -> [a, b])."""
    columns, depth, current = [], 0, []
    for ch in ddl + ",":
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            field = "".join(current).strip()
            if field:
                if field.startswith("`"):
                    columns.append(field[1 : field.index("`", 1)])
                else:
                    columns.append(field.split()[0])
            current = []
        else:
            current.append(ch)
    return columns


def file_reader_options(spec: Mapping[str, Any]) -> dict[str, str]:
    """The Spark reader options of one file spec: its CSV options (defaults filled in) and the
    `pathGlobFilter` selecting its files, as text (what DataFrameReader.options takes)."""
    fmt = _format(spec)
    options: dict[str, str] = {"pathGlobFilter": str(spec["file"])}
    if fmt == "csv":
        options.update(CSV_DEFAULTS)
        for key, value in (spec.get("options") or {}).items():
            options["delimiter" if key == "sep" else key] = _option_text(value)
        # CSV columns are taken by position: make Spark check each file's header against the
        # schema too (the streaming load never goes through check_drop).
        if options["header"] == "true":
            options["enforceSchema"] = "false"
    else:
        for key, value in (spec.get("options") or {}).items():
            options[key] = _option_text(value)
    return options


def drop_files(spec: Mapping[str, Any], path: str) -> list[str]:
    """The files below a local drop directory that the spec's `file` glob names, sorted."""
    _format(spec)
    if not os.path.isdir(path):
        raise FileSourceError(f"drop directory {path!r} does not exist (or is not a directory)")
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        for name in files:
            if not name.startswith(("_", ".")) and fnmatch.fnmatchcase(name, str(spec["file"])):
                found.append(os.path.join(root, name))
    return sorted(found)


def check_drop(spark: SparkSession, spec: Mapping[str, Any], path: str) -> list[str]:
    """The spec's files in a local drop directory, once each is found to hold the spec's columns.

    A CSV file's header line must name the schema's columns in order (they are positional); a
    Parquet file must have every schema column. Raises FileSourceError saying what is wrong.
    """
    files = drop_files(spec, path)
    if not files:
        raise FileSourceError(f"no file matching {spec['file']!r} in drop directory {path!r}")
    expected = schema_columns(str(spec["schema"]))
    for file in files:
        if _format(spec) == "csv":
            options = file_reader_options(spec)
            if options["header"] != "true":
                continue
            _check_header(file, csv_header(file, options["delimiter"]), expected)
        else:
            found = spark.read.parquet(file).columns
            missing = [c for c in expected if c not in found]
            if missing:
                raise FileSourceError(f"{file} lacks expected columns: {', '.join(missing)}")
    return files


def csv_header(file: str, delimiter: str = ",") -> list[str]:
    """The column names on the first line of a CSV file (plain, .gz or .bz2), unquoted."""
    opener: Callable[..., Any] = open
    if file.endswith(".gz"):
        opener = gzip.open
    elif file.endswith(".bz2"):
        opener = bz2.open
    with opener(file, "rt", encoding="utf-8-sig", newline="") as handle:
        line = handle.readline()
    row = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    return [c.strip() for c in row]


def read_drop(spark: SparkSession, spec: Mapping[str, Any], path: str) -> DataFrame:
    """The rows of the spec's files in one drop directory, in the spec's schema, each with the
    `_source_file` it came from (as the streaming load has it). Local directories are checked
    first (directory exists, files found, headers as expected)."""
    options = file_reader_options(spec)
    if "://" not in path or path.startswith("file://"):
        check_drop(spark, spec, path.removeprefix("file://"))
    return (
        spark.read.format(_format(spec))
        .schema(str(spec["schema"]))
        .options(**options)
        .option("recursiveFileLookup", "true")
        .load(path)
        .withColumn("_source_file", F.col("_metadata.file_path"))
    )


def prepare_drop(
    spec: Mapping[str, Any],
    *,
    batch_id: str,
    ingested_at: dt.datetime,
    source: str | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """The `prepare` of `tables.append_new_files` for one file spec: the rows of a micro-batch
    in the spec's column order (then `_source_file`), plus lineage (`with_ingest_metadata`);
    `source` defaults to `files:<file glob>`."""
    _format(spec)
    columns = schema_columns(str(spec["schema"]))
    label = source or f"files:{spec['file']}"

    def prepare(batch: DataFrame) -> DataFrame:
        extra = [c for c in ("_source_file",) if c in batch.columns]
        rows = batch.select(*columns, *extra)
        return with_ingest_metadata(rows, label, batch_id, ingested_at)

    return prepare


def _format(spec: Mapping[str, Any]) -> str:
    missing = [key for key in _REQUIRED if not spec.get(key)]
    if missing:
        raise FileSourceError(f"file spec {dict(spec)!r} lacks {', '.join(missing)}")
    fmt = str(spec["format"]).lower()
    if fmt not in FORMATS:
        raise FileSourceError(
            f"unknown format {spec['format']!r} for {spec['file']!r} (known: {', '.join(FORMATS)})"
        )
    return fmt


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_header(file: str, header: list[str], expected: list[str]) -> None:
    missing = [c for c in expected if c not in header]
    if missing:
        raise FileSourceError(
            f"{file}: header lacks expected columns: {', '.join(missing)} "
            f"(header: {', '.join(header)})"
        )
    if header != expected:
        raise FileSourceError(
            f"{file}: header columns {', '.join(header)} differ from the schema's "
            f"{', '.join(expected)} (CSV columns are taken by position)"
        )
