"""A real, throwaway PostgreSQL server for the source tests, run by the suite itself.

The server uses Debian's PostgreSQL binaries (`make setup` installs them), a fresh cluster in a
temporary folder, TCP on 127.0.0.1 only (password auth, SCRAM) and a unix socket inside that
folder; it never touches the system's own clusters and is removed at the end of the session.
PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"  # the system user owning the cluster when the tests run as root
DATABASE = "lms"
ROLE = "lakehouse_lms"
START_ATTEMPTS = 3


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server: host, port, database, user, password and jdbc_url."""
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
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=root,
        )
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8"
        )
        base_conf = (data / "postgresql.conf").read_text(encoding="utf-8")
        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            (data / "postgresql.conf").write_text(
                base_conf + _server_settings(port, root), encoding="utf-8"
            )
            try:
                _run(
                    owner,
                    [
                        str(bindir / "pg_ctl"),
                        "--pgdata",
                        str(data),
                        "--log",
                        str(root / "server.log"),
                        "--wait",
                        "--timeout=60",
                        "start",
                    ],
                    cwd=root,
                )
            except subprocess.CalledProcessError:
                # Another process may have taken the port between probing and binding it.
                if attempt == START_ATTEMPTS:
                    log = (root / "server.log").read_text(encoding="utf-8", errors="replace")
                    pytest.fail(f"PostgreSQL did not start:\n{log[-4000:]}", pytrace=False)
                continue
            started = True
            break
        _run(
            owner,
            [
                str(bindir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--host",
                str(root),
                "--port",
                str(port),
                "--username",
                "postgres",
                "--dbname",
                "postgres",
                "--set",
                "ON_ERROR_STOP=1",
            ],
            cwd=root,
            stdin=(
                f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}';\n"
                f"CREATE DATABASE {DATABASE} OWNER {ROLE};\n"
            ),
        )
        yield {
            "host": "127.0.0.1",
            "port": port,
            "database": DATABASE,
            "user": ROLE,
            "password": password,
            "jdbc_url": f"jdbc:postgresql://127.0.0.1:{port}/{DATABASE}",
        }
    finally:
        if started:
            _run(
                owner,
                [str(bindir / "pg_ctl"), "--pgdata", str(data), "--mode=immediate", "stop"],
                cwd=root,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


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
        pytest.fail(
            f"PostgreSQL server binaries (initdb, pg_ctl, psql in {PG_BIN_GLOB}) not found: "
            "run `make setup`, which installs them (Debian package postgresql)",
            pytrace=False,
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
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_settings(port: int, socket_dir: Path) -> str:
    # Durability is pointless for a throwaway cluster; skipping it makes loads fast.
    return (
        "\n# lakehouse test server\n"
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
        if Path(argv[0]).name == "pg_ctl":
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout)
        pytest.fail(
            f"{Path(argv[0]).name} failed ({result.returncode}):\n{result.stdout}{result.stderr}",
            pytrace=False,
        )
    return result
