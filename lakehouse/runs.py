"""Run context shared by the jobs: command-line arguments, batch ids, session lifecycle."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from lakehouse.config import load_config, with_run

log = logging.getLogger("lakehouse")


def new_batch_id(run_date: dt.date) -> str:
    """A batch id unique to one run: run date, UTC start time and a random suffix."""
    now = dt.datetime.now(dt.UTC)
    return f"{run_date:%Y%m%d}-{now:%H%M%S}-{uuid.uuid4().hex[:6]}"


def data_end(run_date: dt.date) -> dt.datetime:
    """The exclusive end of the data a run date covers: midnight after that day."""
    return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())


def job_arguments(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """The standard job arguments: --profile, --date, --batch-id, --full-rebuild."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default=None, help="conf/ profile (default: local)")
    parser.add_argument("--date", default=None, help="run date YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--batch-id", default=None, help="lineage batch id (default: generated)")
    parser.add_argument(
        "--full-rebuild",
        action="store_true",
        help="recompute from the whole of the previous layer, not only what changed",
    )
    return parser.parse_args(argv)


def run_config(
    profile: str | None, date: str | None, batch_id: str | None, full_rebuild: bool = False
) -> dict[str, Any]:
    """The profile's settings with the run section filled in (date, batch id, and full_rebuild
    when asked for; otherwise conf's `run.full_rebuild`)."""
    cfg = load_config(profile)
    cfg = with_run(cfg, date=date or cfg["run"]["date"])
    cfg["run"]["batch_id"] = batch_id or new_batch_id(cfg["run"]["date"])
    cfg["run"]["full_rebuild"] = bool(full_rebuild or cfg["run"].get("full_rebuild"))
    return cfg


def job_main(
    run: Callable[[Any, dict[str, Any]], Any], description: str, argv: Sequence[str] | None
) -> int:
    """Runs one job as spark-submit does: parse arguments, build the session, run, stop."""
    from lakehouse.spark import build_session

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = job_arguments(description, argv)
    cfg = run_config(args.profile, args.date, args.batch_id, args.full_rebuild)
    spark = build_session(cfg, app_name=f"course-lakehouse {description}")
    try:
        result = run(spark, cfg)
        log.info("%s done: %s", description, result)
    finally:
        spark.stop()
    return 0
