"""lakehouse.config: profiles, references, environment substitution, overrides and run dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import lakehouse.config as config
from lakehouse.config import (
    ConfigError,
    load_config,
    parse_run_date,
    profiles,
    with_run,
)

REPO = Path(config.__file__).resolve().parent.parent
ENV_VARS = ("LAKEHOUSE_CONF", "LAKEHOUSE_PROFILE", "LAKEHOUSE_HOME", "LAKEHOUSE_ROOT")

TMP_BASE = """\
paths:
  root: ${env:LH_TEST_ROOT:-data}
  tables: ${paths.root}/tables
spark:
  conf: {}
service:
  url: http://${env:LH_TEST_HOST:-localhost}:${env:LH_TEST_PORT:-8080}/api
  token: ${env:LH_TEST_TOKEN}
  wrapped: x${env:LH_TEST_UNSET:-}y
  tables_again: ${paths.tables}
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ENV_VARS + ("LH_TEST_ROOT", "LH_TEST_HOST", "LH_TEST_PORT", "LH_TEST_UNSET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LH_TEST_TOKEN", "s3cret")


def write_conf(tmp_path: Path, monkeypatch, files: dict[str, str]) -> Path:
    """A conf/ folder under tmp_path holding `files`, made the one load_config reads."""
    conf = tmp_path / "conf"
    conf.mkdir()
    for name, text in files.items():
        (conf / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("LAKEHOUSE_CONF", str(conf))
    return conf


# --- profiles ---------------------------------------------------------------------------------


def test_profiles_are_the_yml_files_except_base(tmp_path, monkeypatch):
    write_conf(
        tmp_path,
        monkeypatch,
        {"base.yml": TMP_BASE, "staging.yml": "{}\n", "local.yml": "{}\n", "notes.txt": "x"},
    )

    assert profiles() == ["local", "staging"]


def test_repository_profiles_include_local_and_cluster():
    names = profiles()

    assert {"local", "cluster"} <= set(names)
    assert "base" not in names


def test_every_repository_profile_loads_and_nothing_else_is_one(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_CONF", raising=False)
    monkeypatch.setenv("LMS_JDBC_URL", "jdbc:postgresql://127.0.0.1:5432/lms")
    names = profiles()
    assert {"local", "cluster"} <= set(names)
    assert "sites" not in names and "catalog_sites" not in names
    for name in names:
        cfg = load_config(name)
        assert cfg["profile"] == name
        assert "gold.recommendations" in cfg["tables"]


def test_unknown_profile_error_lists_the_available_ones(tmp_path, monkeypatch):
    write_conf(
        tmp_path, monkeypatch, {"base.yml": TMP_BASE, "staging.yml": "{}\n", "local.yml": "{}\n"}
    )

    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*available: local, staging"):
        load_config("nope")


def test_lakehouse_profile_variable_selects_the_default_profile(tmp_path, monkeypatch):
    write_conf(
        tmp_path,
        monkeypatch,
        {"base.yml": TMP_BASE, "local.yml": "{}\n", "staging.yml": "service: {name: stg}\n"},
    )
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "staging")

    cfg = load_config()

    assert cfg["profile"] == "staging"
    assert cfg["service"]["name"] == "stg"
    assert cfg["service"]["token"] == "s3cret"  # base settings merged underneath


# --- the repository's profiles -------------------------------------------------------------------


def test_local_profile_paths_are_absolute_inside_the_repository():
    cfg = load_config("local")

    root = REPO / "var"
    assert cfg["profile"] == "local"
    assert cfg["paths"]["root"] == str(root)
    assert cfg["paths"]["lakehouse"] == str(root / "lakehouse")
    assert cfg["paths"]["landing"] == str(root / "landing")
    assert all(Path(p).is_absolute() for p in cfg["paths"].values())
    assert cfg["spark"]["jars_dir"] == str(REPO / ".jars")
    assert cfg["tracking"]["tracking_uri"] == f"sqlite:///{root}/mlflow/mlflow.db"
    assert cfg["sources"]["lms"]["url"] == f"jdbc:sqlite:{root}/demo/lms.db"
    assert cfg["sources"]["catalog"]["landing"] == str(root / "landing" / "catalog")
    assert isinstance(cfg["run"]["date"], dt.date)


def test_local_profile_root_follows_lakehouse_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path / "home"))

    cfg = load_config("local")

    assert cfg["paths"]["root"] == str(tmp_path / "home")
    assert cfg["paths"]["mlflow"] == str(tmp_path / "home" / "mlflow")


def test_cluster_profile_keeps_uris_as_they_are():
    cfg = load_config("cluster")

    assert cfg["paths"]["root"] == "s3a://course-lakehouse"
    assert cfg["paths"]["lakehouse"] == "s3a://course-lakehouse/lakehouse"
    assert cfg["paths"]["mlflow"] == "/dbfs/course-lakehouse/mlflow"
    assert cfg["sources"]["lms"]["url"] == "jdbc:postgresql://lms-db:5432/lms"
    assert cfg["spark"]["conf"]["spark.sql.shuffle.partitions"] == "400"
    assert cfg["spark"]["conf"]["spark.sql.session.timeZone"] == "UTC"  # from base.yml


# --- environment substitution --------------------------------------------------------------------


def test_env_references_fall_back_to_their_defaults(tmp_path, monkeypatch):
    write_conf(tmp_path, monkeypatch, {"base.yml": TMP_BASE, "local.yml": "{}\n"})

    cfg = load_config("local")

    assert cfg["service"]["url"] == "http://localhost:8080/api"
    assert cfg["service"]["token"] == "s3cret"
    assert cfg["service"]["wrapped"] == "xy"
    # relative paths are made absolute against the folder holding conf/
    assert cfg["paths"]["root"] == str(tmp_path / "data")
    assert cfg["paths"]["tables"] == str(tmp_path / "data" / "tables")
    assert cfg["service"]["tables_again"] == str(tmp_path / "data" / "tables")


def test_env_references_take_the_variables_when_set(tmp_path, monkeypatch):
    write_conf(tmp_path, monkeypatch, {"base.yml": TMP_BASE, "local.yml": "{}\n"})
    monkeypatch.setenv("LH_TEST_HOST", "db.internal")
    monkeypatch.setenv("LH_TEST_ROOT", "s3a://bucket/prefix")

    cfg = load_config("local")

    assert cfg["service"]["url"] == "http://db.internal:8080/api"
    assert cfg["paths"]["root"] == "s3a://bucket/prefix"
    assert cfg["paths"]["tables"] == "s3a://bucket/prefix/tables"


def test_env_reference_without_default_fails_when_unset(tmp_path, monkeypatch):
    write_conf(tmp_path, monkeypatch, {"base.yml": TMP_BASE, "local.yml": "{}\n"})
    monkeypatch.delenv("LH_TEST_TOKEN")

    with pytest.raises(ConfigError, match="environment variable LH_TEST_TOKEN is not set"):
        load_config("local")


# --- references -----------------------------------------------------------------------------


def test_circular_reference_is_an_error(tmp_path, monkeypatch):
    loop = "loop:\n  a: ${loop.b}/x\n  b: ${loop.a}/y\n"
    write_conf(tmp_path, monkeypatch, {"base.yml": TMP_BASE + loop, "local.yml": "{}\n"})

    with pytest.raises(ConfigError, match=r"circular reference: loop\.(a|b) -> "):
        load_config("local")


def test_reference_to_a_missing_setting_is_an_error(tmp_path, monkeypatch):
    broken = "broken:\n  ref: ${service.nope}\n"
    write_conf(tmp_path, monkeypatch, {"base.yml": TMP_BASE + broken, "local.yml": "{}\n"})

    with pytest.raises(ConfigError, match=r"\$\{service\.nope\} names no setting"):
        load_config("local")


# --- dotted overrides -----------------------------------------------------------------------


def test_override_of_a_spark_setting_whose_name_holds_dots():
    cfg = load_config(
        "local",
        overrides={
            "spark.conf.spark.sql.shuffle.partitions": "3",
            "spark.conf.spark.sql.ansi.enabled": "false",
        },
    )

    conf = cfg["spark"]["conf"]
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.sql.ansi.enabled"] == "false"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert "spark" not in conf


def test_override_of_a_table_setting_whose_table_name_holds_dots():
    cfg = load_config("local", overrides={"tables.gold.recommendations.path": "gold/recs_v2"})

    recommendations = cfg["tables"]["gold.recommendations"]
    assert {k: recommendations[k] for k in ("path", "keys", "partition_by")} == {
        "path": "gold/recs_v2",
        "keys": ["run_date", "learner_id", "rank"],
        "partition_by": ["run_date"],
    }
    assert "gold" not in cfg["tables"]


def test_override_under_a_section_the_profile_switches_off_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"cannot set sources\.catalog\.timeout_s: "):
        load_config("oulad", overrides={"sources.catalog.timeout_s": 300})


def test_overrides_apply_before_references_are_resolved(tmp_path):
    cfg = load_config(
        "local",
        overrides={"paths.root": str(tmp_path), "recommender.als.rank": 8, "extra.deep.key": 1},
    )

    assert cfg["paths"]["lakehouse"] == str(tmp_path / "lakehouse")
    assert cfg["tracking"]["tracking_uri"] == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert cfg["recommender"]["als"]["rank"] == 8
    assert cfg["recommender"]["als"]["max_iter"] == 12  # siblings untouched
    assert cfg["extra"] == {"deep": {"key": 1}}


# --- run dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-01", dt.date(2026, 11, 1)),
        (dt.date(2026, 2, 28), dt.date(2026, 2, 28)),
        (dt.datetime(2026, 11, 1, 23, 59, 59), dt.date(2026, 11, 1)),
    ],
)
def test_parse_run_date(value, expected):
    assert parse_run_date(value) == expected


@pytest.mark.parametrize("value", [None, ""])
def test_parse_run_date_defaults_to_today_in_utc(value):
    before = dt.datetime.now(dt.UTC).date()
    parsed = parse_run_date(value)
    after = dt.datetime.now(dt.UTC).date()

    assert parsed in {before, after}


@pytest.mark.parametrize("value", ["2026-13-01", "01/11/2026", "tomorrow"])
def test_parse_run_date_rejects_other_text(value):
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        parse_run_date(value)


def test_with_run_returns_a_copy_with_a_parsed_date():
    cfg = load_config("local", overrides={"run.date": "2026-10-01"})

    out = with_run(cfg, date="2026-11-02", batch_id="b-7")

    defaults = {"full_rebuild": False, "parallel_writes": 3}
    assert out["run"] == {"date": dt.date(2026, 11, 2), "batch_id": "b-7", **defaults}
    assert cfg["run"] == {"date": dt.date(2026, 10, 1), **defaults}
