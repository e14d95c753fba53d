"""Ingest: new catalog landing files, file drops and LMS tables into bronze (append-only, lineage).

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
from lakehouse.bronze import with_ingest_metadata
from lakehouse.courses import NEW_VERSIONS, catalog_record_changes
from lakehouse.runs import job_main
from lakehouse.sources.catalog import CATALOG_LANDING_SCHEMA
from lakehouse.sources.files import check_drop, file_reader_options, prepare_drop
from lakehouse.sources.lms import read_lms_table

log = logging.getLogger("lakehouse.ingest")


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows appended per bronze table in this run (catalog landing, file drops, LMS)."""
    ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    counts: dict[str, int] = {}

    sources = cfg["sources"]
    if sources.get("catalog"):
        counts.update(load_catalog_landing(spark, cfg, ingested_at))
    for dataset in sources.get("files") or {}:
        counts.update(load_file_drops(spark, cfg, dataset, ingested_at))
    if sources.get("lms"):
        counts.update(load_lms(spark, cfg, ingested_at))
    return counts


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


def load_lms(spark: SparkSession, cfg: dict[str, Any], ingested_at: dt.datetime) -> dict[str, int]:
    """Rows appended per bronze table from the LMS: increments above each watermark, or whole
    copies of tables without an incremental column."""
    batch_id = cfg["run"]["batch_id"]
    counts: dict[str, int] = {}
    lms = cfg["sources"]["lms"]
    for source_table, target in lms["tables"].items():
        if target.get("incremental"):
            counts[target["bronze"]] = load_increment(spark, cfg, source_table, ingested_at)
            continue
        rows = read_lms_table(spark, lms, source_table).transform(
            with_ingest_metadata, f"lms:{source_table}", batch_id, ingested_at
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
    return counts


def load_increment(
    spark: SparkSession, cfg: dict[str, Any], source_table: str, ingested_at: dt.datetime
) -> int:
    """Rows appended to bronze from one LMS table: those above its high-watermark.

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
                value, seq = str(last["value"]), int(last["seq"])
                tables.advance_watermark(spark, cfg, key, column, value, seq)

    after = (column, value) if value is not None else None
    rows = (
        read_lms_table(spark, lms, source_table, after=after)
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


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "ingest", argv)


if __name__ == "__main__":
    sys.exit(main())
