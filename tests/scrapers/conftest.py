"""Shared fixtures of the scraper tests: a scriptable HTTP server and a real crawl runner.

Test modules use these through fixtures only (the suite runs in importlib mode, where test
modules cannot import each other):

- ``serve(routes)`` starts a ThreadingHTTPServer on 127.0.0.1 answering each path from a
  route dict: ``body`` (str or bytes), ``status`` (an int, or a list giving the status of the
  1st, 2nd... request, the last one repeating), ``content_type``, ``headers``, ``delay``
  (seconds before answering) and ``charset`` (to encode a str body, default utf-8). Unknown
  paths get a 404. Every request is logged with its arrival time.
- ``crawl(landing_dir, *args)`` runs ``python -m scrapy crawl catalog`` in a subprocess.
- ``landing_record(**fields)`` builds an expected landing record, content_hash included.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CRAWL_DATE = "2026-11-23"

HASHED_FIELDS = [
    "course_code",
    "name",
    "description",
    "provider",
    "educational_level",
    "skills",
    "prerequisites",
    "time_required",
    "duration_hours",
]


@dataclass
class Hit:
    path: str  # with the query string
    host: str
    user_agent: str
    at: float  # time.monotonic() on arrival


@dataclass
class FixtureServer:
    routes: dict[str, dict]
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def times(self, path: str) -> list[float]:
        """Return the arrival times of the requests for path (query string ignored)."""
        return [hit.at for hit in self.hits if urlsplit(hit.path).path == path]

    def paths(self) -> list[str]:
        """Return the requested paths (query strings kept), in arrival order."""
        return [hit.path for hit in self.hits]


def _handler(server: FixtureServer):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path = urlsplit(self.path).path
            with lock:
                attempt = sum(1 for hit in server.hits if urlsplit(hit.path).path == path)
                server.hits.append(
                    Hit(
                        self.path,
                        self.headers.get("Host", ""),
                        self.headers.get("User-Agent", ""),
                        time.monotonic(),
                    )
                )
            route = server.routes.get(path)
            if route is None:
                route = {"status": 404, "body": "<html><body>Not found</body></html>"}
            statuses = route.get("status", 200)
            if isinstance(statuses, list):
                status = statuses[min(attempt, len(statuses) - 1)]
            else:
                status = statuses
            # Sleep in slices so a server shutdown is not held up by a "slow" page.
            deadline = time.monotonic() + route.get("delay", 0)
            while time.monotonic() < deadline and not server.stopping.is_set():
                time.sleep(0.02)
            body = route.get("body", "")
            if isinstance(body, str):
                body = body.encode(route.get("charset", "utf-8"))
            try:
                self.send_response(status)
                self.send_header("Content-Type", route.get("content_type", "text/html"))
                self.send_header("Content-Length", str(len(body)))
                for name, value in route.get("headers", {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the crawler gave up waiting (download timeout)

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture(scope="session")
def serve():
    """Return a function starting a FixtureServer for a routes dict; all stop at session end."""
    started: list[tuple[FixtureServer, ThreadingHTTPServer]] = []

    def start(routes: dict[str, dict]) -> FixtureServer:
        server = FixtureServer(routes=routes)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        server.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append((server, httpd))
        return server

    yield start
    for server, httpd in started:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Crawl:
    returncode: int
    log: str
    files: list[Path]  # landing files this crawl added (catalog-*.jsonl)
    skipped_files: list[Path]  # side files this crawl added or appended to (_skipped-*.jsonl)
    # Where this crawl's lines start in each side file: a crawl starting within the same
    # second as the one before appends to its file (scrapers.skipped).
    skipped_from: dict[Path, int] = field(default_factory=dict)

    @property
    def records(self) -> list[dict]:
        return read_jsonl(self.files)

    @property
    def skipped(self) -> list[dict]:
        return [
            json.loads(line)
            for path in self.skipped_files
            for line in path.read_bytes()[self.skipped_from.get(path, 0) :]
            .decode("utf-8")
            .splitlines()
        ]


def read_jsonl(files: list[Path]) -> list[dict]:
    """Return every JSON object in the given JSON Lines files."""
    return [
        json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _run_crawl(landing_dir: Path, *args: str, timeout: float = 90) -> Crawl:
    before = set(landing_dir.rglob("*")) if landing_dir.exists() else set()
    sizes = {path: path.stat().st_size for path in before if path.name.startswith("_skipped-")}
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "scrapers.settings"}
    # A subprocess because the Twisted reactor cannot be restarted within one process;
    # cwd is the repo root so `scrapers` imports even before the editable install.
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "catalog"]
        + ["-s", f"LANDING_DIR={landing_dir}", "-s", f"CRAWL_DATE={CRAWL_DATE}"]
        + list(args),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    # Kept next to the landing dir for post-mortems of a failed test.
    (landing_dir.parent / "crawl.log").write_text(proc.stderr + proc.stdout, encoding="utf-8")
    after = set(landing_dir.rglob("*")) if landing_dir.exists() else set()
    new = sorted(path for path in after - before if path.is_file())
    grown = sorted(path for path, size in sizes.items() if path.stat().st_size > size)
    return Crawl(
        returncode=proc.returncode,
        log=proc.stderr + proc.stdout,
        files=[path for path in new if path.name.startswith("catalog-")],
        skipped_files=[path for path in new if path.name.startswith("_skipped-")] + grown,
        skipped_from={path: sizes[path] for path in grown},
    )


@pytest.fixture(scope="session")
def crawl():
    """Return a function running one real `scrapy crawl catalog` (LANDING_DIR, CRAWL_DATE set)."""
    return _run_crawl


@pytest.fixture(scope="session")
def landing_record():
    """Return a function building an expected landing record (minus fetched_at and raw_html)."""

    def build(url: str, course_code: str, name: str, **fields) -> dict:
        record = {
            "url": url,
            "course_code": course_code,
            "name": name,
            "description": None,
            "provider": None,
            "educational_level": None,
            "skills": [],
            "prerequisites": [],
            "time_required": None,
            "duration_hours": None,
            "http_status": 200,
            "spider": "catalog",
            "extraction": "jsonld",
            "encoding": "utf-8",
        }
        unknown = set(fields) - set(record)
        assert not unknown, f"not landing record keys: {unknown}"
        record.update(fields)
        payload = json.dumps(
            {key: record[key] for key in HASHED_FIELDS},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        record["content_hash"] = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        return record

    return build


@pytest.fixture(scope="session")
def comparable():
    """Return a function dropping fetched_at and raw_html and sorting records by (code, url)."""

    def strip(records: list[dict]) -> list[dict]:
        return sorted(
            (
                {k: v for k, v in record.items() if k not in ("fetched_at", "raw_html")}
                for record in records
            ),
            key=lambda record: (record["course_code"] or "", record["url"]),
        )

    return strip
