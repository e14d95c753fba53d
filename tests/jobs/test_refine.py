"""jobs/refine.py: bad rows go to quarantine, every table balances, a breach writes nothing."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import refine
from lakehouse import tables
from lakehouse.config import with_run
from lakehouse.quality import QUARANTINE_TABLE, RUNS_TABLE, DataQualityError

T0 = dt.datetime(2026, 10, 31, 2)
LINEAGE = "_ingested_at timestamp, _source string, _batch_id string"
BRONZE = {
    "bronze.lms_learners": (
        "id bigint, name string, department string, job_role string, country string, "
        "hired_at string, updated_at string",
        [
            (1, "Ada", "Eng", "Engineer", "germany", "2020-01-01 00:00:00", "2026-10-01 00:00:00"),
            # learner 1 again, later: the version above is a removed duplicate
            (1, "Ada", "Data", "Engineer", "germany", "2020-01-01 00:00:00", "2026-10-15 00:00:00"),
            (2, "Bo", "Sales", "Seller", "brazil", "2021-05-01 00:00:00", "2026-09-01 00:00:00"),
            (3, "Cy", "Eng", "Engineer", "india", "2019-03-01 00:00:00", "2026-09-01 00:00:00"),
            (4, "Di", "Eng", "Engineer", "ge3", "2022-01-01 00:00:00", "2026-09-01 00:00:00"),
        ],
    ),
    "bronze.lms_courses": (
        "id bigint, code string, title string, provider string, category string, level string, "
        "duration_hours int, updated_at string",
        [
            (10, "data-101", "SQL", "Acme", "Data", "beginner", 5, "2026-09-01 00:00:00"),
            (11, "SEC-201", "IAM", "Acme", "Security", "Intermediate", 8, "2026-09-01 00:00:00"),
        ],
    ),
    "bronze.lms_enrollments": (
        "learner_id bigint, course_id bigint, enrolled_at string, completed_at string, "
        "score double, status string",
        [
            (1, 10, "2026-09-02 00:00:00", None, None, "Enrolled"),
            (2, 11, "2026-09-03 00:00:00", "2026-10-03 00:00:00", 80.0, "completed"),
            (3, 12, "2026-09-04 00:00:00", None, None, "enrolled"),  # course 12 is unknown
        ],
    ),
    "bronze.lms_activity_events": (
        "id bigint, learner_id bigint, course_id bigint, event_type string, ts string, "
        "value double",
        [
            (1, 1, 10, "view", "2026-10-05 08:00:00", 5.0),
            (2, 1, 10, "view", "2026-10-05 08:00:00", 5.0),  # delivered twice: a duplicate
            (3, None, 10, "view", "2026-10-05 09:00:00", 1.0),  # no learner
            (4, 4, 10, "quiz", "2026-10-06 10:00:00", 0.9),  # learner 4 is quarantined
            (5, 2, 11, "progress", "2026-10-06 11:00:00", 0.5),
        ],
    ),
    "bronze.lms_ratings": (
        "learner_id bigint, course_id bigint, stars int, ts string",
        [(3, 11, 4, "2026-10-07 12:00:00")],
    ),
}
SILVER = ("silver.learners", "silver.courses", "silver.enrollments", "silver.interactions")


@pytest.fixture
def strict_cfg(tmp_path, profile, spark):
    """A profile whose lakehouse lives in tmp_path, with the bronze tables above, and
    conf/base.yml's own quality rules."""
    cfg = profile(
        "local",
        {
            "paths.root": str(tmp_path / "root"),
        },
    )
    cfg = with_run(cfg, date="2026-11-01", batch_id="refine-1")
    write_bronze(spark, cfg, BRONZE)
    return cfg


def write_bronze(spark, cfg, bronze):
    """Appends the bronze tables given (name: (schema, rows)) as one load."""
    for name, (schema, rows) in bronze.items():
        loaded = spark.createDataFrame(
            [(*row, T0, "test", "b0") for row in rows], f"{schema}, {LINEAGE}"
        )
        tables.append_table(loaded, cfg, name)


def read(spark, cfg, name):
    return tables.read_table(spark, cfg, name)


def test_refine_quarantines_bad_rows_and_every_table_balances(spark, strict_cfg, lenient):
    cfg = lenient(strict_cfg)

    counts = refine.run(spark, cfg)
    # A rerun processes the night's batch again and replaces its quality rows, never duplicates.
    again = refine.run(spark, cfg)

    assert counts == {
        "silver.learners": 3,
        "silver.courses": 2,
        "silver.enrollments": 2,
        "silver.interactions": 3,
        QUARANTINE_TABLE: 4,
        "snapshots_kept": False,
        "interactions_mode": "full",
        "interactions_bronze_rows": 6,
    }
    assert again == counts
    quarantine = read(spark, cfg, QUARANTINE_TABLE).select(
        "run_date", "batch_id", "table_name", "rule", "check_type", "reason", "source_batch"
    )
    expected = spark.createDataFrame(
        [
            ("silver.learners", "learner_country_format", "format",
             "country 'GE3' does not match ^[A-Z][A-Z .'()-]*$"),
            ("silver.enrollments", "enrollment_course_known", "references",
             "course_id 12 not in silver.courses"),
            ("silver.interactions", "interaction_keys_present", "not_null", "learner_id is null"),
            ("silver.interactions", "interaction_learner_known", "references",
             "learner_id 4 not in silver.learners"),
        ],
        "table_name string, rule string, check_type string, reason string",
    ).selectExpr(
        "DATE'2026-11-01' AS run_date", "'refine-1' AS batch_id", "*", "'refine-1' AS source_batch"
    )  # fmt: skip
    assert_df_equality(quarantine, expected, ignore_row_order=True, ignore_nullable=True)

    balances = (
        read(spark, cfg, RUNS_TABLE)
        .filter("rule = 'row_balance'")
        .select(
            "table_name", "bronze_rows", "silver_rows", "quarantined_rows",
            "duplicates_removed", "balanced",
        )
    )  # fmt: skip
    assert_df_equality(
        balances,
        spark.createDataFrame(
            [
                ("silver.learners", 5, 3, 1, 1, True),
                ("silver.courses", 2, 2, 0, 0, True),
                ("silver.enrollments", 3, 2, 1, 0, True),
                ("silver.interactions", 6, 3, 2, 1, True),
            ],
            "table_name string, bronze_rows bigint, silver_rows bigint, "
            "quarantined_rows bigint, duplicates_removed bigint, balanced boolean",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    rules = read(spark, cfg, RUNS_TABLE).filter("rule != 'row_balance'")
    assert rules.count() == sum(len(r) for r in cfg["quality"].values())
    assert sorted((r["rule"], r["failed"]) for r in rules.filter("failed > 0").collect()) == [
        ("enrollment_course_known", 1),
        ("interaction_keys_present", 1),
        ("interaction_learner_known", 1),
        ("learner_country_format", 1),
    ]
    interactions = read(spark, cfg, "silver.interactions").select("learner_id", "event_type")
    assert sorted(interactions.collect()) == [(1, "view"), (2, "progress"), (3, "rate")]


def test_a_threshold_breach_fails_the_run_and_changes_no_table(spark, strict_cfg, lenient):
    refine.run(spark, lenient(strict_cfg))
    watched = (*SILVER, QUARANTINE_TABLE, RUNS_TABLE)
    before = {name: tables.table_version(spark, strict_cfg, name) for name in watched}

    with pytest.raises(DataQualityError) as raised:
        refine.run(spark, with_run(strict_cfg, batch_id="refine-2"))

    message = str(raised.value)
    assert "4 check(s) over their error threshold" in message
    for rule in (
        "learner_country_format",
        "enrollment_course_known",
        "interaction_keys_present",
        "interaction_learner_known",
    ):
        assert f"rule {rule} " in message
    assert {name: tables.table_version(spark, strict_cfg, name) for name in watched} == before
    assert read(spark, strict_cfg, RUNS_TABLE).filter("batch_id = 'refine-2'").count() == 0


def test_reprocessing_a_batch_rewrites_nothing(spark, nights):
    cfg, dates, load_night = nights
    load_night(dates[0])
    refine.run(spark, with_run(cfg, date=dates[0], batch_id="n1"))
    load_night(dates[1])
    second = refine.run(spark, with_run(cfg, date=dates[1], batch_id="n2"))
    versions = {name: tables.table_version(spark, cfg, name) for name in SILVER}
    files = {name: data_files(cfg, name) for name in SILVER}
    runs = tables.read_table(spark, cfg, RUNS_TABLE).drop("batch_id")
    expected_runs = spark.createDataFrame(runs.collect(), runs.schema)

    # A rerun of the night (or one after a crash before the offsets were recorded) processes
    # the night's batch again: the new events, the late one and the tombstone.
    again = refine.run(spark, with_run(cfg, date=dates[1], batch_id="n2-again"))

    assert second["interactions_mode"] == again["interactions_mode"] == "incremental"
    assert again["interactions_bronze_rows"] == second["interactions_bronze_rows"] > 0
    for name in SILVER:
        assert tables.table_version(spark, cfg, name) == versions[name], name
        assert data_files(cfg, name) == files[name], name
    # The same quality figures for the same batch.
    assert_df_equality(
        tables.read_table(spark, cfg, RUNS_TABLE).drop("batch_id"),
        expected_runs,
        ignore_row_order=True,
    )
    offsets = tables.read_offsets(spark, cfg, refine.CONSUMER, dt.date(2026, 10, 12))
    assert offsets["bronze.lms_activity_events"]["version"] == tables.table_version(
        spark, cfg, "bronze.lms_activity_events"
    )


def data_files(cfg, name):
    """A table's data and deletion vector files."""
    path = tables.table_path(cfg, name)
    return sorted(f for root, _, fs in os.walk(path) if "_delta_log" not in root for f in fs)


def test_small_tables_are_kept_while_their_bronze_rules_and_freshness_judge_as_before(
    spark, nights, append_events
):
    cfg, dates, load_night = nights
    for rule in (r for rules in cfg["quality"].values() for r in rules):
        rule["error_threshold"] = 1.0  # every learner ages out below
    # Learners updated on 2026-10-01 are too old on 10-22 (20 days), not on 10-21.
    rules = cfg["quality"]["silver.learners"]
    fresh = next(r for r in rules if r["rule"] == "learner_updated_fresh")
    fresh["max_age_days"] = 20
    load_night(dates[0])
    first = refine.run(spark, with_run(cfg, date="2026-10-20", batch_id="n1"))
    versions = {name: tables.table_version(spark, cfg, name) for name in refine.SNAPSHOTS}
    append_events(cfg, "2026-10-21", [(20, 1, 10, "view", "2026-10-21 08:00:00", 1.0)])
    quiet = refine.run(spark, with_run(cfg, date="2026-10-21", batch_id="n2"))
    kept_versions = {name: tables.table_version(spark, cfg, name) for name in refine.SNAPSHOTS}
    runs = tables.read_table(spark, cfg, RUNS_TABLE).filter(
        F.col("table_name").isin(*refine.SNAPSHOTS)
    )
    again = lambda day: runs.filter(F.col("run_date") == day).drop("run_date", "batch_id")  # noqa: E731
    aged = refine.run(spark, with_run(cfg, date="2026-10-22", batch_id="n3"))
    fresh["max_age_days"] = 21  # other rules: rebuilt, even though bronze did not change
    reruled = refine.run(spark, with_run(cfg, date="2026-10-22", batch_id="n3-again"))

    assert [r["snapshots_kept"] for r in (first, quiet, aged, reruled)] == [
        False, True, False, False
    ]  # fmt: skip
    assert kept_versions == versions
    # The kept night's quality figures and quarantine rows are those the first night found.
    assert_df_equality(
        again(dt.date(2026, 10, 21)), again(dt.date(2026, 10, 20)), ignore_row_order=True
    )
    # On 10-22 the learners aged out of silver into the quarantine; with 21 days they are back.
    assert aged["silver.learners"] == 0
    assert reruled["silver.learners"] == first["silver.learners"] > 0


def test_small_tables_are_rebuilt_when_a_quarantined_row_ages_out(
    spark, tmp_path, profile, lenient
):
    cfg = lenient(profile("local", {"paths.root": str(tmp_path / "root")}))
    schema, rows = BRONZE["bronze.lms_learners"]
    # Learner 4, quarantined for its country, was updated before everyone else.
    older = [(*r[:6], "2026-08-01 00:00:00") if r[0] == 4 else r for r in rows]
    write_bronze(spark, cfg, {**BRONZE, "bronze.lms_learners": (schema, older)})
    # Too old from 10-21 on (81 days), and only learner 4.
    rules = cfg["quality"]["silver.learners"]
    next(r for r in rules if r["rule"] == "learner_updated_fresh")["max_age_days"] = 80

    nights = [
        refine.run(spark, with_run(cfg, date=day, batch_id=day))
        for day in ("2026-10-19", "2026-10-20", "2026-10-21")
    ]

    assert [n["snapshots_kept"] for n in nights] == [False, True, False]
    assert [n["silver.learners"] for n in nights] == [3, 3, 3]
    quarantined = (
        tables.read_table(spark, cfg, QUARANTINE_TABLE)
        .filter("table_name = 'silver.learners'")
        .select(
            "run_date", "rule", F.get_json_object("offending_values", "$.learner_id").alias("id")
        )
    )
    expected = spark.createDataFrame(
        [
            (dt.date(2026, 10, 19), "learner_country_format", "4"),
            (dt.date(2026, 10, 20), "learner_country_format", "4"),
            (dt.date(2026, 10, 21), "learner_country_format", "4"),
            (dt.date(2026, 10, 21), "learner_updated_fresh", "4"),
        ],
        quarantined.schema,
    )
    assert_df_equality(quarantined, expected, ignore_row_order=True)
