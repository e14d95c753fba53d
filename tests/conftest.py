"""One SparkSession for the whole suite, on a throwaway lakehouse root."""

from __future__ import annotations

import pytest

from lakehouse.config import load_config, with_run
from lakehouse.spark import build_session


@pytest.fixture(scope="session")
def lakehouse_root(tmp_path_factory):
    """A fresh root folder for every table, landing file and model the tests write."""
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def base_cfg(lakehouse_root):
    """The local profile pointed at the throwaway root, with small Spark settings for tests."""
    cfg = load_config(
        "local",
        overrides={
            "paths.root": str(lakehouse_root),
            "spark.master": "local[2]",
            "spark.conf.spark.sql.shuffle.partitions": "2",
            "spark.conf.spark.default.parallelism": "2",
            "spark.conf.spark.driver.memory": "4g",
            # A stuck crawl fails its test in minutes instead of holding CI for an hour.
            "sources.catalog.timeout_s": 300,
        },
    )
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
