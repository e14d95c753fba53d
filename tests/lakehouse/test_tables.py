"""lakehouse.tables: maintenance (OPTIMIZE, VACUUM), history, restore, and snapshot isolation
of readers, on real Delta tables."""

from __future__ import annotations

import copy
import datetime as dt
import os
import threading

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs import maintain
from lakehouse import tables

SCHEMA = "learner_id bigint, course_id bigint, score double"


@pytest.fixture
def cfg(base_cfg, tmp_path):
    """The test profile with its lakehouse in a fresh folder and two tables of its own."""
    out = copy.deepcopy(base_cfg)
    out["paths"]["lakehouse"] = str(tmp_path / "lakehouse")
    out["tables"]["gold.t_facts"] = {
        "path": "gold/t_facts",
        "keys": ["learner_id", "course_id"],
        "zorder_by": ["learner_id", "course_id"],
    }
    out["tables"]["silver.t_plain"] = {"path": "silver/t_plain", "keys": ["learner_id"]}
    out["tables"]["silver.t_daily"] = {
        "path": "silver/t_daily",
        "keys": ["learner_id", "day"],
        "key_date": "day",
    }
    out["maintenance"] = {"layers": ["silver", "gold"], "vacuum_retention_hours": 168}
    return out


def rows(spark, start, n):
    return spark.createDataFrame(
        [(i, i % 7, float(i)) for i in range(start, start + n)], SCHEMA
    ).coalesce(1)


def data_files(cfg, name):
    path = tables.table_path(cfg, name)
    return sorted(f for root, _, files in os.walk(path) for f in files if f.endswith(".parquet"))


def test_maintain_compacts_small_appends_into_one_file_per_table_keeping_the_rows(spark, cfg):
    for start in range(0, 50, 10):
        tables.append_table(rows(spark, start, 10), cfg, "gold.t_facts")
        tables.append_table(rows(spark, start, 10), cfg, "silver.t_plain")
    before = tables.read_table(spark, cfg, "gold.t_facts")
    expected = spark.createDataFrame(before.collect(), before.schema)

    result = maintain.run(spark, cfg)

    assert result == {"tables": 2, "files_removed": 10, "files_added": 2}
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{tables.table_path(cfg, 'gold.t_facts')}`")
    assert detail.select("numFiles").first()[0] == 1
    operations = [
        r["operation"] for r in tables.table_history(spark, cfg, "gold.t_facts").collect()
    ]
    # The table property set before VACUUM is a commit of its own.
    assert operations[:4] == ["VACUUM END", "VACUUM START", "SET TBLPROPERTIES", "OPTIMIZE"]
    # ZORDER BY is what the facts declare; the plain table is only compacted.
    optimize = tables.table_history(spark, cfg, "gold.t_facts").filter("operation = 'OPTIMIZE'")
    assert optimize.first()["operationParameters"]["zOrderBy"] == '["learner_id","course_id"]'
    assert_df_equality(
        tables.read_table(spark, cfg, "gold.t_facts"), expected, ignore_row_order=True
    )
    # The retention keeps every file a week of versions needs: the five appends stay readable.
    assert len(data_files(cfg, "gold.t_facts")) == 6
    assert tables.read_table(spark, cfg, "gold.t_facts", version=0).count() == 10


def test_vacuum_refuses_a_retention_below_a_week(spark, cfg):
    tables.append_table(rows(spark, 0, 5), cfg, "gold.t_facts")

    with pytest.raises(ValueError, match="below the safe minimum of 168 h"):
        tables.vacuum_table(spark, cfg, "gold.t_facts", retention_hours=1)
    assert tables.table_version(spark, cfg, "gold.t_facts") == 0


def test_restore_rolls_a_table_back_as_a_new_commit_keeping_history(spark, cfg):
    good = rows(spark, 0, 5)
    tables.overwrite_table(good, cfg, "gold.t_facts")
    tables.overwrite_table(rows(spark, 100, 3), cfg, "gold.t_facts")  # the bad run
    expected = spark.createDataFrame(good.collect(), SCHEMA)

    new_version = tables.restore_table(spark, cfg, "gold.t_facts", 0)

    assert new_version == 2
    assert_df_equality(
        tables.read_table(spark, cfg, "gold.t_facts"), expected, ignore_row_order=True
    )
    assert tables.read_table(spark, cfg, "gold.t_facts", version=1).count() == 3
    assert tables.table_history(spark, cfg, "gold.t_facts").first()["operation"] == "RESTORE"


def test_restore_rejects_unknown_and_current_versions_and_missing_tables(spark, cfg):
    tables.overwrite_table(rows(spark, 0, 5), cfg, "gold.t_facts")
    tables.overwrite_table(rows(spark, 0, 6), cfg, "gold.t_facts")

    with pytest.raises(ValueError, match="has no version 7 \\(versions 0 to 1\\)"):
        tables.restore_table(spark, cfg, "gold.t_facts", 7)
    with pytest.raises(ValueError, match="already at version 1"):
        tables.restore_table(spark, cfg, "gold.t_facts", 1)
    with pytest.raises(ValueError, match="silver.t_plain does not exist yet"):
        tables.restore_table(spark, cfg, "silver.t_plain", 0)


def test_a_reader_during_nightly_overwrites_sees_one_whole_version_each_time(spark, cfg):
    # Each "night" replaces the table with 200 rows all carrying that night's score; a reader
    # seeing a mix of nights, or a partial night, would be reading an inconsistent snapshot.
    def night(n):
        return spark.range(200).selectExpr(
            "id AS learner_id", "id % 7 AS course_id", f"CAST({n} AS double) AS score"
        )

    tables.overwrite_table(night(0), cfg, "gold.t_facts")
    seen, errors, done = [], [], threading.Event()

    def reader():
        try:
            while not done.is_set():
                got = (
                    tables.read_table(spark, cfg, "gold.t_facts")
                    .agg(F.count(F.lit(1)).alias("n"), F.countDistinct("score").alias("nights"))
                    .first()
                )
                seen.append((got["n"], got["nights"]))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(1, 6):
        tables.overwrite_table(night(n), cfg, "gold.t_facts")
    done.set()
    thread.join(timeout=120)

    assert not errors
    assert seen, "the reader never completed a read"
    assert all(n == 200 for n, _ in seen)
    assert all(spread == 1 for _, spread in seen)


def test_a_second_maintenance_run_sets_the_retention_only_once(spark, cfg):
    tables.append_table(rows(spark, 0, 5), cfg, "gold.t_facts")
    maintain.run(spark, cfg)
    maintain.run(spark, cfg)

    operations = [
        r["operation"] for r in tables.table_history(spark, cfg, "gold.t_facts").collect()
    ]
    assert operations.count("SET TBLPROPERTIES") == 1


def merged_files(cfg, name):
    """The data files of a table, with their deletion vectors (a MERGE that changed nothing
    adds and removes neither)."""
    path = tables.table_path(cfg, name)
    return sorted(f for root, _, files in os.walk(path) for f in files if "_delta_log" not in root)


def test_merge_upserts_by_hash_and_merging_the_same_rows_again_changes_nothing(spark, cfg):
    first = spark.createDataFrame([(1, 1, 1.0), (2, 2, 2.0), (3, 3, 3.0)], SCHEMA)
    assert tables.merge_table(first, cfg, "gold.t_facts") == {
        "inserted": 3,
        "updated": 0,
        "deleted": 0,
    }
    second = spark.createDataFrame([(1, 1, 1.0), (2, 2, 20.0), (4, 4, 4.0)], SCHEMA)

    merged = tables.merge_table(second, cfg, "gold.t_facts", delete_unmatched=True)
    version, files = (
        tables.table_version(spark, cfg, "gold.t_facts"),
        merged_files(cfg, "gold.t_facts"),
    )
    again = tables.merge_table(second, cfg, "gold.t_facts", delete_unmatched=True)

    assert merged == {"inserted": 1, "updated": 1, "deleted": 1}
    assert again == {"inserted": 0, "updated": 0, "deleted": 0}
    assert tables.table_version(spark, cfg, "gold.t_facts") == version
    assert merged_files(cfg, "gold.t_facts") == files
    assert_df_equality(
        tables.read_table(spark, cfg, "gold.t_facts").drop("_row_hash"),
        second,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_merge_within_a_scope_deletes_only_the_scope_rows_it_was_not_given(spark, cfg):
    tables.merge_table(
        spark.createDataFrame([(1, 1, 1.0), (1, 2, 2.0), (2, 1, 3.0)], SCHEMA), cfg, "gold.t_facts"
    )
    scope = spark.createDataFrame([(1,)], "learner_id bigint")

    merged = tables.merge_table(
        spark.createDataFrame([(1, 2, 5.0)], SCHEMA), cfg, "gold.t_facts", within=scope
    )

    assert merged == {"inserted": 0, "updated": 1, "deleted": 1}
    assert_df_equality(
        tables.read_table(spark, cfg, "gold.t_facts").drop("_row_hash"),
        spark.createDataFrame([(1, 2, 5.0), (2, 1, 3.0)], SCHEMA),
        ignore_row_order=True,
        ignore_nullable=True,
    )


DAILY = "learner_id bigint, day date, clicks bigint"


def daily(spark, *rows):
    return spark.createDataFrame(
        [(learner, dt.date(2026, 11, day), clicks) for learner, day, clicks in rows], DAILY
    )


def last_operation(spark, cfg, name):
    return tables.table_history(spark, cfg, name).orderBy(F.desc("version")).first()["operation"]


def test_merge_appends_a_batch_dated_after_the_last_day_without_a_merge(spark, cfg):
    tables.merge_table(daily(spark, (1, 1, 5), (2, 2, 6)), cfg, "silver.t_daily")
    scope = daily(spark, (1, 3, 0), (3, 3, 0)).select("learner_id", "day")

    merged = tables.merge_table(
        daily(spark, (1, 3, 7), (3, 3, 8)), cfg, "silver.t_daily", within=scope
    )
    again = tables.merge_table(
        daily(spark, (1, 3, 7), (3, 3, 8)), cfg, "silver.t_daily", within=scope
    )

    assert merged == {"inserted": 2, "updated": 0, "deleted": 0}
    assert last_operation(spark, cfg, "silver.t_daily") == "WRITE"
    assert again == {"inserted": 0, "updated": 0, "deleted": 0}
    assert_df_equality(
        tables.read_table(spark, cfg, "silver.t_daily").drop("_row_hash"),
        daily(spark, (1, 1, 5), (2, 2, 6), (1, 3, 7), (3, 3, 8)),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_merge_with_a_key_date_still_merges_changes_to_earlier_days_in_one_commit(spark, cfg):
    tables.merge_table(daily(spark, (1, 1, 5), (2, 1, 6), (2, 2, 9)), cfg, "silver.t_daily")
    version = tables.table_version(spark, cfg, "silver.t_daily")
    # Day 1 of learner 1 changes, day 2 of learner 2 is gone (in scope, not given), day 3 is new.
    scope = daily(spark, (1, 1, 0), (2, 2, 0), (1, 3, 0)).select("learner_id", "day")

    merged = tables.merge_table(
        daily(spark, (1, 1, 50), (1, 3, 7)), cfg, "silver.t_daily", within=scope
    )

    assert merged == {"inserted": 1, "updated": 1, "deleted": 1}
    assert tables.table_version(spark, cfg, "silver.t_daily") == version + 1
    assert last_operation(spark, cfg, "silver.t_daily") == "MERGE"
    assert_df_equality(
        tables.read_table(spark, cfg, "silver.t_daily").drop("_row_hash"),
        daily(spark, (1, 1, 50), (2, 1, 6), (1, 3, 7)),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_overwrite_tables_writes_several_at_once_each_in_one_commit(spark, cfg):
    cfg = {**cfg, "run": {**cfg["run"], "parallel_writes": 3}}
    names = ["gold.t_facts", "silver.t_plain", "silver.t_daily"]
    outputs = {
        "gold.t_facts": rows(spark, 0, 5),
        "silver.t_plain": rows(spark, 10, 3),
        "silver.t_daily": daily(spark, (1, 1, 5)),
    }

    counts = tables.overwrite_tables(spark, cfg, outputs)

    assert counts == {"gold.t_facts": 5, "silver.t_plain": 3, "silver.t_daily": 1}
    assert list(counts) == names
    for name, df in outputs.items():
        assert tables.table_version(spark, cfg, name) == 0, name
        assert_df_equality(
            tables.read_table(spark, cfg, name), df, ignore_row_order=True, ignore_nullable=True
        )


def test_declared_properties_are_set_on_creation_and_on_an_existing_table(spark, cfg):
    cfg["tables"]["silver.t_plain"]["properties"] = {"delta.enableChangeDataFeed": True}
    tables.append_table(rows(spark, 0, 3), cfg, "gold.t_facts")
    cfg["tables"]["gold.t_facts"]["properties"] = {"delta.enableChangeDataFeed": True}
    tables.append_table(rows(spark, 0, 3), cfg, "silver.t_plain")

    assert tables.ensure_table_properties(spark, cfg, "silver.t_plain") is False
    assert tables.ensure_table_properties(spark, cfg, "gold.t_facts") is True
    tables.append_table(rows(spark, 10, 2), cfg, "gold.t_facts")

    after = tables.table_version(spark, cfg, "gold.t_facts") - 1
    changes = tables.read_changes(
        spark, cfg, "gold.t_facts", after, tables.table_version(spark, cfg, "gold.t_facts")
    )
    assert sorted(r["learner_id"] for r in changes.collect()) == [10, 11]
    assert tables.read_changes(spark, cfg, "gold.t_facts", 5, 5).count() == 0


def test_changes_if_recorded_is_none_for_versions_without_a_change_data_feed(spark, cfg, caplog):
    tables.append_table(rows(spark, 0, 3), cfg, "gold.t_facts")
    tables.append_table(rows(spark, 3, 2), cfg, "gold.t_facts")  # no change data feed
    version = tables.table_version(spark, cfg, "gold.t_facts")

    missing = tables.changes_if_recorded(spark, cfg, "gold.t_facts", version - 1, version)

    assert missing is None
    assert "gold.t_facts: no change data since version" in caplog.text
    assert tables.changes_if_recorded(spark, cfg, "gold.t_facts", version, version).count() == 0


def test_last_data_version_skips_maintenance_commits_up_to_the_version_asked(spark, cfg):
    tables.append_table(rows(spark, 0, 3), cfg, "gold.t_facts")  # 0
    tables.append_table(rows(spark, 3, 3), cfg, "gold.t_facts")  # 1
    maintain.run(spark, cfg)  # 2 OPTIMIZE, 3 SET TBLPROPERTIES, then VACUUM's commits
    operations = {
        r["version"]: r["operation"]
        for r in tables.table_history(spark, cfg, "gold.t_facts").collect()
    }
    assert operations[2] == "OPTIMIZE" and operations[3] == "SET TBLPROPERTIES"
    latest = max(operations)

    found = {
        until: tables.last_data_version(spark, cfg, "gold.t_facts", until)
        for until in (None, 0, 1, 3, latest)
    }

    assert found == {None: 1, 0: 0, 1: 1, 3: 1, latest: 1}


def test_commit_info_is_what_the_commit_file_says_and_none_for_a_missing_commit(spark, cfg):
    tables.overwrite_table(rows(spark, 0, 4), cfg, "gold.t_facts")  # 0
    tables.append_table(rows(spark, 4, 3), cfg, "gold.t_facts")  # 1

    first = tables.commit_info(spark, cfg, "gold.t_facts", 0)
    second = tables.commit_info(spark, cfg, "gold.t_facts", 1)

    assert (first["operation"], first["operationParameters"]["mode"]) == ("WRITE", "Overwrite")
    assert (second["operation"], second["operationParameters"]["mode"]) == ("WRITE", "Append")
    assert second["operationMetrics"]["numOutputRows"] == "3"
    assert second["userMetadata"] == f"batch_id={cfg['run']['batch_id']}"
    assert tables.commit_info(spark, cfg, "gold.t_facts", 2) is None


def test_table_rows_is_the_count_whatever_the_last_commit(spark, cfg):
    day = dt.date(2026, 11, 1)
    cfg["tables"]["gold.t_runs"] = {"path": "gold/t_runs", "keys": ["run_date", "learner_id"]}
    tables.overwrite_table(runs(spark, (day, 1, 1.0), (day, 2, 2.0)), cfg, "gold.t_runs")
    after_overwrite = tables.table_rows(spark, cfg, "gold.t_runs")
    # Neither an append nor a replaced partition leaves only the rows it wrote.
    tables.append_table(runs(spark, (day, 3, 3.0)), cfg, "gold.t_runs")
    after_append = tables.table_rows(spark, cfg, "gold.t_runs")
    later = dt.date(2026, 11, 2)
    tables.replace_partition(runs(spark, (later, 1, 4.0)), cfg, "gold.t_runs", "run_date", later)
    after_replace = tables.table_rows(spark, cfg, "gold.t_runs")

    assert (after_overwrite, after_append, after_replace) == (2, 3, 4)


def runs(spark, *rows):
    return spark.createDataFrame(rows, "run_date date, learner_id bigint, score double")


def test_replace_partition_replaces_one_run_date_and_refuses_rows_of_another(spark, cfg):
    cfg["tables"]["gold.t_runs"] = {
        "path": "gold/t_runs",
        "keys": ["run_date", "learner_id"],
        "partition_by": ["run_date"],
    }
    day1, day2, day3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)
    written = [
        tables.replace_partition(
            runs(spark, (day1, 1, 1.0), (day1, 2, 2.0)), cfg, "gold.t_runs", "run_date", day1
        ),
        tables.replace_partition(runs(spark, (day2, 1, 3.0)), cfg, "gold.t_runs", "run_date", day2),
        tables.replace_partition(runs(spark, (day2, 2, 4.0)), cfg, "gold.t_runs", "run_date", day2),
    ]
    version = tables.table_version(spark, cfg, "gold.t_runs")
    # A row of another run date, or of none, would land outside the partition replaced.
    for stray in ((day3, 3, 5.0), (None, 3, 5.0)):
        with pytest.raises(ValueError, match="gold.t_runs must all have run_date = '2026-11-02'"):
            tables.replace_partition(
                runs(spark, (day2, 1, 6.0), stray), cfg, "gold.t_runs", "run_date", day2
            )

    assert tables.table_version(spark, cfg, "gold.t_runs") == version == 2
    # Each replacement says how many rows its run date holds now.
    assert written == [2, 1, 1]
    assert_df_equality(
        tables.read_table(spark, cfg, "gold.t_runs"),
        runs(spark, (day1, 1, 1.0), (day1, 2, 2.0), (day2, 2, 4.0)),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_offsets_advance_by_appending_and_a_rerun_starts_where_its_date_first_started(spark, cfg):
    night = lambda day, batch: {**cfg, "run": {"date": dt.date(2026, 10, day), "batch_id": batch}}  # noqa: E731
    first, second = dt.date(2026, 10, 1), dt.date(2026, 10, 2)

    tables.advance_offsets(spark, night(1, "b1"), "gold", {"silver.a": 3, "silver.b": 1})
    tables.advance_offsets(spark, night(1, "b1-rerun"), "gold", {"silver.a": 4})
    tables.advance_offsets(spark, night(2, "b2"), "gold", {"silver.a": 7})
    tables.advance_offsets(spark, night(2, "b2-rerun"), "gold", {"silver.a": 9})
    tables.advance_offsets(spark, night(2, "b2"), "refine", {"bronze.c": 5})
    # A rerun recording the same offsets adds no record.
    tables.advance_offsets(spark, night(2, "b2-again"), "refine", {"bronze.c": 5})

    # Night 3 starts where night 2's last run ended; a rerun of night 2 where night 2 first
    # started (night 1's last run), whatever the reruns in between recorded.
    assert tables.read_offsets(spark, cfg, "gold", dt.date(2026, 10, 3)) == {
        "silver.a": {"version": 9, "run_date": second},
        "silver.b": {"version": 1, "run_date": first},
    }
    assert tables.read_offsets(spark, cfg, "gold", second) == {
        "silver.a": {"version": 4, "run_date": first},
        "silver.b": {"version": 1, "run_date": first},
    }
    # A table whose latest record is night 1's first run had no start before it.
    assert tables.read_offsets(spark, cfg, "gold", first) == {
        "silver.a": {"version": 9, "run_date": second},
    }
    assert tables.read_offsets(spark, cfg, "refine", second) == {}
    # Every run is a record of its own, in one commit each.
    log = tables.read_table(spark, cfg, tables.OFFSETS)
    assert log.count() == 6
    assert tables.table_version(spark, cfg, tables.OFFSETS) == 4


def test_the_largest_key_date_comes_from_file_statistics_and_never_understates(spark, cfg):
    tables.append_table(daily(spark, (1, 1, 5), (2, 2, 6)), cfg, "silver.t_daily")
    tables.append_table(daily(spark, (3, 4, 7)), cfg, "silver.t_daily")
    largest = tables._max_at_least(spark, cfg, "silver.t_daily", "day")
    # Rows deleted since may still count in their file's statistics: never less than the rows'.
    DeltaTable.forPath(spark, tables.table_path(cfg, "silver.t_daily")).delete("learner_id = 3")
    after_delete = tables._max_at_least(spark, cfg, "silver.t_daily", "day")
    rows_max = tables.read_table(spark, cfg, "silver.t_daily").agg(F.max("day")).first()[0]

    assert largest == dt.date(2026, 11, 4)
    assert after_delete >= rows_max == dt.date(2026, 11, 2)
