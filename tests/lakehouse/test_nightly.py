"""End to end: the whole nightly on a tiny generated demo, checked on the tables' content, and
the same demo's LMS read from a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.cli import generate_demo_sources
from lakehouse.config import with_run
from lakehouse.nightly import holdout_summary, run_nightly

pytestmark = pytest.mark.e2e

LEARNERS = (
    "learner_id bigint, name string, department string, job_role string, country string, "
    "hired_at string, updated_at string"
)

# Columns saying which run wrote a row (or when): they differ between two runs by design.
RUN_COLUMNS = {"_batch_id", "_ingested_at", "batch_id", "committed_at", "created_at", "run_id"}


@pytest.fixture(scope="module")
def nightly(spark, base_cfg):
    """Two nightly runs of the same date on the tiny demo: (cfg, first results, second results,
    gold.recommendations version after the first run, every table's version after it)."""
    cfg = with_run(base_cfg, date=base_cfg["demo"]["run_date"], batch_id="e2e-1")
    generate_demo_sources(cfg, "tiny")
    first = run_nightly(cfg, spark=spark)
    version_after_first = tables.table_version(spark, cfg, "gold.recommendations")
    versions = {name: tables.table_version(spark, cfg, name) for name in cfg["tables"]}
    second = run_nightly(with_run(cfg, batch_id="e2e-2"), spark=spark)
    return cfg, first, second, version_after_first, versions


@pytest.fixture(scope="module")
def postgres_night(spark, profile, postgres, tmp_path_factory):
    """The same tiny demo run as `lakehouse demo --profile postgres` does, its LMS loaded into a
    real throwaway PostgreSQL server (the LMS_* variables name it), up to silver: (cfg, results
    of crawl, ingest and refine). The later stages read only silver: the nightly above runs
    them."""
    env = {
        "LMS_JDBC_URL": postgres["jdbc_url"],
        "LMS_USER": postgres["user"],
        "LMS_PASSWORD": postgres["password"],
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        cfg = profile("postgres", {"paths.root": str(tmp_path_factory.mktemp("postgres-demo"))})
        cfg = with_run(cfg, date=cfg["demo"]["run_date"], batch_id="pg-demo")
        generate_demo_sources(cfg, "tiny")
        results = run_nightly(cfg, stages=("crawl", "ingest", "refine"), spark=spark)
    return cfg, results


def test_the_postgres_profile_reads_the_lms_from_postgres(postgres_night):
    cfg, results = postgres_night
    assert cfg["sources"]["lms"]["url"].startswith("jdbc:postgresql://127.0.0.1:")
    assert results["ingest"]["bronze.lms_learners"] > 0
    assert results["ingest"]["bronze.lms_activity_events"] > 0


def test_silver_learners_from_postgres_equal_the_generated_lms(spark, postgres_night):
    cfg, _ = postgres_night
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


def test_silver_from_postgres_equals_silver_from_the_sqlite_lms(spark, nightly, postgres_night):
    sqlite_cfg, postgres_cfg = nightly[0], postgres_night[0]
    for name in ("silver.learners", "silver.courses", "silver.enrollments", "silver.interactions"):
        from_sqlite = tables.read_table(spark, sqlite_cfg, name)
        from_postgres = tables.read_table(spark, postgres_cfg, name)
        columns = [c for c in from_sqlite.columns if c not in RUN_COLUMNS]
        assert from_sqlite.count() > 0, name
        assert_df_equality(
            from_postgres.select(*columns),
            from_sqlite.select(*columns),
            ignore_row_order=True,
            ignore_nullable=True,
        )


def test_every_recommended_course_exists_in_dim_course(spark, nightly):
    cfg = nightly[0]
    recs = tables.read_table(spark, cfg, "gold.recommendations")
    dims = tables.read_table(spark, cfg, "gold.dim_course")
    assert recs.count() > 0
    assert recs.join(dims, "course_id", "left_anti").count() == 0


def test_no_learner_is_recommended_a_completed_course(spark, nightly):
    cfg = nightly[0]
    recs = tables.read_table(spark, cfg, "gold.recommendations")
    completed = (
        tables.read_table(spark, cfg, "silver.enrollments")
        .filter(F.col("status") == "completed")
        .select("learner_id", "course_id")
    )
    assert completed.count() > 0
    assert recs.join(completed, ["learner_id", "course_id"]).count() == 0


def test_ranks_run_from_one_to_ten_without_gaps(spark, nightly):
    cfg = nightly[0]
    recs = tables.read_table(spark, cfg, "gold.recommendations")
    per_learner = recs.groupBy("run_date", "learner_id").agg(
        F.sort_array(F.collect_list("rank")).alias("ranks"),
        F.countDistinct("course_id").alias("courses"),
    )
    expected = list(range(1, cfg["recommender"]["k"] + 1))
    bad = per_learner.filter(
        (F.col("ranks") != F.lit(expected)) | (F.col("courses") != len(expected))
    )
    assert per_learner.count() > 0
    assert bad.count() == 0, bad.limit(5).collect()


def test_rerun_of_the_same_date_leaves_recommendations_identical(spark, nightly):
    cfg, first, second, version_after_first, _ = nightly
    before = tables.read_table(spark, cfg, "gold.recommendations", version=version_after_first)
    after = tables.read_table(spark, cfg, "gold.recommendations")
    # The rerun did write (a new version), and what it wrote equals the first run.
    assert tables.table_version(spark, cfg, "gold.recommendations") > version_after_first
    assert_df_equality(before, after, ignore_row_order=True)
    assert second["train"]["model_version"] == first["train"]["model_version"]


def test_rerun_recrawls_unchanged_pages_into_no_new_bronze_rows(spark, nightly):
    cfg, first, second, _, _ = nightly
    bronze = tables.read_table(spark, cfg, "bronze.catalog_courses")
    per_file = bronze.groupBy("_source_file").count()
    # Only the first crawl's files hold versions: the rerun's records are all unchanged.
    assert per_file.count() == first["crawl"]["landing_files"]
    assert bronze.count() == first["crawl"]["records"] == second["crawl"]["records"]
    assert second["ingest"]["catalog_unchanged"] == second["crawl"]["records"]
    assert second["ingest"]["bronze.catalog_courses"] == 0
    assert bronze.select("_batch_id").distinct().count() == 1


def test_als_beats_popularity_on_ndcg(nightly):
    trained = nightly[1]["train"]
    assert trained["als_evaluated_learners"] > 0
    assert trained["als_ndcg_at_10"] > trained["popularity_ndcg_at_10"]


def test_silver_courses_carry_the_crawled_catalog(spark, nightly):
    cfg = nightly[0]
    courses = tables.read_table(spark, cfg, "silver.courses")
    assert courses.count() > 0
    assert courses.filter(~F.col("in_catalog") | (F.size("skills") == 0)).count() == 0


def test_recommendations_table_is_readable_by_another_delta_reader(spark, nightly):
    from deltalake import DeltaTable

    cfg = nightly[0]
    path = tables.table_path(cfg, "gold.recommendations")
    assert (Path(path) / "_delta_log").is_dir()
    other = DeltaTable(path).to_pyarrow_table()
    assert other.num_rows == tables.read_table(spark, cfg, "gold.recommendations").count()
    assert set(other.column_names) == {
        "run_date", "learner_id", "rank", "course_id", "score", "model_name", "model_version",
        "strategy", "reason",
    }  # fmt: skip


def test_every_recommendation_names_its_strategy_and_a_reason(spark, nightly):
    cfg = nightly[0]
    recs = tables.read_table(spark, cfg, "gold.recommendations")
    strategies = {r["strategy"] for r in recs.select("strategy").distinct().collect()}
    assert "als" in strategies
    assert strategies <= {"als", "content", "popular_in_department", "popular"}
    assert recs.filter(F.col("reason").isNull() | (F.length("reason") == 0)).count() == 0


def test_learning_paths_hold_every_recommendation_after_its_prerequisites(spark, nightly):
    cfg = nightly[0]
    recs = tables.read_table(spark, cfg, "gold.recommendations")
    paths = tables.read_table(spark, cfg, "gold.learning_paths")
    courses = tables.read_table(spark, cfg, "silver.courses")
    assert recs.join(paths, ["run_date", "learner_id", "course_id"], "left_anti").count() == 0
    needs = courses.select(
        F.col("course_id").alias("needed_by"), F.explode("prerequisites").alias("course_code")
    )
    later = (
        paths.join(needs, "course_code")
        .alias("p")
        .join(
            paths.alias("d"),
            (F.col("p.run_date") == F.col("d.run_date"))
            & (F.col("p.learner_id") == F.col("d.learner_id"))
            & (F.col("d.course_id") == F.col("p.needed_by")),
        )
        .filter(F.col("p.step") > F.col("d.step"))
    )
    assert paths.count() >= recs.count()
    assert later.count() == 0


def test_sql_command_answers_in_json(nightly, lakehouse_root):
    env = {**os.environ, "LAKEHOUSE_HOME": str(lakehouse_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "sql", "--format", "json",
         "SELECT run_date, count(*) AS n FROM gold.recommendations GROUP BY run_date"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert rows == [{"run_date": nightly[0]["run"]["date"].isoformat(), "n": rows[0]["n"]}]
    assert rows[0]["n"] > 0


def test_rerunning_the_night_leaves_every_table_of_every_layer_identical(spark, nightly):
    cfg, versions = nightly[0], nightly[4]
    compared = []
    for name, version in versions.items():
        if version is None:
            continue
        before = tables.read_table(spark, cfg, name, version=version)
        after = tables.read_table(spark, cfg, name)
        columns = [c for c in before.columns if c not in RUN_COLUMNS]
        assert_df_equality(
            after.select(*columns),
            before.select(*columns),
            ignore_row_order=True,
            ignore_nullable=True,
        )
        compared.append(name.partition(".")[0])
    assert {"bronze", "silver", "gold", "control"} <= set(compared)


def test_every_table_has_exactly_the_columns_the_table_catalog_documents(spark, nightly):
    import yaml

    from lakehouse.config import conf_dir

    cfg = nightly[0]
    documented = yaml.safe_load((conf_dir() / "tables" / "columns.yml").read_text("utf-8"))
    problems, checked = [], set()
    for name in cfg["tables"]:
        if not tables.table_exists(spark, cfg, name):
            continue  # e.g. control.schema_changes before any drift
        real = {
            f.name: f.dataType.simpleString() for f in tables.read_table(spark, cfg, name).schema
        }
        doc = documented.get(name) or {}
        undocumented = [f"{c} {t}" for c, t in real.items() if c not in doc]
        # Columns only_when something happened (tombstones) may be absent from a clean night.
        missing = [c for c, spec in doc.items() if c not in real and not spec.get("only_when")]
        retyped = [
            f"{c} {t} (documented {doc[c]['type']})"
            for c, t in real.items()
            if c in doc and doc[c]["type"] != t
        ]
        if undocumented or missing or retyped:
            problems.append(
                f"{name}: undocumented {undocumented}, missing {missing}, other type {retyped}"
            )
        checked.add(name.partition(".")[0])
    assert not problems, "conf/tables/columns.yml differs from the tables:\n" + "\n".join(problems)
    assert {"bronze", "silver", "gold", "control"} <= checked


def test_holdout_summary_lists_each_models_ndcg_and_recall():
    train = {
        "model_version": "3",
        "promotion_reason": "no champion yet",
        "als_ndcg_at_10": 0.19,
        "als_recall_at_10": 0.34,
        "popularity_ndcg_at_10": 0.0855,
        "popularity_recall_at_10": 0.17,
        "item_similarity_ndcg_at_10": 0.2514,
        "item_similarity_recall_at_10": 0.41,
        "als_map_at_10": 0.12,
        "train_pairs": 1000.0,
    }

    assert holdout_summary(train) == (
        "holdout NDCG@10: als 0.1900, popularity 0.0855, item_similarity 0.2514; "
        "recall@10: als 0.3400, popularity 0.1700, item_similarity 0.4100"
    )
    assert holdout_summary({"skipped": "x"}).startswith("holdout metrics: none")
