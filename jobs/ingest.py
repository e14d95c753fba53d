"""Ingest: new catalog landing files and the LMS tables into bronze (append-only, with lineage).

spark-submit --py-files dist/lakehouse.zip jobs/ingest.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.bronze import with_ingest_metadata
from lakehouse.runs import job_main
from lakehouse.sources.catalog import CATALOG_LANDING_SCHEMA
from lakehouse.sources.lms import read_lms_table

log = logging.getLogger("lakehouse.ingest")


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Rows appended per bronze table in this run."""
    batch_id = cfg["run"]["batch_id"]
    ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    counts: dict[str, int] = {}

    catalog = cfg["sources"]["catalog"]
    counts[catalog["bronze"]] = tables.append_new_files(
        spark,
        cfg,
        catalog["bronze"],
        source_dir=catalog["landing"],
        file_format="json",
        schema=CATALOG_LANDING_SCHEMA,
        prepare=lambda df: with_ingest_metadata(
            df, f"catalog:{catalog['spider']}", batch_id, ingested_at
        ),
    )

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
