"""Change data: payload hashes that tell a changed row from an unchanged one, and the scope of an
incremental run (the groups of rows a batch touches) used to recompute only those groups.

A scope is a DataFrame of distinct values of a few columns (for interactions: learner, course
and day). A transformation is exact on a scope when every output row depends only on input rows
of its own scope value (group-local), plus, for bronze tables with keys, every other row of the
same key (whether a key is deleted or which version is latest is decided among the key's rows).
rows_touching returns exactly that input, so running the full transformation on it gives, for
the scope's values, the rows a full rebuild would give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import DELETED_COLUMN

ROW_HASH = "_row_hash"
# A scope (or set of keys) up to this many rows is broadcast to the tasks scanning a large
# table, instead of shuffling that table to join them.
BROADCAST_ROWS = 2_000_000


def _maybe_broadcast(df: DataFrame, broadcast: bool) -> DataFrame:
    return F.broadcast(df) if broadcast else df


def with_row_hash(rows: DataFrame, hash_column: str = ROW_HASH) -> DataFrame:
    """The rows plus `hash_column`: xxhash64 of every other column and of which of them are null,
    so that a changed value (or a value moving between two nullable columns) changes the hash."""
    columns = [c for c in rows.columns if c != hash_column]
    # xxhash64 skips nulls: (null, x) and (x, null) would hash alike without the null flags.
    nulls = F.array(*[F.col(c).isNull() for c in columns])
    return rows.select(*columns, F.xxhash64(*[F.col(c) for c in columns], nulls).alias(hash_column))


def _not_tombstone(rows: DataFrame) -> DataFrame:
    if DELETED_COLUMN not in rows.columns:
        return rows
    return rows.filter(~F.coalesce(F.col(DELETED_COLUMN), F.lit(False)))


def _scoped(rows: DataFrame, scope_of_row: Mapping[str, Column]) -> DataFrame:
    return rows.select(*[expr.alias(name) for name, expr in scope_of_row.items()])


def batch_scope(
    batch: DataFrame,
    rows: DataFrame,
    keys: Sequence[str],
    scope_of_row: Mapping[str, Column],
) -> DataFrame:
    """The distinct scope values (columns of scope_of_row) a batch of new bronze rows touches:
    those of the batch's rows and, for a keyed table, of every row of a key in the batch (a new
    version or a tombstone also changes what the key's older rows produced)."""
    related = rows.join(batch.select(*keys).distinct(), list(keys), "left_semi") if keys else batch
    return _scoped(_not_tombstone(related), scope_of_row).distinct()


def rows_touching(
    rows: DataFrame,
    scope: DataFrame,
    keys: Sequence[str],
    scope_of_row: Mapping[str, Column],
    broadcast: bool = False,
    may_touch: Column | None = None,
) -> DataFrame:
    """The rows whose scope value (scope_of_row) is in `scope` and, for a keyed table, every
    other row of their keys (tombstones included): the input a group-local transformation needs
    to recompute the scope's groups exactly (`broadcast`: the scope is small enough to send to
    every task; `may_touch`: a cheap condition every row of the scope meets, checked first so
    that the scope values are computed for fewer rows)."""
    names = list(scope_of_row)
    candidates = rows if may_touch is None else rows.filter(may_touch)
    marked = candidates.select(
        "*", *[expr.alias(f"_scope_{n}") for n, expr in scope_of_row.items()]
    )
    on = [F.col(f"_scope_{n}").eqNullSafe(scope[n]) for n in names]
    hit = (
        _not_tombstone(marked)
        .join(_maybe_broadcast(scope, broadcast), on, "left_semi")
        .drop(*[f"_scope_{n}" for n in names])
    )
    if not keys:
        return hit
    return rows.join(hit.select(*keys).distinct(), list(keys), "left_semi")


def in_scope(rows: DataFrame, scope: DataFrame, broadcast: bool = False) -> DataFrame:
    """The rows whose values of the scope's columns are in `scope` (nulls match nulls;
    `broadcast`: the scope is small enough to send to every task)."""
    on = [rows[c].eqNullSafe(scope[c]) for c in scope.columns]
    return rows.join(_maybe_broadcast(scope, broadcast), on, "left_semi")


def changed_scope(changes: DataFrame, scope_of_row: Mapping[str, Column]) -> DataFrame:
    """The distinct scope values of the rows in a change feed (inserted, deleted, and both images
    of updated rows): every group whose rows changed."""
    return _scoped(changes, scope_of_row).distinct()


def same_rows(rows: DataFrame, other: DataFrame) -> bool:
    """True when both DataFrames hold the same rows, each as many times (columns matched by name,
    order ignored): whether writing `rows` over a table holding `other` would change nothing."""
    if sorted(rows.columns) != sorted(other.columns):
        return False
    # Each row counts +1 from `rows` and -1 from `other`: equal multisets sum to 0 everywhere.
    # (One shuffle; exceptAll needs two, and fails on some plans in Spark 4.1.)
    signed = rows.withColumn("_sign", F.lit(1)).unionByName(other.withColumn("_sign", F.lit(-1)))
    return signed.groupBy(*rows.columns).agg(F.sum("_sign").alias("_n")).filter("_n != 0").isEmpty()
