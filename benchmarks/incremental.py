"""Benchmark: an incremental night against a `--full-rebuild` night on the OULAD, with ~1% new
studentVle interactions, and a check that both leave the same silver and gold tables.

    OULAD_CSV_DIR=/work/shared/data/oulad/csv \\
    .venv/bin/python benchmarks/incremental.py --root /tmp/incr-bench [--fraction 0.01] \\
        [--shape today|late] [--rounds 3] [--cold]

1. A drop folder under the root links the real OULAD CSVs (nothing is copied), and night 1
   (ingest, refine, gold; the profile's run date) builds every table from them.
2. A new CSV in the drop folder then holds a `--fraction` sample of the real studentVle rows
   (every 1/fraction-th row from a seeded offset), with one of two shapes:
   - `today` (the usual night): every sampled click is moved to night 2's date, the day the
     nightly's feed delivers. All its learner x item x day groups are new.
   - `late` (the worst case): every sampled click is moved one day later, so late clicks land
     all over the history, on days that mostly have some already; every file of silver and of
     the facts holds some of their groups.
3. Night 2 (the next date) runs ingest, refine and gold, each stage timed, with the load
   average before and after (other processes share the CPUs), on copies of night 1's
   lakehouse: first an untimed incremental night (the JVM's JIT warm-up would otherwise be
   charged to whichever night ran first), then `--rounds` rounds of an incremental night and a
   `--full-rebuild` night, in turn. The same code's night moves by a few seconds from run to
   run on a small machine; the medians of the rounds are the figures to compare. With
   `--cold`, each timed night runs in a new process and JVM of its own (no warm-up night), as
   a spark-submit of the nightly would: the JVM's start (stage `session`) and its JIT warm-up
   then count in every night, whatever its size.
4. After each round, every silver and gold table of its two copies is compared (all columns
   but the batch id; not gold.data_quality_runs, whose figures describe each run's batch); the
   script fails if any differs.

Prints a Markdown table to paste into benchmarks/RESULTS.md. Train and score are not run: they
do not depend on how silver and gold were built.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

STAGES = ("ingest", "refine", "gold")
# Tables of silver and gold that refine and gold do not build from silver and gold content.
NOT_COMPARED = ("gold.data_quality_runs", "gold.recommendations", "gold.learning_paths")
# Columns naming the batch that wrote a row: they differ between the two copies by design.
RUN_COLUMNS = {"batch_id", "source_batch"}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def link_drop(source: Path, drop: Path) -> None:
    """A drop folder holding a symbolic link to each file of the OULAD CSV folder."""
    drop.mkdir(parents=True, exist_ok=True)
    for file in sorted(source.iterdir()):
        target = drop / file.name
        if not target.exists():
            target.symlink_to(file.resolve())


def write_clicks(
    source: Path, target: Path, fraction: float, seed: int, moved: Callable[[str, int], int]
) -> int:
    """Rows written to target: a `fraction` sample of studentVle's rows (every 1/fraction-th row
    from a seeded offset), each with its day `moved(code_presentation, date)`, as a CSV with
    studentVle's header."""
    import random

    step = round(1 / fraction)
    offset = random.Random(seed).randrange(step)
    written = 0
    with (
        gzip.open(source, "rt", encoding="utf-8", newline="") as rows,
        open(target, "w", encoding="utf-8", newline="") as out,
    ):
        reader, writer = csv.reader(rows), csv.writer(out, quoting=csv.QUOTE_ALL)
        header = next(reader)
        writer.writerow(header)
        date, presentation = header.index("date"), header.index("code_presentation")
        for i, fields in enumerate(reader):
            if i % step != offset:
                continue
            fields[date] = str(moved(fields[presentation], int(fields[date])))
            writer.writerow(fields)
            written += 1
    return written


def night(spark, cfg, label: str) -> list[tuple[str, float, str, str, str]]:
    """(stage, seconds, load before, load after, result) of each stage of one night."""
    from lakehouse.nightly import stage_runner

    rows = []
    for stage in STAGES:
        before = load_average()
        started = time.monotonic()
        result = stage_runner(stage)(spark, cfg)
        took = time.monotonic() - started
        brief = {
            k: v
            for k, v in result.items()
            if any(part in k for part in ("mode", "groups", "bronze", "kept", "activity", "starts"))
        }
        rows.append((stage, took, before, load_average(), str(brief)))
        print(f"{label} {stage}: {took:.1f} s (load {before} -> {load_average()}) {brief}")
    return rows


def differences(spark, a_cfg, b_cfg) -> dict[str, tuple[int, int]]:
    """Per compared table whose contents differ: (rows only in a, rows only in b)."""
    from lakehouse import tables

    found = {}
    compared = [
        name
        for name in a_cfg["tables"]
        if name.partition(".")[0] in ("silver", "gold") and name not in NOT_COMPARED
    ]
    for name in compared:
        a, b = tables.read_table(spark, a_cfg, name), tables.read_table(spark, b_cfg, name)
        columns = [c for c in a.columns if c not in RUN_COLUMNS]
        only_a = a.select(*columns).exceptAll(b.select(*columns)).count()
        only_b = b.select(*columns).exceptAll(a.select(*columns)).count()
        print(f"compare {name}: {only_a} rows only incremental, {only_b} only full")
        if only_a or only_b:
            found[name] = (only_a, only_b)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="work folder (not in the repository)")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of studentVle rows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--shape", choices=("today", "late"), default="today",
        help="today: the sample is night 2's clicks; late: each click one day later",
    )  # fmt: skip
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="incremental and full nights to time, in turn (medians reported)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="each timed night in a JVM of its own (a new process), as spark-submit runs it",
    )
    # Internal: the process --cold starts for one night on a copy.
    parser.add_argument("--night", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    root = Path(args.root).resolve()
    source = Path(os.environ.get("OULAD_CSV_DIR", "../shared/data/oulad/csv")).resolve()
    drop = root / "drop"
    link_drop(source, drop)
    # The profile reads its drop folder from OULAD_CSV_DIR and its root from LAKEHOUSE_HOME.
    os.environ["OULAD_CSV_DIR"] = str(drop)

    from lakehouse.oulad import presentation_start
    from lakehouse.runs import run_config
    from lakehouse.spark import build_session

    def profile(copy: str, day: dt.date | None, batch: str, full: bool = False) -> dict:
        os.environ["LAKEHOUSE_HOME"] = str(root / copy)
        cfg = run_config("oulad", day.isoformat() if day else None, batch, full)
        cfg["spark"]["conf"]["spark.driver.memory"] = args.driver_memory
        return cfg

    first = profile("first", None, "bench-night-1")
    run_date = first["run"]["date"]
    next_day = run_date + dt.timedelta(days=1)
    if args.night:
        # One night in this process's own JVM: its start counts as a stage of the night.
        started = time.monotonic()
        cfg = profile(args.night, next_day, "bench-night-2", args.full)
        spark = build_session(cfg, app_name="benchmark night")
        rows = [("session", time.monotonic() - started, "", load_average(), "{}")]
        rows += night(spark, cfg, args.night)
        spark.stop()
        print("NIGHT " + json.dumps(rows))
        return
    spark = build_session(first, app_name="benchmark incremental")
    report = []
    totals: dict[str, list[float]] = {"incremental": [], "full": []}
    try:
        first_marker = root / "first" / "night-1.done"
        if not first_marker.exists():
            # Night 1 reads the real files only (a new night 1 after an earlier run's night 2).
            for clicks in drop.glob("studentVle.csv.*-clicks*.csv"):
                clicks.unlink()
            report += [("night 1 (first, full)", *r) for r in night(spark, first, "night 1")]
            first_marker.write_text("done\n")
        clicks = drop / f"studentVle.csv.{args.shape}-clicks-{args.fraction}-{args.seed}.csv"
        # Night 1 read the real files only: any other file in the drop folder is night 2's.
        for other in drop.glob("studentVle.csv.*-clicks*.csv"):
            if other != clicks:
                other.unlink()
        if not clicks.exists():
            months = first["oulad"]["start_months"]
            moved = {
                "late": lambda _, day: day + 1,
                "today": lambda p, _: (next_day - presentation_start(p, months)).days,
            }[args.shape]
            rows = write_clicks(
                source / "studentVle.csv.gz", clicks, args.fraction, args.seed, moved
            )
            print(f"{clicks}: {rows} rows")

        def fresh(copy: str, full: bool = False) -> dict:
            """night 2's profile on a new copy of night 1's lakehouse."""
            shutil.rmtree(root / copy, ignore_errors=True)
            shutil.copytree(root / "first", root / copy, symlinks=True)
            return profile(copy, next_day, "bench-night-2", full)

        def timed(copy: str, cfg: dict, label: str) -> list:
            """night() of one night on a copy, in this JVM or (--cold) in a new process."""
            if not args.cold:
                return night(spark, cfg, label)
            full = bool(cfg["run"].get("full_rebuild"))
            command = [sys.executable, __file__, "--root", str(root), "--night", copy]
            command += ["--driver-memory", args.driver_memory, *(["--full"] if full else [])]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows = json.loads(out.split("NIGHT ", 1)[1])
            for stage, seconds, *_ in rows:
                print(f"{label} {stage}: {seconds:.1f} s (own JVM)")
            return [tuple(r) for r in rows]

        if not args.cold:
            night(spark, fresh("warm-up"), "warm-up (not reported)")
            shutil.rmtree(root / "warm-up")
        # Rounds of one incremental and one full night each, in turn: a slower minute of the
        # machine then weighs on both kinds of night alike.
        for round_ in range(1, args.rounds + 1):
            incremental, full = fresh("incremental"), fresh("full", full=True)
            for kind, cfg, label in (
                ("incremental", incremental, f"round {round_} night 2 incremental"),
                ("full", full, f"round {round_} night 2 --full-rebuild"),
            ):
                report += [(label, *r) for r in timed(kind, cfg, label)]
                totals[kind].append(sum(r[2] for r in report if r[0] == label))
            diffs = differences(spark, incremental, full)
            if diffs:
                raise SystemExit(f"round {round_}: incremental and full rebuild differ: {diffs}")
    finally:
        spark.stop()

    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"driver memory {args.driver_memory}; run date {run_date} then {next_day}; "
          f"night 2's clicks: {args.shape}, fraction {args.fraction}")  # fmt: skip
    print("\n| night | stage | wall s | load before | load after | how |")
    print("|---|---|---:|---|---|---|")
    for label, stage, seconds, before, after, brief in report:
        print(f"| {label} | {stage} | {seconds:.1f} | {before} | {after} | {brief} |")
    print("\n| round | incremental s | full s | incremental / full |")
    print("|---:|---:|---:|---:|")
    pairs = list(zip(totals["incremental"], totals["full"], strict=True))
    for round_, (inc, full) in enumerate(pairs, start=1):
        print(f"| {round_} | {inc:.1f} | {full:.1f} | {inc / full:.3f} |")
    inc, full = statistics.median(totals["incremental"]), statistics.median(totals["full"])
    ratio = statistics.median(a / b for a, b in pairs)
    print(
        f"\nmedians of {len(pairs)} rounds: incremental / full = {inc:.1f} / {full:.1f} = "
        f"{inc / full:.3f} (1/{full / inc:.1f}); median of the rounds' ratios {ratio:.3f}"
    )
    print("every compared silver and gold table is identical in every round")


if __name__ == "__main__":
    main()
