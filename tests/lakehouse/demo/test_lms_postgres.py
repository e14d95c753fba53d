"""lakehouse.demo.lms_postgres: the demo LMS loaded into PostgreSQL, and the errors of the demo's
PostgreSQL path (unset variables, unreachable or refusing server) without the password."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from lakehouse import cli
from lakehouse.config import ConfigError
from lakehouse.demo.lms import DemoSize, generate_world
from lakehouse.demo.lms_postgres import TABLES, load_demo_postgres, postgres_dsn

USER_ENV = "LAKEHOUSE_TEST_PG_USER"
PASSWORD_ENV = "LAKEHOUSE_TEST_PG_PASSWORD"
SECRET = "S3cret-pelican-9921"


@pytest.fixture(scope="module")
def world():
    return generate_world(5, DemoSize(20, 4, 200), dt.date(2026, 9, 1), dt.date(2026, 10, 1))


def _source(url):
    return {"url": url, "user_env": USER_ENV, "password_env": PASSWORD_ENV}


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_postgres_dsn_reads_the_jdbc_url_and_the_named_variables(monkeypatch):
    monkeypatch.setenv(USER_ENV, "lms_reader")
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    dsn = postgres_dsn(_source("jdbc:postgresql://db.internal:6432/lms?ssl=true"))
    assert dsn == {
        "host": "db.internal",
        "port": 6432,
        "database": "lms",
        "user": "lms_reader",
        "password": SECRET,
    }


def test_postgres_dsn_names_the_unset_variables(monkeypatch):
    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"{USER_ENV} and {PASSWORD_ENV} must be set"):
        postgres_dsn(_source("jdbc:postgresql://127.0.0.1:5432/lms"))
    with pytest.raises(ConfigError, match="naming a database"):
        postgres_dsn(_source("jdbc:postgresql://127.0.0.1:5432/"))


def test_an_unreachable_server_is_named_without_the_password(world, monkeypatch):
    monkeypatch.setenv(USER_ENV, "lms_reader")
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    port = _closed_port()
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}/lms as lms_reader") as caught:
        load_demo_postgres(world, _source(f"jdbc:postgresql://127.0.0.1:{port}/lms"))
    assert SECRET not in str(caught.value)


def test_a_wrong_password_is_refused_without_printing_it(world, postgres, monkeypatch):
    monkeypatch.setenv(USER_ENV, postgres["user"])
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    with pytest.raises(RuntimeError, match="password authentication failed") as caught:
        load_demo_postgres(world, _source(postgres["jdbc_url"]))
    assert SECRET not in str(caught.value)


def test_load_demo_postgres_writes_every_table(world, postgres, monkeypatch):
    monkeypatch.setenv(USER_ENV, postgres["user"])
    monkeypatch.setenv(PASSWORD_ENV, postgres["password"])
    counts = load_demo_postgres(world, _source(postgres["jdbc_url"]))
    assert counts == {table: len(getattr(world, table)) for table in TABLES}


def test_demo_with_the_postgres_profile_names_the_unset_variables(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    for name in ("LMS_JDBC_URL", "LMS_USER", "LMS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["demo", "--profile", "postgres", "--size", "tiny"]) == 2
    assert "LMS_JDBC_URL" in capsys.readouterr().err

    monkeypatch.setenv("LMS_JDBC_URL", "jdbc:postgresql://127.0.0.1:5432/lms")
    assert cli.main(["demo", "--profile", "postgres", "--size", "tiny"]) == 2
    assert "LMS_USER and LMS_PASSWORD must be set" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "demo").exists()  # nothing generated, no Spark started
