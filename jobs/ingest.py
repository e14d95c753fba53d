"""Ingest: new catalog landing files, file drops and LMS tables into bronze (append-only, lineage),
with tombstones for LMS keys deleted in the source and LMS schema drift checked first.

spark-submit --py-files dist/lakehouse.zip jobs/ingest.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import Counter
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.bronze import (
    DeletedKeysError,
    SchemaDriftError,
    changed_rows,
    deleted_keys,
    live_keys,
    schema_drift,
    tombstone_rows,
    with_ingest_metadata,
    with_types,
)
from lakehouse.config import ConfigError, table_conf
from lakehouse.courses import NEW_VERSIONS, catalog_record_changes
from lakehouse.runs import job_main
from lakehouse.sources.catalog import CATALOG_LANDING_SCHEMA
from lakehouse.sources.files import check_drop, file_reader_options, prepare_drop
from lakehouse.sources.lms import lms_source_schema, read_lms_keys, read_lms_table

log = logging.getLogger("lakehouse.ingest")


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """Rows appended per bronze table in this run (catalog landing, file drops, LMS); with an LMS
    source also `deleted` (keys tombstoned per bronze table) and `schema_changes` (one entry per
    source column new to bronze)."""
    ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    counts: dict[str, Any] = {}

    sources = cfg["sources"]
    changes: list[dict[str, str]] = []
    casts: dict[str, dict[str, str]] = {}
    if sources.get("lms"):
        # Before anything is written: an incompatible type change leaves every table as it was.
        changes, casts = check_lms_schemas(spark, cfg)
        tables.record_schema_changes(spark, cfg, changes)
    if sources.get("catalog"):
        counts.update(load_catalog_landing(spark, cfg, ingested_at))
    for dataset in sources.get("files") or {}:
        counts.update(load_file_drops(spark, cfg, dataset, ingested_at))
    if sources.get("lms"):
        counts.update(load_lms(spark, cfg, ingested_at, casts))
        counts["schema_changes"] = changes
    return counts


def check_lms_schemas(
    spark: SparkSession, cfg: dict[str, Any]
) -> tuple[list[dict[str, str]], dict[str, dict[str, str]]]:
    """The LMS source columns new to their bronze tables (one entry per column) and, per source
    table, the bronze type of each column whose source type is narrower (cast on load).

    Only schemas are fetched (the sources' and the Delta logs'). Raises SchemaDriftError naming
    every column whose type changed in a way bronze cannot take (anything but a lossless
    widening), so that the run stops before it writes anything.
    """
    lms = cfg["sources"]["lms"]
    changes, casts, errors = [], {}, []
    for source_table, target in lms["tables"].items():
        bronze = target["bronze"]
        if not tables.table_exists(spark, cfg, bronze):
            continue  # its first load creates it with whatever the source has
        added, widened, incompatible = schema_drift(
            tables.read_table(spark, cfg, bronze).schema,
            lms_source_schema(spark, lms, source_table),
        )
        for field in added:
            source_type = field.dataType.simpleString()
            log.warning(
                "lms.%s has a new column %s (%s): it flows into %s",
                source_table,
                field.name,
                source_type,
                bronze,
            )
            changes.append(
                {
                    "source_table": f"lms.{source_table}",
                    "column": field.name,
                    "change": "added",
                    "source_type": source_type,
                    "bronze_table": bronze,
                }
            )
        casts[source_table] = {column: bronze_type for column, _, bronze_type in widened}
        errors += [
            f"lms.{source_table} column {column!r}: {bronze} has {bronze_type}, the source now "
            f"has {source_type}"
            for column, source_type, bronze_type in incompatible
        ]
    if errors:
        raise SchemaDriftError(
            "incompatible type change in the LMS source, nothing was written (change the source "
            "back, or migrate the bronze table deliberately): " + "; ".join(errors)
        )
    return changes, casts


def load_catalog_landing(
    spark: SparkSession, cfg: dict[str, Any], ingested_at: dt.datetime
) -> dict[str, int]:
    """Rows appended to the catalog's bronze table from landing files not loaded before (only
    new versions of each page: its content_hash changed), and the records left out as
    `catalog_unchanged` and `catalog_failed` (failed fetches)."""
    catalog = cfg["sources"]["catalog"]
    bronze = catalog["bronze"]
    changes: Counter[str] = Counter()
    flagged_batches = []

    def prepare(batch):
        # Read per micro-batch (the previous one may have added versions), pinned to one
        # version so that the comparison cannot see this batch's own append.
        version = tables.table_version(spark, cfg, bronze)
        current = None if version is None else tables.read_table(spark, cfg, bronze, version)
        flagged = catalog_record_changes(batch, current).persist()
        flagged_batches.append(flagged)
        changes.update(
            {r["change"]: r["count"] for r in flagged.groupBy("change").count().collect()}
        )
        return (
            flagged.filter(F.col("change").isin(*NEW_VERSIONS))
            .drop("change")
            .transform(
                with_ingest_metadata,
                f"catalog:{catalog['spider']}",
                cfg["run"]["batch_id"],
                ingested_at,
            )
        )

    try:
        appended = tables.append_new_files(
            spark,
            cfg,
            bronze,
            source_dir=catalog["landing"],
            file_format="json",
            schema=CATALOG_LANDING_SCHEMA,
            prepare=prepare,
        )
    finally:
        for flagged in flagged_batches:
            flagged.unpersist()
    log.info(
        "%s: %d new page versions; skipped %d unchanged and %d failed fetches",
        bronze,
        appended,
        changes["unchanged"],
        changes["failed"],
    )
    return {
        bronze: appended,
        "catalog_unchanged": changes["unchanged"],
        "catalog_failed": changes["failed"],
    }


def load_file_drops(
    spark: SparkSession, cfg: dict[str, Any], dataset: str, ingested_at: dt.datetime
) -> dict[str, int]:
    """Rows appended per bronze table from one dataset's drop directory (sources.files.<name>):
    each file spec's files not loaded before, read with the spec's schema and options."""
    drop = cfg["sources"]["files"][dataset]
    landing = drop["landing"]
    counts = {}
    for part, spec in drop["files"].items():
        if "://" not in landing:
            # Fails early and clearly (missing folder, no such file, header not as declared)
            # rather than as a stream that loads nothing.
            check_drop(spark, spec, landing)
        counts[spec["bronze"]] = tables.append_new_files(
            spark,
            cfg,
            spec["bronze"],
            source_dir=landing,
            file_format=spec["format"],
            schema=str(spec["schema"]),
            options=file_reader_options(spec),
            prepare=prepare_drop(
                spec,
                batch_id=cfg["run"]["batch_id"],
                ingested_at=ingested_at,
                source=f"files:{dataset}.{part}",
            ),
        )
        log.info("%s: %d new rows from %s", spec["bronze"], counts[spec["bronze"]], landing)
    return counts


def load_lms(
    spark: SparkSession,
    cfg: dict[str, Any],
    ingested_at: dt.datetime,
    casts: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Rows appended per bronze table from the LMS: increments above each watermark, or the
    new and changed rows of tables without an incremental column, which are read whole
    (`casts`: per source table, the bronze type of each widened column); and under `deleted`,
    per bronze table, the keys tombstoned by the tables with `deletes: reconcile`."""
    batch_id = cfg["run"]["batch_id"]
    counts: dict[str, Any] = {}
    deleted: dict[str, int] = {}
    lms = cfg["sources"]["lms"]
    for source_table, target in lms["tables"].items():
        types = (casts or {}).get(source_table) or {}
        deletes = target.get("deletes")
        if deletes not in (None, "reconcile"):
            raise ConfigError(
                f"sources.lms.tables.{source_table}.deletes must be 'reconcile' or absent, "
                f"not {deletes!r}"
            )
        if target.get("incremental"):
            counts[target["bronze"]] = load_increment(spark, cfg, source_table, ingested_at, types)
        else:
            # Only rows that changed since bronze's latest copy are appended: a night (or its
            # rerun) copying an unchanged table adds nothing.
            bronze = target["bronze"]
            current = (
                tables.read_table(spark, cfg, bronze)
                if tables.table_exists(spark, cfg, bronze)
                else None
            )
            rows = (
                read_lms_table(spark, lms, source_table)
                .transform(with_types, types)
                .transform(changed_rows, current, table_conf(cfg, bronze)["keys"])
                .transform(with_ingest_metadata, f"lms:{source_table}", batch_id, ingested_at)
            )
            rows = rows.cache()
            counts[target["bronze"]] = rows.count()
            tables.append_table(rows, cfg, target["bronze"], merge_schema=True)
            rows.unpersist()
            log.info(
                "%s: %d rows (full copy of %s)",
                target["bronze"],
                counts[target["bronze"]],
                source_table,
            )
        if deletes == "reconcile":
            # After the table's own load, so that the keys compared include tonight's rows.
            deleted[target["bronze"]] = reconcile_deletes(spark, cfg, source_table, ingested_at)
    counts["deleted"] = deleted
    return counts


def load_increment(
    spark: SparkSession,
    cfg: dict[str, Any],
    source_table: str,
    ingested_at: dt.datetime,
    types: dict[str, str] | None = None,
) -> int:
    """Rows appended to bronze from one LMS table: those above its high-watermark (columns
    named in `types` cast to that type).

    Exactly once: the bronze append is idempotent for its load sequence (Delta txnAppId and
    txnVersion), each row carries `_load_seq`, and the watermark advances only after the
    append commits. A run that died between the two finds the committed load in bronze and
    advances the watermark from it before extracting again.
    """
    lms = cfg["sources"]["lms"]
    target = lms["tables"][source_table]
    bronze, column = target["bronze"], target["incremental"]
    key = f"lms.{source_table}"
    fail_at = cfg["run"].get("fail_at")

    value, seq = tables.watermark(spark, cfg, key)
    if tables.table_exists(spark, cfg, bronze):
        committed = tables.read_table(spark, cfg, bronze)
        if "_load_seq" in committed.columns:
            # Only loads newer than the watermark's can be unrecorded; Delta's file
            # statistics on _load_seq skip the rest of bronze.
            last = (
                committed.filter(F.col("_load_seq") > seq)
                .agg(F.max("_load_seq").alias("seq"), F.max(column).alias("value"))
                .first()
            )
            if last["seq"] is not None:
                log.warning(
                    "%s: load %s committed without its watermark; recovering", key, last["seq"]
                )
                seq = int(last["seq"])
                # A load of tombstones only has no value of the column: the watermark stays.
                if last["value"] is not None:
                    value = str(last["value"])
                tables.advance_watermark(spark, cfg, key, column, value, seq)

    after = (column, value) if value is not None else None
    rows = (
        read_lms_table(spark, lms, source_table, after=after)
        .transform(with_types, types or {})
        .transform(with_ingest_metadata, f"lms:{source_table}", cfg["run"]["batch_id"], ingested_at)
        .withColumn("_load_seq", F.lit(seq + 1).cast("bigint"))
        .cache()
    )
    extracted = rows.agg(F.count(F.lit(1)).alias("n"), F.max(column).alias("value")).first()
    if fail_at == "after_extract":
        raise RuntimeError(f"injected failure after extracting {key}")
    if extracted["n"] == 0:
        rows.unpersist()
        log.info("%s: nothing above watermark %s", bronze, value)
        return 0
    tables.append_table(rows, cfg, bronze, merge_schema=True, txn=(key, seq + 1))
    rows.unpersist()
    if fail_at == "after_bronze_commit":
        raise RuntimeError(f"injected failure after committing {key} to bronze")
    tables.advance_watermark(spark, cfg, key, column, str(extracted["value"]), seq + 1)
    log.info("%s: %d rows above %s (load %d)", bronze, extracted["n"], value, seq + 1)
    return int(extracted["n"])


def reconcile_deletes(
    spark: SparkSession, cfg: dict[str, Any], source_table: str, ingested_at: dt.datetime
) -> int:
    """Tombstones appended to one LMS table's bronze table: one per key alive in bronze but gone
    from the source, whose key columns (conf `tables:` keys) are all that is read of it.

    Exactly once, like the loads: on an incremental table the tombstones are its next load
    (`_load_seq`, same Delta txn app id, watermark advanced after the commit and recovered by
    load_increment after a crash in between); on a copied table the txn version is the bronze
    version the tombstones were computed from. A rerun computes them from bronze again, where
    tombstoned keys are no longer alive. A source returning no keys at all while bronze has
    some is refused (DeletedKeysError) unless the table allows it (`allow_empty_source`).
    """
    lms = cfg["sources"]["lms"]
    target = lms["tables"][source_table]
    bronze = target["bronze"]
    if not tables.table_exists(spark, cfg, bronze):
        return 0
    keys = table_conf(cfg, bronze)["keys"]
    version = tables.table_version(spark, cfg, bronze)
    alive = tables.read_table(spark, cfg, bronze, version=version).transform(live_keys, keys)
    source_keys = read_lms_keys(spark, lms, source_table, keys).cache()
    gone = deleted_keys(alive, source_keys).cache()
    try:
        found, missing = source_keys.count(), gone.count()
        if missing and not found and not target.get("allow_empty_source"):
            raise DeletedKeysError(
                f"lms.{source_table} returned no keys while {bronze} has {missing} alive: "
                "refusing to tombstone them all (a failed or filtered read?); set "
                f"sources.lms.tables.{source_table}.allow_empty_source: true if the table was "
                "really emptied"
            )
        if not missing:
            return 0
        rows = gone.transform(
            tombstone_rows, f"lms:{source_table}", cfg["run"]["batch_id"], ingested_at
        )
        column = target.get("incremental")
        if column:
            key = f"lms.{source_table}"
            value, seq = tables.watermark(spark, cfg, key)
            rows = rows.withColumn("_load_seq", F.lit(seq + 1).cast("bigint"))
            tables.append_table(rows, cfg, bronze, merge_schema=True, txn=(key, seq + 1))
            if cfg["run"].get("fail_at") == "after_tombstone_commit":
                raise RuntimeError(f"injected failure after committing tombstones of {key}")
            tables.advance_watermark(spark, cfg, key, column, value, seq + 1)
        else:
            txn = (f"lms.{source_table}:deletes", version)
            tables.append_table(rows, cfg, bronze, merge_schema=True, txn=txn)
    finally:
        gone.unpersist()
        source_keys.unpersist()
    log.warning("%s: %d keys deleted in lms.%s, tombstoned", bronze, missing, source_table)
    return missing


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "ingest", argv)


if __name__ == "__main__":
    sys.exit(main())
