"""The LMS database connector: source tables read over JDBC with their expected schemas."""

from __future__ import annotations

import os
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

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


class SourceError(RuntimeError):
    """A source could not be read; the message never carries credentials."""


def jdbc_options(source: dict[str, Any], table: str) -> dict[str, str]:
    """The JDBC reader options for one source table, credentials taken from the environment."""
    if table not in LMS_SCHEMAS:
        raise SourceError(f"unknown LMS table {table!r} (known: {', '.join(LMS_SCHEMAS)})")
    options = {
        "url": source["url"],
        "driver": source["driver"],
        "dbtable": table,
        "customSchema": LMS_SCHEMAS[table],
        "fetchsize": str(source.get("fetchsize", 10000)),
    }
    for option, env_key in (("user", "user_env"), ("password", "password_env")):
        name = source.get(env_key)
        if name and os.environ.get(name):
            options[option] = os.environ[name]
    return options


def read_lms_table(spark: SparkSession, source: dict[str, Any], table: str) -> DataFrame:
    """The full current content of one LMS table, one row per source row, in its expected schema."""
    options = jdbc_options(source, table)
    try:
        df = spark.read.format("jdbc").options(**options).load()
    except Exception as exc:  # noqa: BLE001 - re-raised without the driver's text, which may hold secrets
        secret = options.get("password")
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if secret:
            text = text.replace(secret, "***")
        raise SourceError(
            f"cannot read LMS table {table!r} from {_safe_url(source['url'])}: {text}"
        ) from None
    expected = [c.split() for c in LMS_SCHEMAS[table].split(", ")]
    missing = [name for name, _ in expected if name not in df.columns]
    if missing:
        raise SourceError(f"LMS table {table!r} lacks expected columns: {', '.join(missing)}")
    # The cast also drops the VARCHAR(n) some drivers report, which Delta would
    # otherwise enforce as a length limit.
    return df.select(*[F.col(name).cast(kind).alias(name) for name, kind in expected])


def _safe_url(url: str) -> str:
    # JDBC URLs may embed ?password=...; keep only the part before the query.
    return url.split("?", 1)[0]
