"""Maintain: OPTIMIZE (Z-ordered where declared) and VACUUM every existing lakehouse table.

spark-submit --py-files dist/lakehouse.zip jobs/maintain.py --profile cluster --date 2026-11-02

Compaction keeps nightly appends from leaving thousands of small files; Z-ordering the facts
on their learner/course keys lets per-learner and per-course queries skip most files. VACUUM
keeps every file a version younger than `maintenance.vacuum_retention_hours` needs, so time
travel and `lakehouse restore` reach back that far.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pyspark.sql import SparkSession

from lakehouse import tables
from lakehouse.runs import job_main

log = logging.getLogger("lakehouse.maintain")


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, int]:
    """Tables optimized and vacuumed, and the small files compacted away, in this run."""
    settings = cfg["maintenance"]
    layers = set(settings["layers"])
    counts = {"tables": 0, "files_removed": 0, "files_added": 0}
    for name in cfg["tables"]:
        if name.partition(".")[0] not in layers or not tables.table_exists(spark, cfg, name):
            continue
        optimized = tables.optimize_table(spark, cfg, name)
        tables.vacuum_table(spark, cfg, name, settings["vacuum_retention_hours"])
        counts["tables"] += 1
        counts["files_removed"] += optimized["files_removed"]
        counts["files_added"] += optimized["files_added"]
        log.info("%s: %s", name, optimized)
    return counts


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "maintain", argv)


if __name__ == "__main__":
    sys.exit(main())
