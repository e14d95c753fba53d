"""jobs/ingest.py: rows deleted in the LMS (key reconciliation, tombstones) and schema drift."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import ingest, refine
from lakehouse import tables
from lakehouse.bronze import DeletedKeysError, SchemaDriftError
from lakehouse.config import with_run

LMS_BRONZE = (
    "bronze.lms_learners",
    "bronze.lms_courses",
    "bronze.lms_enrollments",
    "bronze.lms_activity_events",
    "bronze.lms_ratings",
)


@pytest.fixture
def lms_only(lms):
    """The lms fixture without the catalog source (nothing to crawl in these tests)."""
    cfg, db = lms
    cfg["sources"]["catalog"] = None
    return cfg, db


def source_rows(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def execute(db, *statements):
    with sqlite3.connect(db) as con:
        for sql in statements:
            con.execute(sql)


def assert_silver_learners_and_enrollments_match_the_source(spark, cfg, db):
    for table, sql, schema in [
        ("learners", "SELECT id, trim(name) FROM learners", "learner_id bigint, name string"),
        (
            "enrollments",
            "SELECT learner_id, course_id FROM enrollments",
            "learner_id bigint, course_id bigint",
        ),
    ]:
        expected = spark.createDataFrame(source_rows(db, sql), schema)
        assert_df_equality(
            bronze(spark, cfg, f"silver.{table}").select(*expected.columns),
            expected,
            ignore_row_order=True,
            ignore_nullable=True,
        )


def bronze(spark, cfg, name):
    return tables.read_table(spark, cfg, name)


def tombstones(spark, cfg, name, *columns):
    return bronze(spark, cfg, name).filter(F.col("_is_deleted")).select(*columns)


def nightly(spark, cfg, batch_id, **run):
    """The ingest result of one night, silver refined after it."""
    night = with_run(cfg, batch_id=batch_id, **run)
    result = ingest.run(spark, night)
    refine.run(spark, night)
    return result


def test_deleted_rows_are_tombstoned_and_leave_silver_until_they_come_back(spark, lms_only):
    cfg, db = lms_only
    ingest.run(spark, cfg)
    # The learner with the most events goes with everything of theirs (a cascading delete),
    # and one enrolment of someone else.
    (gone,) = source_rows(
        db, "SELECT learner_id FROM activity_events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0]
    learner = source_rows(db, f"SELECT * FROM learners WHERE id = {gone}")[0]
    enrollment = source_rows(
        db, f"SELECT * FROM enrollments WHERE learner_id <> {gone} ORDER BY 1, 2 LIMIT 1"
    )[0]
    learner_id, course_id = enrollment[:2]
    counts = {
        f"bronze.lms_{table}": source_rows(
            db, f"SELECT count(*) FROM {table} WHERE {column} = {gone}"
        )[0][0]
        for table, column in [
            ("learners", "id"),
            ("enrollments", "learner_id"),
            ("activity_events", "learner_id"),
            ("ratings", "learner_id"),
        ]
    }
    execute(
        db,
        *[f"DELETE FROM {t} WHERE learner_id = {gone}" for t in ("enrollments", "ratings")],
        f"DELETE FROM activity_events WHERE learner_id = {gone}",
        f"DELETE FROM learners WHERE id = {gone}",
        f"DELETE FROM enrollments WHERE learner_id = {learner_id} AND course_id = {course_id}",
    )
    second = nightly(spark, cfg, "b2")

    counts["bronze.lms_enrollments"] += 1
    assert second["deleted"] == dict.fromkeys(LMS_BRONZE, 0) | counts
    assert counts["bronze.lms_activity_events"] > 0
    assert_df_equality(
        tombstones(spark, cfg, "bronze.lms_learners", "id", "name", "_batch_id", "_load_seq"),
        spark.createDataFrame(
            [(gone, None, "b2", 2)], "id bigint, name string, _batch_id string, _load_seq bigint"
        ),
        ignore_nullable=True,
    )
    assert_silver_learners_and_enrollments_match_the_source(spark, cfg, db)
    assert (
        bronze(spark, cfg, "silver.interactions").filter(F.col("learner_id") == gone).count() == 0
    )

    # Both come back: the learner re-inserted (a new updated_at, within the run date as silver's
    # freshness rule wants), the enrolment as it was.
    with sqlite3.connect(db) as con:
        con.execute(
            "INSERT INTO learners VALUES (?, 'Back Again', ?, ?, ?, ?, '2026-11-01 23:00:00')",
            (learner[0], *learner[2:6]),
        )
        con.execute(
            f"INSERT INTO enrollments VALUES ({', '.join('?' * len(enrollment))})", enrollment
        )
    third = nightly(spark, cfg, "b3")

    assert third["deleted"] == dict.fromkeys(LMS_BRONZE, 0)
    assert_silver_learners_and_enrollments_match_the_source(spark, cfg, db)
    assert source_rows(db, f"SELECT name FROM learners WHERE id = {gone}") == [("Back Again",)]


def test_a_crash_after_committing_tombstones_loses_and_duplicates_nothing(spark, lms_only):
    cfg, db = lms_only
    cfg["sources"]["lms"]["tables"] = {"learners": cfg["sources"]["lms"]["tables"]["learners"]}
    ingest.run(spark, cfg)
    value, seq = tables.watermark(spark, cfg, "lms.learners")
    execute(db, "DELETE FROM learners WHERE id = 5")

    with pytest.raises(RuntimeError, match="injected failure after committing tombstones"):
        ingest.run(spark, with_run(cfg, batch_id="b2", fail_at="after_tombstone_commit"))
    rerun = ingest.run(spark, with_run(cfg, batch_id="b3"))

    assert rerun["deleted"] == {"bronze.lms_learners": 0}
    assert tables.watermark(spark, cfg, "lms.learners") == (value, seq + 1)
    assert_df_equality(
        tombstones(spark, cfg, "bronze.lms_learners", "id", "_batch_id", "_load_seq"),
        spark.createDataFrame(
            [(5, "b2", seq + 1)], "id bigint, _batch_id string, _load_seq bigint"
        ),
        ignore_nullable=True,
    )

    # The next load takes the next sequence number and moves the watermark on.
    execute(db, "UPDATE learners SET updated_at = '2026-11-02 06:00:00' WHERE id = 2")
    ingest.run(spark, with_run(cfg, batch_id="b4"))
    assert tables.watermark(spark, cfg, "lms.learners") == ("2026-11-02 06:00:00", seq + 2)
    latest = bronze(spark, cfg, "bronze.lms_learners").filter("_batch_id = 'b4'")
    assert [(r["id"], r["_load_seq"]) for r in latest.collect()] == [(2, seq + 2)]


def test_a_source_returning_no_keys_is_not_taken_for_a_mass_delete(spark, lms_only):
    cfg, db = lms_only
    lms = cfg["sources"]["lms"]
    lms["tables"] = {"ratings": lms["tables"]["ratings"]}
    first = ingest.run(spark, cfg)
    execute(db, "DELETE FROM ratings")
    version = tables.table_version(spark, cfg, "bronze.lms_ratings")

    with pytest.raises(DeletedKeysError, match="lms.ratings returned no keys"):
        ingest.run(spark, with_run(cfg, batch_id="b2"))
    assert tables.table_version(spark, cfg, "bronze.lms_ratings") == version

    lms["tables"]["ratings"]["allow_empty_source"] = True
    emptied = ingest.run(spark, with_run(cfg, batch_id="b3"))
    assert emptied["deleted"] == {"bronze.lms_ratings": first["bronze.lms_ratings"]}


def test_a_new_source_column_reaches_bronze_and_is_reported_once(spark, lms_only):
    cfg, db = lms_only
    ingest.run(spark, cfg)
    execute(
        db,
        "ALTER TABLE learners ADD COLUMN nickname TEXT",
        "UPDATE learners SET nickname = 'Ace', updated_at = '2026-11-02 07:00:00' WHERE id = 3",
    )

    second = ingest.run(spark, with_run(cfg, batch_id="b2"))
    third = ingest.run(spark, with_run(cfg, batch_id="b3"))

    change = {
        "source_table": "lms.learners",
        "column": "nickname",
        "change": "added",
        "source_type": "string",
        "bronze_table": "bronze.lms_learners",
    }
    assert (second["schema_changes"], third["schema_changes"]) == ([change], [])
    assert_df_equality(
        bronze(spark, cfg, "bronze.lms_learners")
        .filter("_batch_id = 'b2'")
        .select("id", "nickname"),
        spark.createDataFrame([(3, "Ace")], "id bigint, nickname string"),
        ignore_nullable=True,
    )
    recorded = bronze(spark, cfg, tables.SCHEMA_CHANGES).drop("detected_at")
    assert_df_equality(
        recorded,
        spark.createDataFrame(
            [(dt.date(2026, 11, 1), *change.values(), "b2", None)], tables.SCHEMA_CHANGES_SCHEMA
        ).drop("detected_at"),
        ignore_nullable=True,
    )


def test_an_incompatible_type_change_fails_the_run_before_anything_is_written(spark, lms):
    cfg, db = lms
    ingest.run(spark, cfg)
    before = {name: tables.table_version(spark, cfg, name) for name in cfg["tables"]}
    columns = "id, code, title, provider, category, level, duration_hours, updated_at"
    execute(
        db,
        # duration_hours becomes text, and holds text; other tables have changes to load too.
        "CREATE TABLE courses_v2 (id INTEGER PRIMARY KEY, code TEXT, title TEXT, provider TEXT, "
        "category TEXT, level TEXT, duration_hours TEXT, updated_at TEXT)",
        f"INSERT INTO courses_v2 ({columns}) SELECT {columns} FROM courses",
        "UPDATE courses_v2 SET duration_hours = 'about ten hours', "
        "updated_at = '2026-11-02 07:00:00' WHERE id = 1",
        "DROP TABLE courses",
        "ALTER TABLE courses_v2 RENAME TO courses",
        "ALTER TABLE learners ADD COLUMN nickname TEXT",
        "DELETE FROM learners WHERE id = 5",
    )

    with pytest.raises(SchemaDriftError) as error:
        ingest.run(spark, with_run(cfg, batch_id="b2"))

    assert "lms.courses column 'duration_hours': bronze.lms_courses has int, the source now " in (
        str(error.value)
    )
    assert "has string" in str(error.value)
    assert {name: tables.table_version(spark, cfg, name) for name in cfg["tables"]} == before
