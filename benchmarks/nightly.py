"""Benchmark: wall time and peak memory of each nightly stage on the demo data or the OULAD.

    .venv/bin/python benchmarks/nightly.py --size default [--root /tmp/bench]
    .venv/bin/python benchmarks/nightly.py --profile oulad --stages ingest,refine,gold

Prints a Markdown table (stage, seconds, peak RSS of the Spark JVM and of this
process) to paste into benchmarks/RESULTS.md. Memory is sampled every 0.2 s
from /proc, so it is Linux-only.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
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


class PeakSampler:
    """Samples the RSS of some processes in a thread and keeps the peak since the last reset."""

    def __init__(self, pids: dict[str, int]):
        self.pids, self.peaks = pids, dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, pid in self.pids.items():
                self.peaks[name] = max(self.peaks[name], rss_mib(pid))

    def take(self) -> dict[str, float]:
        out, self.peaks = self.peaks, dict.fromkeys(self.pids, 0.0)
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
    if counts:
        rows.append(("generate demo sources", generate_s, 0.0, sampler.take()["python"]))
    try:
        for run in range(1, args.runs + 1):
            cfg["run"]["batch_id"] = f"bench-{run}"
            for stage in stages:
                sampler.take()
                t = time.monotonic()
                stage_runner(stage)(spark, cfg)
                peaks = sampler.take()
                rows.append(
                    (f"run {run}: {stage}", time.monotonic() - t, peaks["jvm"], peaks["python"])
                )
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
    print("\n| stage | wall s | peak JVM RSS MiB | peak Python RSS MiB |")
    print("|---|---:|---:|---:|")
    for name, seconds, jvm, py in rows:
        print(f"| {name} | {seconds:.1f} | {jvm:.0f} | {py:.0f} |")
    total = sum(r[1] for r in rows)
    print(f"| total | {total:.1f} | | |")


if __name__ == "__main__":
    main()
