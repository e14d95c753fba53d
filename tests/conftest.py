"""One SparkSession for the whole suite, on a throwaway lakehouse root."""

from __future__ import annotations

import socket

import pytest

from lakehouse.config import load_config, with_run
from lakehouse.spark import build_session


@pytest.fixture(scope="session")
def lakehouse_root(tmp_path_factory):
    """A fresh root folder for every table, landing file and model the tests write."""
    return tmp_path_factory.mktemp("lakehouse")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The suite's data is tiny: interpreted expressions (no whole-stage code generation to
# compile), one shuffle partition and no adaptive re-planning take most of Spark's per-query
# cost away; small ALS fits check behaviour, not model quality (benchmarks/ does that).
SUITE_OVERRIDES = {
    "spark.master": "local[2]",
    "spark.conf.spark.sql.shuffle.partitions": "1",
    "spark.conf.spark.default.parallelism": "2",
    "spark.conf.spark.sql.adaptive.enabled": "false",
    "spark.conf.spark.sql.codegen.wholeStage": "false",
    "spark.conf.spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.conf.spark.databricks.delta.snapshotPartitions": "1",
    "spark.conf.spark.sql.sources.parallelPartitionDiscovery.parallelism": "1",
    "spark.conf.spark.driver.memory": "4g",
    "recommender.als.rank": 8,
    "recommender.als.max_iter": 5,
    "recommender.als.num_blocks": 1,
    # A stuck crawl fails its test in minutes instead of holding CI for an hour.
    "sources.catalog.timeout_s": 300,
    # One demo site port for the session (re-crawls see the same URLs), free on this machine.
    "sources.catalog.site_port": _free_port(),
}


@pytest.fixture(scope="session")
def profile():
    """load_config for the suite: a profile with SUITE_OVERRIDES, then the test's overrides."""

    def load(name: str = "local", overrides: dict | None = None) -> dict:
        # A profile without the catalog source (oulad) takes none of its settings.
        has_catalog = bool((load_config(name).get("sources") or {}).get("catalog"))
        suite = {
            key: value
            for key, value in SUITE_OVERRIDES.items()
            if has_catalog or not key.startswith("sources.catalog.")
        }
        return load_config(name, overrides={**suite, **(overrides or {})})

    return load


@pytest.fixture(scope="session")
def base_cfg(profile, lakehouse_root):
    """The local profile pointed at the throwaway root, with the suite's settings."""
    cfg = profile("local", {"paths.root": str(lakehouse_root)})
    return with_run(cfg, date="2026-11-01", batch_id="test-batch")


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 for the session (lakehouse.demo.lms_postgres):
    host, port, database, user, password and jdbc_url."""
    from lakehouse.demo.lms_postgres import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def spark(base_cfg):
    """The suite's SparkSession, with Delta Lake, built by the project's own session builder."""
    session = build_session(base_cfg, app_name="lakehouse tests")
    yield session
    session.stop()


def pytest_collection_modifyitems(config, items):
    """Refuses to run the spider tests and the Spark tests in one process."""
    trees = {item.path.relative_to(config.rootpath).parts[1] for item in items}
    if "scrapers" in trees and len(trees) > 1:
        # Twisted (via Scrapy) leaves a zope.interface `__provides__` on
        # typing.Generic that breaks pyspark.ml (AttributeError: __provides__).
        raise pytest.UsageError(
            "run tests/scrapers in a pytest process of its own: "
            "`pytest tests/scrapers && pytest --ignore=tests/scrapers` (what `make test` does)"
        )
