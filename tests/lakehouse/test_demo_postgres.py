"""End to end: the demo with the postgres profile, its LMS in a real throwaway PostgreSQL server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.cli import generate_demo_sources
from lakehouse.config import with_run
from lakehouse.nightly import run_nightly

pytestmark = pytest.mark.e2e

LEARNERS = (
    "learner_id bigint, name string, department string, job_role string, country string, "
    "hired_at string, updated_at string"
)


@pytest.fixture(scope="module")
def postgres_demo(spark, profile, postgres, tmp_path_factory):
    """The tiny demo generated and run as `lakehouse demo --profile postgres` does (the LMS
    loaded into the server the LMS_* variables name): (cfg, nightly results)."""
    env = {
        "LMS_JDBC_URL": postgres["jdbc_url"],
        "LMS_USER": postgres["user"],
        "LMS_PASSWORD": postgres["password"],
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        cfg = profile(
            "postgres",
            {
                "paths.root": str(tmp_path_factory.mktemp("postgres-demo")),
            },
        )
        cfg = with_run(cfg, date=cfg["demo"]["run_date"], batch_id="pg-demo")
        generate_demo_sources(cfg, "tiny")
        results = run_nightly(cfg, spark=spark)
    return cfg, results


def test_the_lms_is_read_from_postgres(postgres_demo):
    cfg, _ = postgres_demo
    assert cfg["sources"]["lms"]["url"].startswith("jdbc:postgresql://127.0.0.1:")


def test_silver_learners_equal_the_generated_lms(spark, postgres_demo):
    cfg, _ = postgres_demo
    # The same world, also written as the demo's SQLite file; silver upper-cases countries.
    with sqlite3.connect(Path(cfg["paths"]["demo"]) / "lms.db") as con:
        rows = con.execute(
            "SELECT id, name, department, job_role, upper(country), hired_at, updated_at "
            "FROM learners"
        ).fetchall()
    stamp = "yyyy-MM-dd HH:mm:ss"
    learners = tables.read_table(spark, cfg, "silver.learners").select(
        "learner_id",
        "name",
        "department",
        "job_role",
        "country",
        F.date_format("hired_at", stamp).alias("hired_at"),
        F.date_format("updated_at", stamp).alias("updated_at"),
    )
    assert len(rows) > 0
    assert_df_equality(
        learners,
        spark.createDataFrame(rows, LEARNERS),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_gold_recommendations_have_rows(spark, postgres_demo):
    cfg, results = postgres_demo
    recs = tables.read_table(spark, cfg, "gold.recommendations")
    assert recs.count() > 0
    assert results["ingest"]["bronze.lms_learners"] > 0
