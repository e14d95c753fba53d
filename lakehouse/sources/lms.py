"""The LMS database connector: source tables read over JDBC with their expected schemas.

The source settings (conf `sources.lms`) name the JDBC url and driver, the environment
variables holding the user and password (`user_env`, `password_env`), and per table under
`tables.<name>`:

- `query`: a SELECT to read instead of the table of that name (it must yield the table's
  expected columns);
- `partition_column` (an integer column of the table) and `num_partitions`: read in parallel,
  the bounds being discovered from the source with one small `SELECT min(..), max(..)`.

Timestamps stay text in bronze ('YYYY-MM-DD HH:MM:SS', as the demo's SQLite stores them);
timestamp and date columns of PostgreSQL are rendered as that same text by the database itself.
"""

from __future__ import annotations

import os
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NumericType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

# What the lakehouse expects of each LMS table. Timestamps stay text in bronze
# (raw, exactly as the source stores them) and are typed in silver.
LMS_SCHEMAS: dict[str, str] = {
    "learners": (
        "id BIGINT, name STRING, department STRING, job_role STRING, country STRING, "
        "hired_at STRING, updated_at STRING"
    ),
    "courses": (
        "id BIGINT, code STRING, title STRING, provider STRING, category STRING, level STRING, "
        "duration_hours INT, updated_at STRING"
    ),
    "enrollments": (
        "learner_id BIGINT, course_id BIGINT, enrolled_at STRING, completed_at STRING, "
        "score DOUBLE, status STRING"
    ),
    "activity_events": (
        "id BIGINT, learner_id BIGINT, course_id BIGINT, event_type STRING, ts STRING, value DOUBLE"
    ),
    "ratings": "learner_id BIGINT, course_id BIGINT, stars INT, ts STRING",
}

# The text form of bronze timestamps, in PostgreSQL's to_char notation.
_PG_TIMESTAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS"
_INTEGRAL = ("BIGINT", "INT")
_TEMPORAL = (TimestampType, TimestampNTZType, DateType)
_NUMERIC_TYPES = {"BIGINT": LongType(), "INT": IntegerType(), "DOUBLE": DoubleType()}
# Exceptions of these packages only wrap the driver's own error, which says what went wrong.
_WRAPPERS = ("org.apache.spark.", "py4j.", "java.lang.reflect.", "java.util.concurrent.")


class SourceError(RuntimeError):
    """A source could not be read; the message never carries credentials."""


def jdbc_options(source: dict[str, Any], table: str) -> dict[str, str]:
    """The JDBC options reading one source table as the source holds it.

    `dbtable` is the table, or `(<query>) AS lms_source` when the table's settings name a
    query; the user and password come from the environment variables the settings name.
    """
    if table not in LMS_SCHEMAS:
        raise SourceError(f"unknown LMS table {table!r} (known: {', '.join(LMS_SCHEMAS)})")
    url = source["url"]
    if "password" in source or "password=" in url.lower():
        raise SourceError(
            "LMS source settings must not hold a password: put it in the environment variable "
            "named by sources.lms.password_env"
        )
    query = _table_settings(source, table).get("query")
    options = {
        "url": url,
        "driver": source["driver"],
        "dbtable": f"({query.strip().rstrip(';')}) AS lms_source" if query else table,
        "fetchsize": str(source.get("fetchsize", 10000)),
    }
    if _is_postgres(url):
        # timestamptz values render in the session's zone; make that UTC, as in bronze.
        options["sessionInitStatement"] = "SET TIME ZONE 'UTC'"
    for option, env_key in (("user", "user_env"), ("password", "password_env")):
        name = source.get(env_key)
        if name and os.environ.get(name):
            options[option] = os.environ[name]
    return options


def read_lms_table(
    spark: SparkSession,
    source: dict[str, Any],
    table: str,
    after: tuple[str, str] | None = None,
) -> DataFrame:
    """One row per source row of an LMS table: all of them, or with `after=(column, value)` only
    those whose column is greater than the value (a watermark). The expected columns come first,
    in their expected types; any other column of the source follows as the source types it
    (temporal values as text), so that new source columns reach bronze."""
    options = jdbc_options(source, table)
    settings = _table_settings(source, table)
    expected = _expected(table)
    found = _source_fields(spark, options, source, table)
    postgres = _is_postgres(source["url"])
    select = [
        _column_sql(name, found[name.lower()], as_text=kind == "STRING" and postgres)
        for name, kind in expected
    ]
    extra = [f for key, f in found.items() if key not in {n.lower() for n, _ in expected}]
    select += [_column_sql(f'"{f.name}"', f, as_text=postgres) for f in extra]
    relation = options["dbtable"]
    where = ""
    if after is not None:
        column, value = after
        if column not in dict(expected):
            raise SourceError(f"watermark column {column!r} is not a column of LMS table {table!r}")
        literal = str(int(value)) if dict(expected)[column] in _INTEGRAL else _sql_string(value)
        where = f" WHERE {column} > {literal}"
    read = {
        **options,
        "dbtable": f"(SELECT {', '.join(select)} FROM {relation}{where}) AS lms_rows",
        # Only the expected columns: the others keep the driver's own type mapping.
        "customSchema": LMS_SCHEMAS[table],
    }
    read.update(_partitioning(spark, options, source, table, settings, dict(expected)))
    df = _load(spark, read, source, table)
    # The cast also drops the VARCHAR(n) some drivers report (SQLite: VARCHAR(0) for TEXT),
    # which Delta would otherwise enforce as a length limit.
    return df.select(
        *[F.col(name).cast(kind).alias(name) for name, kind in expected],
        *[F.col(f"`{f.name}`").cast(df.schema[f.name].dataType).alias(f.name) for f in extra],
    )


def read_lms_keys(
    spark: SparkSession, source: dict[str, Any], table: str, keys: list[str]
) -> DataFrame:
    """One row per source row of an LMS table: its key columns only, in their expected types
    (what key reconciliation reads each night instead of the whole table)."""
    options = jdbc_options(source, table)
    kinds = dict(_expected(table))
    unknown = [k for k in keys if k not in kinds]
    if unknown:
        raise SourceError(
            f"key columns {', '.join(unknown)} are not columns of LMS table {table!r}"
        )
    read = {
        **options,
        "dbtable": f"(SELECT {', '.join(keys)} FROM {options['dbtable']}) AS lms_keys",
        "customSchema": ", ".join(f"{k} {kinds[k]}" for k in keys),
    }
    df = _load(spark, read, source, table)
    return df.select(*[F.col(k).cast(kinds[k]).alias(k) for k in keys])


def lms_source_schema(spark: SparkSession, source: dict[str, Any], table: str) -> StructType:
    """The columns of an LMS table as the source types them, before the connector casts the
    expected ones: what schema drift is judged on (only the schema is fetched, no rows).

    PostgreSQL's temporal columns count as text, which is how the connector reads them. SQLite
    columns have an affinity, not a width, and its driver reports widths at random (BIGINT as
    decimal(20,0), an expression as decimal(38,18)): a numeric SQLite column counts as the
    expected numeric type, so only a change of affinity (number <-> text) is drift there.
    """
    options = jdbc_options(source, table)
    kinds = {name.lower(): kind for name, kind in _expected(table)}
    postgres = _is_postgres(source["url"])
    fields = []
    for key, field in _source_fields(spark, options, source, table).items():
        kind = field.dataType
        if postgres and isinstance(kind, _TEMPORAL):
            kind = StringType()
        elif _is_sqlite(source["url"]) and isinstance(kind, NumericType):
            declared = kinds.get(key)
            if declared and declared != "STRING":
                kind = _NUMERIC_TYPES[declared]
            elif kind == DecimalType(20, 0):
                kind = LongType()
        fields.append(StructField(field.name, kind, True))
    return StructType(fields)


def _expected(table: str) -> list[list[str]]:
    return [c.split() for c in LMS_SCHEMAS[table].split(", ")]


def _source_fields(
    spark: SparkSession, options: dict[str, str], source: dict[str, Any], table: str
) -> dict[str, StructField]:
    """The source's own columns and types by lower-cased name, the expected ones checked;
    Spark only asks for them (`WHERE 1=0`)."""
    found = {f.name.lower(): f for f in _load(spark, options, source, table).schema.fields}
    missing = [name for name, _ in _expected(table) if name.lower() not in found]
    if missing:
        raise SourceError(f"LMS table {table!r} lacks expected columns: {', '.join(missing)}")
    return found


def _column_sql(name: str, field: StructField, as_text: bool) -> str:
    """A select-list item reading one source column (name as SQL spells it); temporal values
    as bronze text when asked."""
    if as_text and isinstance(field.dataType, _TEMPORAL):
        return f"to_char({name}, '{_PG_TIMESTAMP_FORMAT}') AS {name}"
    return name


def _partitioning(
    spark: SparkSession,
    options: dict[str, str],
    source: dict[str, Any],
    table: str,
    settings: dict[str, Any],
    kinds: dict[str, str],
) -> dict[str, str]:
    """Spark's partitioned-read options for the table's settings; empty for a single read."""
    column = settings.get("partition_column")
    if not column:
        return {}
    if kinds.get(column) not in _INTEGRAL:
        raise SourceError(
            f"partition_column {column!r} of LMS table {table!r} must be one of its integer "
            f"columns ({', '.join(c for c, k in kinds.items() if k in _INTEGRAL)})"
        )
    count = settings.get("num_partitions") or spark.sparkContext.defaultParallelism
    if int(count) < 1:
        raise SourceError(f"num_partitions of LMS table {table!r} must be at least 1")
    bounds = {
        **options,
        "dbtable": f"(SELECT min({column}) AS lo, max({column}) AS hi "
        f"FROM {options['dbtable']}) AS lms_bounds",
        "customSchema": "lo BIGINT, hi BIGINT",
    }
    query = _load(spark, bounds, source, table)
    try:
        lo, hi = query.first()
    except Exception as exc:  # noqa: BLE001 - re-raised without the driver's text, which may hold secrets
        raise _source_error(exc, options, source, table) from None
    if lo is None:  # an empty table: nothing to split
        return {}
    return {
        "partitionColumn": column,
        "lowerBound": str(lo),
        "upperBound": str(hi),
        "numPartitions": str(int(count)),
    }


def _load(
    spark: SparkSession, options: dict[str, str], source: dict[str, Any], table: str
) -> DataFrame:
    try:
        return spark.read.format("jdbc").options(**options).load()
    except Exception as exc:  # noqa: BLE001 - re-raised without the driver's text, which may hold secrets
        raise _source_error(exc, options, source, table) from None


def _source_error(
    exc: Exception, options: dict[str, str], source: dict[str, Any], table: str
) -> SourceError:
    text = _cause_text(exc)
    secret = options.get("password")
    if secret:
        text = text.replace(secret, "***")
    return SourceError(f"cannot read LMS table {table!r} from {_safe_url(source['url'])}: {text}")


def _cause_text(exc: Exception) -> str:
    """The first line of the driver's own error inside a Spark/py4j error, else of exc itself."""
    # Py4JJavaError keeps the Java exception in java_exception, pyspark's own errors in _origin.
    cause = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    if cause is not None:
        try:
            chain = []
            while cause is not None and len(chain) < 20:
                chain.append(cause)
                cause = cause.getCause()
            names = [c.getClass().getName() for c in chain]
            picked = next(
                (c for c, n in zip(chain, names, strict=True) if not n.startswith(_WRAPPERS)),
                chain[-1],
            )
            lines = [line.strip() for line in str(picked.toString()).splitlines()]
            if any(lines):
                return next(line for line in lines if line)
        except Exception:  # noqa: BLE001 - the JVM side is gone; fall back to Python's text
            pass
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _table_settings(source: dict[str, Any], table: str) -> dict[str, Any]:
    return (source.get("tables") or {}).get(table) or {}


def _sql_string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _is_postgres(url: str) -> bool:
    return url.startswith("jdbc:postgresql:")


def _is_sqlite(url: str) -> bool:
    return url.startswith("jdbc:sqlite:")


def _safe_url(url: str) -> str:
    # JDBC URLs may embed ?password=...; keep only the part before the query.
    return url.split("?", 1)[0]
