"""Ingest: new catalog landing files and the LMS tables into bronze (append-only, with lineage).

spark-submit --py-files dist/lakehouse.zip jobs/ingest.py --profile cluster --date 2026-11-02
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

from pyspark.sql import SparkSession

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
        rows = read_lms_table(spark, lms, source_table).transform(
            with_ingest_metadata, f"lms:{source_table}", batch_id, ingested_at
        )
        rows = rows.cache()
        counts[target["bronze"]] = rows.count()
        tables.append_table(rows, cfg, target["bronze"], merge_schema=True)
        rows.unpersist()
        log.info(
            "%s: %d rows from LMS table %s",
            target["bronze"],
            counts[target["bronze"]],
            source_table,
        )
    return counts


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "ingest", argv)


if __name__ == "__main__":
    sys.exit(main())
