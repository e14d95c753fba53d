"""Bronze rows: raw source rows plus lineage, and the current version of each source key."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

LINEAGE_COLUMNS = ("_ingested_at", "_source", "_batch_id")


def with_ingest_metadata(
    df: DataFrame, source: str, batch_id: str, ingested_at: dt.datetime
) -> DataFrame:
    """The source rows unchanged, plus _ingested_at, _source and _batch_id lineage columns."""
    return (
        df.withColumn("_ingested_at", F.lit(ingested_at).cast("timestamp"))
        .withColumn("_source", F.lit(source))
        .withColumn("_batch_id", F.lit(batch_id))
    )


def latest_rows(df: DataFrame, keys: list[str], order_by: list[str]) -> DataFrame:
    """One row per key: the one that sorts last by order_by (nulls first), lineage tie-breaking."""
    ordering = [F.col(c).desc_nulls_last() for c in order_by]
    ordering += [
        F.col(c).desc_nulls_last() for c in ("_ingested_at", "_batch_id") if c in df.columns
    ]
    window = Window.partitionBy(*keys).orderBy(*ordering)
    return (
        df.withColumn("_row", F.row_number().over(window)).filter(F.col("_row") == 1).drop("_row")
    )
