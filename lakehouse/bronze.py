"""Bronze rows: raw source rows plus lineage, the current version of each source key, tombstones
of keys deleted in the source, and schema drift between a source and its bronze table."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

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


# Marks a tombstone: a bronze row saying its key was deleted in the source (key columns and
# lineage only). Source rows leave it null.
DELETED_COLUMN = "_is_deleted"


class DeletedKeysError(RuntimeError):
    """Key reconciliation refused to tombstone keys (the source's key read looks wrong)."""


class SchemaDriftError(RuntimeError):
    """A source column's type changed in a way bronze cannot take without losing data."""


def without_deleted(df: DataFrame, keys: list[str]) -> DataFrame:
    """The source rows (no tombstones) of the keys alive in bronze: those whose last load
    (`_load_seq`, then `_ingested_at`) brought a row rather than a tombstone."""
    if DELETED_COLUMN not in df.columns:
        return df
    # Lineage orders loads, not updated_at: a tombstone has no source timestamp, and a key
    # re-inserted after its deletion comes back in a later load.
    seq = F.col("_load_seq") if "_load_seq" in df.columns else F.lit(None)
    position = F.struct(
        F.coalesce(seq.cast("bigint"), F.lit(-1)).alias("seq"), F.col("_ingested_at").alias("at")
    )
    tombstone = F.coalesce(F.col(DELETED_COLUMN), F.lit(False))
    per_key = Window.partitionBy(*keys)
    last_row = F.max(F.when(~tombstone, position)).over(per_key)
    last_tombstone = F.max(F.when(tombstone, position)).over(per_key)
    return (
        df.withColumn(
            "_alive", ~tombstone & (last_tombstone.isNull() | (last_row > last_tombstone))
        )
        .filter(F.col("_alive"))
        .drop("_alive")
    )


def live_rows(df: DataFrame, keys: list[str], order_by: list[str]) -> DataFrame:
    """One row per key alive in bronze: its latest source row (latest_rows ordering); keys
    whose last load was a tombstone are left out."""
    return latest_rows(without_deleted(df, keys), keys, order_by)


def changed_rows(rows: DataFrame, bronze: DataFrame | None, keys: list[str]) -> DataFrame:
    """The rows of a whole source copy (one per key) that are new versions: their key is not
    alive in bronze, or their columns differ from the key's latest bronze row."""
    if bronze is None:
        return rows
    compared = [c for c in rows.columns if c not in LINEAGE_COLUMNS and c not in keys]
    if any(c not in bronze.columns for c in compared):
        return rows  # a new source column: every row is a new version
    digest = lambda df: F.sha2(F.to_json(F.struct(*compared)), 256)  # noqa: E731
    current = live_rows(bronze, keys, []).select(*keys, digest(bronze).alias("_bronze_digest"))
    return (
        rows.join(current, keys, "left")
        .filter(F.col("_bronze_digest").isNull() | (F.col("_bronze_digest") != digest(rows)))
        .select(*rows.columns)
    )


def live_keys(df: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key alive in bronze (key columns only)."""
    return without_deleted(df, keys).select(*keys).distinct()


def deleted_keys(bronze_keys: DataFrame, source_keys: DataFrame) -> DataFrame:
    """One row per key alive in bronze but gone from the source (key columns of bronze_keys)."""
    keys = bronze_keys.columns
    return bronze_keys.join(source_keys.select(*keys).distinct(), keys, "left_anti")


def tombstone_rows(
    deleted: DataFrame, source: str, batch_id: str, ingested_at: dt.datetime
) -> DataFrame:
    """One tombstone per deleted key: its key columns, _is_deleted true and lineage."""
    return deleted.withColumn(DELETED_COLUMN, F.lit(True)).transform(
        with_ingest_metadata, source, batch_id, ingested_at
    )


# Casts that keep every value of the source type, by source type name; what schema_drift
# accepts as a type change (the rows are cast to the bronze type).
_INTEGRAL_WIDTHS = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}


def schema_drift(
    bronze_schema: StructType, source_schema: StructType
) -> tuple[list[StructField], list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """What a source schema changes against its bronze table, compared by column name (case
    ignored): (source columns bronze lacks; (bronze column, source type, bronze type) of each
    column whose source type casts losslessly to bronze's (int -> bigint, float -> double, a
    narrower decimal); the same of each column whose type does not)."""
    bronze = {f.name.lower(): f for f in bronze_schema.fields}
    added, widened, incompatible = [], [], []
    for field in source_schema.fields:
        known = bronze.get(field.name.lower())
        if known is None:
            added.append(field)
            continue
        source_type, bronze_type = field.dataType.simpleString(), known.dataType.simpleString()
        if source_type == bronze_type:
            continue
        change = (known.name, source_type, bronze_type)
        (widened if _lossless(source_type, bronze_type) else incompatible).append(change)
    return added, widened, incompatible


def _lossless(source: str, target: str) -> bool:
    """Whether every value of type `source` (simpleString) survives a cast to `target`."""
    if source in _INTEGRAL_WIDTHS:
        if target in _INTEGRAL_WIDTHS:
            return _INTEGRAL_WIDTHS[source] <= _INTEGRAL_WIDTHS[target]
        if target == "double":  # 53 bits of mantissa hold any int
            return _INTEGRAL_WIDTHS[source] <= 4
        digits = {1: 3, 2: 5, 4: 10, 8: 19}[_INTEGRAL_WIDTHS[source]]
        return _decimal_holds(f"decimal({digits},0)", target)
    if source == "float":
        return target == "double"
    if source.startswith("decimal("):
        precision, scale = _decimal(source)
        if target in _INTEGRAL_WIDTHS:
            return scale == 0 and precision <= {1: 2, 2: 4, 4: 9, 8: 18}[_INTEGRAL_WIDTHS[target]]
        return _decimal_holds(source, target)
    return False


def _decimal_holds(source: str, target: str) -> bool:
    if not target.startswith("decimal("):
        return False
    (p, s), (tp, ts) = _decimal(source), _decimal(target)
    return ts >= s and tp - ts >= p - s


def _decimal(name: str) -> tuple[int, int]:
    precision, scale = name[len("decimal(") : -1].split(",")
    return int(precision), int(scale)


def with_types(df: DataFrame, types: dict[str, str]) -> DataFrame:
    """The rows with each named column cast to the given type (the bronze type of a widened
    column); other columns unchanged."""
    by_name = {name.lower(): kind for name, kind in types.items()}
    return df.select(
        *[
            F.col(c).cast(by_name[c.lower()]).alias(c) if c.lower() in by_name else F.col(c)
            for c in df.columns
        ]
    )
