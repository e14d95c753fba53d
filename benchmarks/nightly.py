"""Benchmark: wall time and peak memory of each nightly stage on the demo data or the OULAD.

    .venv/bin/python benchmarks/nightly.py --size default [--root /tmp/bench]
    .venv/bin/python benchmarks/nightly.py --profile oulad --stages ingest,refine,gold

Prints a Markdown table to paste into benchmarks/RESULTS.md: per stage, seconds, the peak
RSS of the whole process tree (this Python driver, the Spark JVM it launched and the Python
workers the JVM forks for mapInArrow) and, separately, of the JVM and of this process, and the
load average when the stage ended; then the train stage's holdout metrics. Memory is sampled
every 0.2 s from /proc, so it is Linux-only.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(root: int) -> list[int]:
    """root and every process below it, read from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces: the parent id follows it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, ()))
    return tree


TREE = "tree"
# The models jobs/train.py compares on the holdout (its result's '<model>_<metric>' keys).
MODELS = ("als", "popularity", "item_similarity", "champion")


class PeakSampler:
    """Samples, in a thread, the RSS of some processes and the summed RSS of this process's
    whole tree (key TREE), keeping the peaks since the last take()."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.peaks = dict.fromkeys([*pids, TREE], 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, pid in self.pids.items():
                self.peaks[name] = max(self.peaks[name], rss_mib(pid))
            tree = sum(rss_mib(pid) for pid in descendants(os.getpid()))
            self.peaks[TREE] = max(self.peaks[TREE], tree)

    def take(self) -> dict[str, float]:
        out, self.peaks = self.peaks, dict.fromkeys(self.peaks, 0.0)
        return out

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default")
    parser.add_argument(
        "--root", default=None, help="lakehouse root (default: a temp dir, removed)"
    )
    parser.add_argument("--runs", type=int, default=1, help="nightly runs of the same date")
    parser.add_argument(
        "--profile", default="local", help="conf/ profile; `local` generates the demo sources"
    )
    parser.add_argument("--stages", default=None, help="comma-separated stages (default: all)")
    args = parser.parse_args()

    root = Path(args.root or tempfile.mkdtemp(prefix="lakehouse-bench-"))
    os.environ["LAKEHOUSE_HOME"] = str(root)
    from lakehouse.cli import generate_demo_sources
    from lakehouse.config import with_run
    from lakehouse.nightly import STAGES, stage_runner
    from lakehouse.runs import run_config
    from lakehouse.spark import build_session

    cfg = run_config(args.profile, None, None)
    stages = args.stages.split(",") if args.stages else list(STAGES)
    counts: dict = {}
    generate_s = 0.0
    if "demo" in cfg:
        cfg = with_run(cfg, date=cfg["demo"]["run_date"])
        started = time.monotonic()
        counts = generate_demo_sources(cfg, args.size)
        generate_s = time.monotonic() - started
    spark = build_session(cfg, app_name="benchmark nightly")
    jvm_pid = spark.sparkContext._gateway.proc.pid  # the local JVM pyspark launched
    sampler = PeakSampler({"jvm": jvm_pid, "python": os.getpid()})
    rows = []
    results: dict = {}
    if counts:
        peaks = sampler.take()
        rows.append(("generate demo sources", generate_s, peaks, os.getloadavg()))
    try:
        for run in range(1, args.runs + 1):
            cfg["run"]["batch_id"] = f"bench-{run}"
            for stage in stages:
                sampler.take()
                t = time.monotonic()
                results[stage] = stage_runner(stage)(spark, cfg)
                took = time.monotonic() - t
                rows.append((f"run {run}: {stage}", took, sampler.take(), os.getloadavg()))
                print(f"{stage}: {took:.1f} s, {results[stage]}", file=sys.stderr, flush=True)
    finally:
        sampler.stop()
        spark.stop()
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)

    print(f"profile {args.profile}, run date {cfg['run']['date']}")
    if counts:
        print(f"demo size {args.size}: {counts}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Spark master {cfg['spark']['master']}, driver memory "
          f"{cfg['spark']['conf'].get('spark.driver.memory')}")  # fmt: skip
    print(
        "\n| stage | wall s | peak process-tree RSS MiB | peak JVM RSS MiB "
        "| peak Python driver RSS MiB | load average 1/5/15 min at its end |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, seconds, peaks, load in rows:
        print(
            f"| {name} | {seconds:.1f} | {peaks[TREE]:,.0f} | {peaks['jvm']:,.0f} "
            f"| {peaks['python']:,.0f} | {' / '.join(f'{x:.1f}' for x in load)} |"
        )
    total = sum(r[1] for r in rows)
    peak = max(r[2][TREE] for r in rows)
    print(f"| total | {total:.1f} | {peak:,.0f} (max) | | | |")
    train = results.get("train")
    if isinstance(train, dict):
        print(f"\nholdout metrics of the train stage (model version {train.get('model_version')}):")
        print("\n| metric | " + " | ".join(MODELS) + " |")
        print("|---|" + "---:|" * len(MODELS))
        names = sorted(
            {key.removeprefix(f"{m}_") for key in train for m in MODELS if key.startswith(f"{m}_")}
        )
        for metric in names:
            values = [train.get(f"{m}_{metric}") for m in MODELS]
            print(
                f"| {metric} | "
                + " | ".join("-" if v is None else f"{v:.4f}" for v in values)
                + " |"
            )
        pairs = (
            f"train pairs {train.get('train_pairs')}, holdout pairs {train.get('holdout_pairs')}"
        )
        print(f"\n{pairs}, promoted {train.get('promoted')}: {train.get('promotion_reason')}")


if __name__ == "__main__":
    main()
