"""The nightly batch: every stage in order for one run date, with progress and timings."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

STAGES = ("crawl", "ingest", "refine", "gold", "train", "score", "maintain")


def stage_runner(stage: str) -> Callable[..., Any]:
    """The run(spark, cfg) function of a stage's job (crawl takes cfg only)."""
    if stage == "crawl":
        return lambda spark, cfg: _crawl(cfg)
    from jobs import gold, ingest, maintain, refine, score, train

    runners = {
        "ingest": ingest.run,
        "refine": refine.run,
        "gold": gold.run,
        "train": train.run,
        "score": score.run,
        "maintain": maintain.run,
    }
    if stage not in runners:
        raise ValueError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    return runners[stage]


def run_nightly(
    cfg: dict[str, Any],
    stages: Sequence[str] = STAGES,
    spark: Any = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Each stage's result, keyed by stage, after running the stages in order for cfg's run date."""
    console = console or Console(stderr=True)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    owns_session = spark is None and any(s != "crawl" for s in stages)
    if owns_session:
        from lakehouse.spark import build_session

        with console.status("starting Spark"):
            spark = build_session(cfg, app_name=f"course-lakehouse nightly {cfg['run']['date']}")
    results: dict[str, Any] = {}
    try:
        run = cfg["run"]
        console.print(f"[bold]nightly {run['date']}[/] batch {run['batch_id']} ({cfg['profile']})")
        for i, stage in enumerate(stages, 1):
            started = time.monotonic()
            with console.status(f"[{i}/{len(stages)}] {stage}"):
                results[stage] = stage_runner(stage)(spark, cfg)
            took = time.monotonic() - started
            console.print(f"  [green]✓[/] {stage:<7} {took:6.1f}s  {_brief(results[stage])}")
            if stage == "train":
                console.print(f"            {holdout_summary(results[stage])}")
    finally:
        if owns_session:
            spark.stop()
    return results


def holdout_summary(train: dict[str, Any]) -> str:
    """One line of the train result's holdout NDCG and recall of every model compared, e.g.
    'holdout NDCG@10: als 0.1898, popularity 0.0855, ...; recall@10: als 0.3401, ...'."""
    parts = []
    for metric, label in (("ndcg", "NDCG"), ("recall", "recall")):
        found = [
            (key.split(f"_{metric}_at_")[0], key.rsplit("_", 1)[1], value)
            for key, value in train.items()
            if f"_{metric}_at_" in key and isinstance(value, float)
        ]
        if found:
            scores = ", ".join(f"{model} {value:.4f}" for model, _, value in found)
            parts.append(f"{label}@{found[0][1]}: {scores}")
    if not parts:
        return "holdout metrics: none (model reused or not evaluated)"
    return "holdout " + "; ".join(parts)


def _crawl(cfg: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    from lakehouse.crawl import crawl_catalog

    if not cfg["sources"].get("catalog"):
        return {"skipped": "no catalog source in this profile"}
    run_date: dt.date = cfg["run"]["date"]
    log_dir = Path(cfg["paths"]["root"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    files = crawl_catalog(
        cfg["sources"]["catalog"],
        run_date,
        log_file=log_dir / f"crawl-{cfg['run']['batch_id']}.log",
    )
    return {
        "landing_files": len(files),
        "records": sum(sum(1 for _ in open(f, encoding="utf-8")) for f in files),
    }


def _brief(result: Any) -> str:
    if isinstance(result, dict):
        parts = []
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.4f}"
            parts.append(f"{key}={value}")
        text = ", ".join(parts)
        return text if len(text) < 160 else text[:157] + "..."
    return str(result)
