"""The demo LMS written to PostgreSQL: the same five tables as the SQLite file, bulk-loaded.

Columns, order and constraints match `lakehouse.demo.lms` (the SQLite DDL); the types are
PostgreSQL's own: BIGINT ids, TEXT, DOUBLE PRECISION, INTEGER and TIMESTAMP (without time
zone, holding the world's UTC wall-clock times). Rows go in with COPY, and the keys, checks and
references are added after the load, which is much faster than checking them row by row.

`postgres_server()` runs a throwaway server for the demo and the tests, and
`python -m lakehouse.demo.lms_postgres COMMAND...` runs a command against one with
LMS_JDBC_URL, LMS_USER and LMS_PASSWORD set (what `make demo-postgres` does).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lakehouse.config import ConfigError
from lakehouse.demo.lms import World

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"  # the system user owning the cluster when we run as root
START_ATTEMPTS = 3
# The variables conf/postgres.yml reads the LMS url and credentials from.
LMS_ENV = ("LMS_JDBC_URL", "LMS_USER", "LMS_PASSWORD")

# Load order: referenced tables first.
TABLES = ("learners", "courses", "enrollments", "activity_events", "ratings")

_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "learners": (
        ("id", "BIGINT NOT NULL"),
        ("name", "TEXT NOT NULL"),
        ("department", "TEXT NOT NULL"),
        ("job_role", "TEXT NOT NULL"),
        ("country", "TEXT NOT NULL"),
        ("hired_at", "TIMESTAMP NOT NULL"),
        ("updated_at", "TIMESTAMP NOT NULL"),
    ),
    "courses": (
        ("id", "BIGINT NOT NULL"),
        ("code", "TEXT NOT NULL"),
        ("title", "TEXT NOT NULL"),
        ("provider", "TEXT NOT NULL"),
        ("category", "TEXT NOT NULL"),
        ("level", "TEXT NOT NULL"),
        ("duration_hours", "INTEGER NOT NULL"),
        ("updated_at", "TIMESTAMP NOT NULL"),
    ),
    "enrollments": (
        ("learner_id", "BIGINT NOT NULL"),
        ("course_id", "BIGINT NOT NULL"),
        ("enrolled_at", "TIMESTAMP NOT NULL"),
        ("completed_at", "TIMESTAMP"),
        ("score", "DOUBLE PRECISION"),
        ("status", "TEXT NOT NULL"),
    ),
    "activity_events": (
        ("id", "BIGINT NOT NULL"),
        ("learner_id", "BIGINT NOT NULL"),
        ("course_id", "BIGINT NOT NULL"),
        ("event_type", "TEXT NOT NULL"),
        ("ts", "TIMESTAMP NOT NULL"),
        ("value", "DOUBLE PRECISION NOT NULL"),
    ),
    "ratings": (
        ("learner_id", "BIGINT NOT NULL"),
        ("course_id", "BIGINT NOT NULL"),
        ("stars", "INTEGER NOT NULL"),
        ("ts", "TIMESTAMP NOT NULL"),
    ),
}

_CONSTRAINTS = """
ALTER TABLE learners ADD PRIMARY KEY (id);
ALTER TABLE courses ADD PRIMARY KEY (id), ADD UNIQUE (code),
    ADD CHECK (level IN ('Beginner', 'Intermediate', 'Advanced'));
ALTER TABLE enrollments ADD PRIMARY KEY (learner_id, course_id),
    ADD FOREIGN KEY (learner_id) REFERENCES learners (id),
    ADD FOREIGN KEY (course_id) REFERENCES courses (id),
    ADD CHECK (status IN ('enrolled', 'in_progress', 'completed', 'dropped'));
ALTER TABLE activity_events ADD PRIMARY KEY (id),
    ADD FOREIGN KEY (learner_id) REFERENCES learners (id),
    ADD FOREIGN KEY (course_id) REFERENCES courses (id),
    ADD CHECK (event_type IN ('view', 'progress', 'quiz', 'complete'));
ALTER TABLE ratings ADD PRIMARY KEY (learner_id, course_id),
    ADD FOREIGN KEY (learner_id) REFERENCES learners (id),
    ADD FOREIGN KEY (course_id) REFERENCES courses (id),
    ADD CHECK (stars BETWEEN 1 AND 5);
"""


def write_lms_postgres(world: World, dsn: dict[str, Any]) -> dict[str, int]:
    """Return the row count per table after (re)creating the five LMS tables in the database.

    dsn holds host, port, database, user and password. Existing tables of the same names are
    replaced; the whole load is one transaction, so readers see either the old or the new world.
    """
    import psycopg  # a dev/demo dependency only: the lakehouse itself reads over JDBC

    rows: dict[str, Iterable[Sequence[Any]]] = {
        "learners": (_pick(r, "learners") for r in world.learners),
        "courses": (_pick(r, "courses") for r in world.courses),
        "enrollments": world.enrollments,
        "activity_events": world.activity_events,
        "ratings": world.ratings,
    }
    with psycopg.connect(
        host=dsn["host"],
        port=int(dsn["port"]),
        dbname=dsn["database"],
        user=dsn["user"],
        password=dsn.get("password"),
        # Timestamps are written as text: no zone conversion anywhere on the way.
        options="-c TimeZone=UTC",
    ) as con:
        with con.transaction(), con.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(reversed(TABLES)) + " CASCADE")
            for table in TABLES:
                columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS[table])
                cur.execute(f"CREATE TABLE {table} ({columns})")
            for table in TABLES:
                names = ", ".join(name for name, _ in _COLUMNS[table])
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(row)
            cur.execute(_CONSTRAINTS)
        counts = {}
        with con.cursor() as cur:
            for table in TABLES:
                cur.execute(f"SELECT count(*) FROM {table}")
                counts[table] = cur.fetchone()[0]
        con.execute("ANALYZE " + ", ".join(TABLES))
    return counts


def _pick(record: dict[str, Any], table: str) -> tuple[Any, ...]:
    return tuple(record[name] for name, _ in _COLUMNS[table])


def is_postgres_url(url: str | None) -> bool:
    """Whether a JDBC url names a PostgreSQL database."""
    return bool(url) and url.startswith("jdbc:postgresql:")


def postgres_dsn(source: dict[str, Any]) -> dict[str, Any]:
    """host, port, database, user and password of a PostgreSQL LMS source: the JDBC url from
    conf/, the credentials from the environment variables it names (user_env, password_env)."""
    url = source.get("url") or ""
    shown = url.split("?", 1)[0]  # a query string may carry credentials
    parts = urlsplit(url.removeprefix("jdbc:"))
    database = parts.path.strip("/")
    if parts.scheme != "postgresql" or not database:
        raise ConfigError(
            f"LMS url {shown!r} is not a PostgreSQL JDBC url naming a database "
            "(e.g. jdbc:postgresql://127.0.0.1:5432/lms)"
        )
    names = [source.get("user_env"), source.get("password_env")]
    missing = [
        name or "(sources.lms.user_env/password_env)"
        for name in names
        if not name or not os.environ.get(name)
    ]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} must be set to load the demo LMS into {shown} "
            "(the database's user and password)"
        )
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "database": database,
        "user": os.environ[names[0]],
        "password": os.environ[names[1]],
    }


def load_demo_postgres(world: World, source: dict[str, Any]) -> dict[str, int]:
    """Row count per LMS table after loading the demo world into the source's PostgreSQL
    database; a RuntimeError that names the server (never the password) if it cannot."""
    import psycopg

    dsn = postgres_dsn(source)
    try:
        return write_lms_postgres(world, dsn)
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"cannot load the demo LMS into PostgreSQL at {dsn['host']}:{dsn['port']}/"
            f"{dsn['database']} as {dsn['user']}: {detail.replace(dsn['password'], '***')}"
        ) from None


@contextlib.contextmanager
def postgres_server(database: str = "lms", role: str = "lakehouse_lms") -> Iterator[dict[str, Any]]:
    """A running throwaway PostgreSQL server while the block runs: host, port, database, user,
    password and jdbc_url of an empty database owned by the role.

    Debian's server binaries run a fresh cluster in a temporary folder, TCP on 127.0.0.1 only
    (password auth, SCRAM) and a unix socket inside that folder; it never touches the system's
    own clusters and is stopped and removed afterwards. PostgreSQL refuses to run as root, so
    under root the cluster belongs to the `postgres` user.
    """
    bindir = _pg_bindir()
    owner = _server_owner()
    root = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    data = root / "data"
    password = "pw-" + secrets.token_hex(12)
    started = False
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        _run(
            owner,
            [str(bindir / "initdb"), "--pgdata", str(data), "--username", "postgres",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
             "--no-locale", "--no-sync"],
            cwd=root,
        )  # fmt: skip
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8"
        )
        base_conf = (data / "postgresql.conf").read_text(encoding="utf-8")
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            (data / "postgresql.conf").write_text(
                base_conf + _server_settings(port, root), encoding="utf-8"
            )
            start = [str(bindir / "pg_ctl"), "--pgdata", str(data), "--log",
                     str(root / "server.log"), "--wait", "--timeout=60", "start"]  # fmt: skip
            if _run(owner, start, cwd=root, check=False).returncode == 0:
                started = True
                break
            # Another process may have taken the port between probing and binding it.
            if attempt == START_ATTEMPTS:
                log = (root / "server.log").read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(f"PostgreSQL did not start:\n{log[-4000:]}")
        _run(
            owner,
            [str(bindir / "psql"), "--no-psqlrc", "--quiet", "--host", str(root), "--port",
             str(port), "--username", "postgres", "--dbname", "postgres",
             "--set", "ON_ERROR_STOP=1"],
            cwd=root,
            stdin=(
                f"CREATE ROLE {role} LOGIN PASSWORD '{password}';\n"
                f"CREATE DATABASE {database} OWNER {role};\n"
            ),
        )  # fmt: skip
        yield {
            "host": "127.0.0.1",
            "port": port,
            "database": database,
            "user": role,
            "password": password,
            "jdbc_url": f"jdbc:postgresql://127.0.0.1:{port}/{database}",
        }
    finally:
        if started:
            stop = [str(bindir / "pg_ctl"), "--pgdata", str(data), "--mode=immediate", "stop"]
            _run(owner, stop, cwd=root, check=False)
        shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status of COMMAND... run with LMS_JDBC_URL, LMS_USER and LMS_PASSWORD naming a
    throwaway PostgreSQL server started for it (and stopped after it)."""
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        print(f"usage: python -m {__spec__.name if __spec__ else 'lms_postgres'} COMMAND...")
        return 2
    with postgres_server() as server:
        print(f"PostgreSQL for the demo LMS on {server['host']}:{server['port']}", flush=True)
        url, user, password = LMS_ENV
        env = {
            **os.environ,
            url: server["jdbc_url"],
            user: server["user"],
            password: server["password"],
        }
        return subprocess.run(command, env=env, check=False).returncode


def _pg_bindir() -> Path:
    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = [
        Path(d)
        for d in sorted(glob.glob(PG_BIN_GLOB), key=version, reverse=True)
        if all(os.access(Path(d) / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "psql"))
    ]
    if not found:
        raise RuntimeError(
            f"PostgreSQL server binaries (initdb, pg_ctl, psql in {PG_BIN_GLOB}) not found: "
            "run `make setup`, which installs them (Debian package postgresql)"
        )
    return found[0]


def _server_owner() -> pwd.struct_passwd | None:
    """The system user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return pwd.getpwnam(SERVER_USER)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_settings(port: int, socket_dir: Path) -> str:
    # Durability is pointless for a throwaway cluster; skipping it makes loads fast.
    return (
        "\n# lakehouse throwaway server\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "password_encryption = 'scram-sha-256'\n"
        "max_connections = 50\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "logging_collector = off\n"
    )


def _run(
    owner: pwd.struct_passwd | None,
    argv: list[str],
    cwd: Path,
    stdin: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    ids = {}
    if owner is not None:
        env.update(HOME=str(cwd), USER=owner.pw_name, LOGNAME=owner.pw_name)
        ids = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    result = subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, **ids
    )
    if check and result.returncode != 0:
        # psql's input holds the role's password; its output is only the server's messages.
        raise RuntimeError(
            f"{Path(argv[0]).name} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


if __name__ == "__main__":
    sys.exit(main())
