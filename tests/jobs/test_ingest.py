"""jobs/ingest.py: incremental LMS loads into bronze, exactly once across crashes and reruns
(the `lms` fixture is in conftest.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import ingest, refine
from lakehouse import tables
from lakehouse.config import with_run
from lakehouse.sources.catalog import CATALOG_LANDING_SCHEMA
from scrapers.items import compute_content_hash


def source_rows(db, sql):
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def add_source_changes(db):
    """New events past the watermark and one learner updated in place (after every update)."""
    with sqlite3.connect(db) as con:
        top = con.execute("SELECT max(id) FROM activity_events").fetchone()[0]
        con.executemany(
            "INSERT INTO activity_events (id, learner_id, course_id, event_type, ts, value) "
            "VALUES (?, 1, 1, 'view', '2026-10-31 10:00:00', 5.0)",
            [(top + 1,), (top + 2,), (top + 3,)],
        )
        con.execute(
            "UPDATE learners SET department = 'Moved', updated_at = '2026-11-01 06:00:00' "
            "WHERE id = 2"
        )


def bronze_ids(spark, cfg):
    events = tables.read_table(spark, cfg, "bronze.lms_activity_events")
    return sorted(r["id"] for r in events.select("id").collect())


@pytest.mark.parametrize("fail_at", ["after_extract", "after_bronze_commit"])
def test_a_crash_between_extraction_and_commit_loses_and_duplicates_nothing(spark, lms, fail_at):
    cfg, db = lms
    ingest.run(spark, cfg)
    add_source_changes(db)

    with pytest.raises(RuntimeError, match="injected failure"):
        ingest.run(spark, with_run(cfg, batch_id="b2", fail_at=fail_at))
    ingest.run(spark, with_run(cfg, batch_id="b3"))

    expected = sorted(r[0] for r in source_rows(db, "SELECT id FROM activity_events"))
    assert bronze_ids(spark, cfg) == expected  # every source row exactly once
    learners = tables.read_table(spark, cfg, "bronze.lms_learners")
    versions = learners.filter(F.col("id") == 2).orderBy("_load_seq").select("department").collect()
    assert [r["department"] for r in versions][-1] == "Moved"
    assert learners.groupBy("id", "updated_at").count().filter("count > 1").count() == 0
    value, seq = tables.watermark(spark, cfg, "lms.activity_events")
    assert (int(value), seq) == (max(expected), 2)


def test_a_rerun_with_nothing_new_appends_nothing(spark, lms):
    cfg, _ = lms
    first = ingest.run(spark, cfg)
    second = ingest.run(spark, with_run(cfg, batch_id="b2"))
    assert first["bronze.lms_activity_events"] > 0
    assert second["bronze.lms_activity_events"] == 0
    assert second["bronze.lms_learners"] == 0
    # Tables without an incremental column are read whole, but unchanged rows are not appended.
    assert first["bronze.lms_enrollments"] > 0
    assert second["bronze.lms_enrollments"] == 0
    assert len(bronze_ids(spark, cfg)) == first["bronze.lms_activity_events"]


def land_crawl(cfg, crawl_date, pages):
    """One crawl's landing file as the spider writes it: a JSON Lines record per course page."""
    folder = Path(cfg["sources"]["catalog"]["landing"]) / f"crawl_date={crawl_date}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"catalog-{crawl_date}-00001.jsonl", "w", encoding="utf-8") as out:
        for code, description in pages:
            record = dict.fromkeys(CATALOG_LANDING_SCHEMA.fieldNames())
            record.update(
                url=f"https://catalog.example/courses/{code.lower()}",
                course_code=code,
                name=f"Course {code}",
                description=description,
                skills=["sql"],
                prerequisites=[],
                http_status=200,
                fetched_at=f"{crawl_date}T02:00:00Z",
                spider="catalog",
                raw_html=f"<html>{description} fetched {crawl_date}</html>",
            )
            record["content_hash"] = compute_content_hash(record)
            out.write(json.dumps(record) + "\n")


def test_a_recrawl_of_unchanged_pages_adds_no_bronze_version(spark, lms):
    cfg, db = lms
    catalog = "bronze.catalog_courses"
    pages = [(code, f"all about {code}") for (code,) in source_rows(db, "SELECT code FROM courses")]
    land_crawl(cfg, "2026-10-31", pages)
    first = ingest.run(spark, cfg)
    refine.run(spark, cfg)
    bronze_version = tables.table_version(spark, cfg, catalog)
    silver_version = tables.table_version(spark, cfg, "silver.courses")

    land_crawl(cfg, "2026-11-01", pages)  # the same pages fetched again the next night
    second = ingest.run(spark, with_run(cfg, batch_id="b2"))
    refine.run(spark, with_run(cfg, batch_id="b2"))

    assert first[catalog] == len(pages) > 0
    assert (second[catalog], second["catalog_unchanged"]) == (0, len(pages))
    assert tables.table_version(spark, cfg, catalog) == bronze_version
    assert_df_equality(
        tables.read_table(spark, cfg, "silver.courses"),
        tables.read_table(spark, cfg, "silver.courses", version=silver_version),
        ignore_row_order=True,
    )

    changed_code = pages[0][0]
    land_crawl(cfg, "2026-11-02", [(changed_code, "rewritten"), *pages[1:]])
    third = ingest.run(spark, with_run(cfg, batch_id="b3"))
    refine.run(spark, with_run(cfg, batch_id="b3"))

    assert (third[catalog], third["catalog_unchanged"]) == (1, len(pages) - 1)
    assert tables.table_version(spark, cfg, catalog) == bronze_version + 1
    added = tables.read_table(spark, cfg, catalog).filter(F.col("_batch_id") == "b3")
    assert [(r["course_code"], r["description"]) for r in added.collect()] == [
        (changed_code, "rewritten")
    ]
    silver = tables.read_table(spark, cfg, "silver.courses")
    assert silver.filter(F.col("description") == "rewritten").count() == 1
