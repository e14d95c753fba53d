"""The `lakehouse` command: demo, nightly, single stages, SQL on the tables."""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pyspark.errors import PySparkException
from rich.console import Console
from rich.table import Table

from lakehouse.config import ConfigError
from lakehouse.nightly import STAGES, run_nightly
from lakehouse.runs import run_config

err = Console(stderr=True)
out = Console()


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status of the command named in argv."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    except PySparkException as exc:
        # Spark's messages carry a JVM stack trace; its first line says what went wrong.
        err.print(f"[red]error:[/] {str(exc).strip().splitlines()[0]}")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--profile", default=None, help="conf/ profile (default: local)")
        p.set_defaults(func=func)
        return p

    p = command("demo", "generate the demo sources, run the nightly on them and report", _demo)
    p.add_argument("--size", default=None, help="demo size: tiny, small, default, large")
    p.add_argument("--date", default=None, help="run date (default: the demo's, from conf/)")

    p = command("generate-demo", "write the demo LMS database and catalog site", _generate)
    p.add_argument("--size", default=None, help="demo size: tiny, small, default, large")

    p = command("nightly", "run the nightly stages in order for one date", _nightly)
    p.add_argument("--date", default=None, help="run date YYYY-MM-DD (default: today, UTC)")
    p.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}"
    )
    p.add_argument("--batch-id", default=None, help="lineage batch id (default: generated)")
    p.add_argument(
        "--full-rebuild",
        action="store_true",
        help="refine and gold recompute everything instead of only what changed",
    )

    p = command("sql", "run a Spark SQL query against the tables by name", _sql)
    p.add_argument("query", help='e.g. "SELECT count(*) AS n FROM gold.recommendations"')
    p.add_argument(
        "--format", choices=("json", "table"), default="table", help="json: one object per line"
    )
    p.add_argument("--limit", type=int, default=1000, help="rows shown with --format table")

    command("tables", "list the lakehouse tables with their versions and row counts", _tables)

    p = command("tune", "search ALS settings on the holdout (Optuna, nested MLflow runs)", _tune)
    p.add_argument("--date", default=None, help="run date YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--trials", type=int, default=None, help="default: recommender.tuning.trials")

    p = command("history", "show a table's Delta commits, newest first", _history)
    p.add_argument("--table", required=True, help="e.g. gold.recommendations")
    p.add_argument("--limit", type=int, default=20, help="commits shown")

    p = command("restore", "roll a table back to an earlier version (a new commit)", _restore)
    p.add_argument("--table", required=True, help="e.g. gold.recommendations")
    p.add_argument("--version", required=True, type=int, help="the version to restore")

    p = sub.add_parser("docs", help="write the table catalog docs/tables.md from conf/")
    p.add_argument("--output", default=None, help="default: docs/tables.md of the repository")
    p.add_argument("--check", action="store_true", help="only exit 1 when the file is stale")
    p.set_defaults(func=_docs)
    return parser


def _generate(args: argparse.Namespace) -> int:
    cfg = run_config(args.profile, None, None)
    counts = generate_demo_sources(cfg, args.size)
    err.print(f"demo sources in {cfg['paths']['demo']}: {counts}")
    return 0


def generate_demo_sources(cfg: dict[str, Any], size: str | None = None) -> dict[str, int]:
    """Row counts of the demo LMS tables and course pages written for the profile's demo: the
    LMS as the demo's SQLite file, and into the profile's PostgreSQL database when its LMS url
    names one."""
    from lakehouse.demo.catalog_site import render_site
    from lakehouse.demo.lms import DEMO_SIZES, generate_world, write_lms_database
    from lakehouse.demo.lms_postgres import is_postgres_url, load_demo_postgres, postgres_dsn

    demo = cfg.get("demo")
    if not demo:
        raise ConfigError(f"profile {cfg['profile']!r} has no demo section")
    size = size or demo.get("size", "default")
    if size not in DEMO_SIZES:
        raise ConfigError(f"unknown demo size {size!r} (sizes: {', '.join(DEMO_SIZES)})")
    lms = cfg["sources"].get("lms") or {}
    if is_postgres_url(lms.get("url")):
        postgres_dsn(lms)  # missing credentials fail before the world is generated
    world = generate_world(
        int(demo["seed"]),
        DEMO_SIZES[size],
        dt.date.fromisoformat(str(demo["start"])),
        dt.date.fromisoformat(str(demo["end"])),
    )
    demo_dir = Path(cfg["paths"]["demo"])
    demo_dir.mkdir(parents=True, exist_ok=True)
    counts = write_lms_database(world, demo_dir / "lms.db")
    if is_postgres_url(lms.get("url")):
        counts = load_demo_postgres(world, lms)
    counts["catalog_pages"] = render_site(
        world.courses, Path(cfg["sources"]["catalog"]["site_dir"])
    )
    return counts


def _demo(args: argparse.Namespace) -> int:
    cfg = run_config(args.profile, None, None)
    date = args.date or cfg.get("demo", {}).get("run_date")
    cfg = run_config(args.profile, date, None)
    with err.status("generating demo sources"):
        counts = generate_demo_sources(cfg, args.size)
    err.print(f"demo sources: {counts}")
    from lakehouse.spark import build_session

    with err.status("starting Spark"):
        spark = build_session(cfg, app_name="course-lakehouse demo")
    try:
        results = run_nightly(cfg, spark=spark, console=err)
        from lakehouse.reports import demo_report

        demo_report(spark, cfg, results, out)
    finally:
        spark.stop()
    return 0


def _tune(args: argparse.Namespace) -> int:
    from jobs import tune
    from lakehouse.spark import build_session

    cfg = run_config(args.profile, args.date, None)
    if args.trials is not None:
        cfg["recommender"]["tuning"]["trials"] = args.trials
    spark = build_session(cfg, app_name="course-lakehouse tune")
    try:
        with err.status(f"tuning ALS: {cfg['recommender']['tuning']['trials']} trials"):
            result = tune.run(spark, cfg)
    finally:
        spark.stop()
    metric = next(key for key in result if key.startswith("best_ndcg"))
    plain = metric.removeprefix("best_")
    err.print(
        f"validation {result['validation_window']}: {plain} {result[metric]:.4f} after "
        f"{result['trials']} trials (run {result['run_id']}); on the holdout the best settings "
        f"score {result[f'holdout_{plain}']:.4f}, the profile's "
        f"{result[f'profile_holdout_{plain}']:.4f}"
    )
    out.print("# best settings, for conf recommender.als:")
    out.print(yaml.safe_dump({"als": result["best_als"]}, sort_keys=False), end="")
    return 0


def _nightly(args: argparse.Namespace) -> int:
    cfg = run_config(args.profile, args.date, args.batch_id, args.full_rebuild)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    run_nightly(cfg, stages=stages, console=err)
    return 0


def _sql(args: argparse.Namespace) -> int:
    from lakehouse.spark import build_session

    cfg = run_config(args.profile, None, None)
    spark = build_session(cfg, app_name="course-lakehouse sql")
    try:
        result = spark.sql(args.query)
        if args.format == "json":
            for row in result.toLocalIterator():
                print(
                    json.dumps(row.asDict(recursive=True), default=_json_value, ensure_ascii=False)
                )
        else:
            rows = result.limit(args.limit).collect()
            table = Table(*result.columns, show_lines=False)
            for row in rows:
                table.add_row(*("NULL" if v is None else str(v) for v in row))
            out.print(table)
    finally:
        spark.stop()
    return 0


def _tables(args: argparse.Namespace) -> int:
    from lakehouse import tables
    from lakehouse.spark import build_session

    cfg = run_config(args.profile, None, None)
    spark = build_session(cfg, app_name="course-lakehouse tables")
    try:
        table = Table("table", "version", "rows", "location")
        for name in cfg["tables"]:
            version = tables.table_version(spark, cfg, name)
            rows = tables.read_table(spark, cfg, name).count() if version is not None else None
            table.add_row(name, _text(version), _text(rows), tables.table_path(cfg, name))
        out.print(table)
    finally:
        spark.stop()
    return 0


def _history(args: argparse.Namespace) -> int:
    from lakehouse import tables
    from lakehouse.spark import build_session

    cfg = run_config(args.profile, None, None)
    spark = build_session(cfg, app_name="course-lakehouse history")
    try:
        history = tables.table_history(spark, cfg, args.table).limit(args.limit).collect()
        table = Table("version", "timestamp", "operation", "rows written", "batch")
        for row in history:
            metrics = row["operationMetrics"] or {}
            written = metrics.get("numOutputRows") or metrics.get("numTargetRowsInserted")
            table.add_row(
                str(row["version"]),
                str(row["timestamp"]),
                row["operation"],
                _text(written),
                _text(row["userMetadata"]),
            )
        out.print(table)
    finally:
        spark.stop()
    return 0


def _restore(args: argparse.Namespace) -> int:
    from lakehouse import tables
    from lakehouse.spark import build_session

    cfg = run_config(args.profile, None, None)
    spark = build_session(cfg, app_name="course-lakehouse restore")
    try:
        before = tables.table_version(spark, cfg, args.table)
        after = tables.restore_table(spark, cfg, args.table, args.version)
        err.print(
            f"{args.table}: restored the content of version {args.version} "
            f"(was version {before}, now version {after}; later versions stay in the history)"
        )
    finally:
        spark.stop()
    return 0


def _docs(args: argparse.Namespace) -> int:
    from lakehouse.config import conf_dir, profiles
    from lakehouse.table_docs import table_catalog

    def declared(path: Path) -> dict[str, Any]:
        return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("tables") or {}

    conf = conf_dir()
    text = table_catalog(
        declared(conf / "base.yml"),
        yaml.safe_load((conf / "tables" / "columns.yml").read_text(encoding="utf-8")),
        {profile: declared(conf / f"{profile}.yml") for profile in profiles()},
    )
    output = Path(args.output or conf.parent / "docs" / "tables.md")
    if args.check:
        stale = not output.is_file() or output.read_text(encoding="utf-8") != text
        err.print(f"{output} is {'stale: run `lakehouse docs`' if stale else 'up to date'}")
        return 1 if stale else 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output}")
    return 0


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value)


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main())
