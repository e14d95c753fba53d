"""Runs the Scrapy catalog spider into the landing zone (no Spark involved)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class CrawlError(RuntimeError):
    """The spider did not finish successfully."""


def crawl_catalog(
    source: dict[str, Any], crawl_date: dt.date, log_file: Path | None = None
) -> list[Path]:
    """The landing files written by one crawl of the configured catalog site."""
    from lakehouse.demo.catalog_site import serve_site

    landing = Path(source["landing"])
    before = set(_landing_files(landing))
    if source.get("start_url"):
        _run_spider(source, source["start_url"], crawl_date, log_file)
    elif source.get("site_dir"):
        site = Path(source["site_dir"])
        if not (site / "courses" / "page-1.html").is_file():
            raise CrawlError(
                f"no catalog site in {site}: generate it first (lakehouse generate-demo)"
            )
        with serve_site(site, int(source.get("site_port") or 0)) as base_url:
            _run_spider(source, f"{base_url}courses/page-1.html", crawl_date, log_file)
    else:
        raise CrawlError("sources.catalog needs start_url or site_dir in conf/")
    return sorted(set(_landing_files(landing)) - before)


def _landing_files(landing: Path) -> list[Path]:
    # Names starting with "_" (the spider's skipped-pages log, files being
    # written) are not landing data; Spark's file readers skip them too.
    if not landing.exists():
        return []
    return [p for p in landing.rglob("*.jsonl") if not p.name.startswith(("_", "."))]


def _run_spider(
    source: dict[str, Any], start_url: str, crawl_date: dt.date, log_file: Path | None
) -> None:
    # The Twisted reactor cannot be restarted inside one process, so every crawl
    # gets a process of its own.
    cmd = [
        sys.executable, "-m", "scrapy", "crawl", source.get("spider", "catalog"),
        "-a", f"start_url={start_url}",
        *(["-a", f"site={source['site']}"] if source.get("site") else []),
        "-s", f"LANDING_DIR={source['landing']}",
        "-s", f"CRAWL_DATE={crawl_date.isoformat()}",
    ]  # fmt: skip
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "scrapers.settings"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log_file, "w")) if log_file else subprocess.PIPE
        try:
            proc = subprocess.run(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                timeout=float(source.get("timeout_s", 3600)),
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise CrawlError(f"catalog spider did not finish within {exc.timeout:.0f}s") from None
    if proc.returncode != 0:
        tail = (proc.stdout or "")[-2000:] if not log_file else f"see {log_file}"
        raise CrawlError(f"catalog spider exited with {proc.returncode}: {tail}")
