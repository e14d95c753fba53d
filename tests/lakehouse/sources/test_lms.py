"""The LMS JDBC connector against real databases: the demo's SQLite file and a PostgreSQL server."""

from __future__ import annotations

import collections
import copy
import datetime
import re
import socket
import traceback

import pytest
from chispa import assert_df_equality

from lakehouse import tables
from lakehouse.bronze import schema_drift
from lakehouse.config import with_run
from lakehouse.demo.lms import DemoSize, generate_world, write_lms_database
from lakehouse.demo.lms_postgres import write_lms_postgres
from lakehouse.sources.lms import (
    LMS_SCHEMAS,
    SourceError,
    lms_source_schema,
    read_lms_keys,
    read_lms_table,
)

START = datetime.date(2026, 1, 5)
END = datetime.date(2026, 3, 2)
SIZE = DemoSize(learners=50, courses=10, events=1_000)
TABLES = tuple(LMS_SCHEMAS)
TS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
# Variables only these tests set: the settings name them, the connector reads them.
USER_ENV = "LAKEHOUSE_TEST_LMS_USER"
PASSWORD_ENV = "LAKEHOUSE_TEST_LMS_PASSWORD"
WRONG_PASSWORD = "Wr0ng-zebra-Pa55word-7731"


@pytest.fixture(scope="module")
def world():
    return generate_world(7, SIZE, START, END)


def _source(base_cfg, url: str, driver: str) -> dict:
    source = copy.deepcopy(base_cfg["sources"]["lms"])
    source.update(url=url, driver=driver, user_env=USER_ENV, password_env=PASSWORD_ENV)
    return source


@pytest.fixture(scope="module")
def sqlite_db(world, tmp_path_factory):
    path = tmp_path_factory.mktemp("lms-sqlite") / "lms.db"
    return path, write_lms_database(world, path)


@pytest.fixture(scope="module")
def pg_counts(world, postgres):
    return write_lms_postgres(world, postgres)


@pytest.fixture
def sqlite_source(base_cfg, sqlite_db):
    return _source(base_cfg, f"jdbc:sqlite:{sqlite_db[0]}", "org.sqlite.JDBC")


@pytest.fixture
def pg_source(base_cfg, postgres, pg_counts, monkeypatch):
    monkeypatch.setenv(USER_ENV, postgres["user"])
    monkeypatch.setenv(PASSWORD_ENV, postgres["password"])
    return _source(base_cfg, postgres["jdbc_url"], "org.postgresql.Driver")


@pytest.fixture(params=["sqlite", "pg"])
def any_source(request):
    return request.getfixturevalue(f"{request.param}_source")


def _world_rows(world, table: str) -> list[tuple]:
    rows = getattr(world, table)
    if table in ("learners", "courses"):
        names = [c.split()[0] for c in LMS_SCHEMAS[table].split(", ")]
        return [tuple(r[n] for n in names) for r in rows]
    return [tuple(r) for r in rows]


def _with_table(source: dict, table: str, **settings) -> dict:
    out = copy.deepcopy(source)
    out["tables"][table] = {**out["tables"].get(table, {}), **settings}
    return out


def test_postgres_load_counts_match_the_world_and_sqlite(world, sqlite_db, pg_counts):
    assert pg_counts == sqlite_db[1]
    assert pg_counts == {t: len(getattr(world, t)) for t in TABLES}
    assert all(pg_counts.values())


@pytest.mark.parametrize("table", TABLES)
def test_every_table_reads_identically_from_sqlite_and_postgres(
    spark, world, sqlite_source, pg_source, table
):
    from_sqlite = read_lms_table(spark, sqlite_source, table)
    from_postgres = read_lms_table(spark, pg_source, table).cache()
    expected_schema = spark.createDataFrame([], LMS_SCHEMAS[table]).schema

    assert from_postgres.schema == expected_schema  # timestamps as text, as in bronze
    assert_df_equality(from_sqlite, from_postgres, ignore_row_order=True)
    # ...and identical to what was generated, not merely to each other.
    read = collections.Counter(tuple(r) for r in from_postgres.collect())
    assert read == collections.Counter(_world_rows(world, table))
    from_postgres.unpersist()


def test_timestamps_round_trip_as_the_same_text_from_both_databases(
    spark, world, sqlite_source, pg_source
):
    done = next(e for e in world.enrollments if e.completed_at is not None)
    key = (done.learner_id, done.course_id)
    for source in (sqlite_source, pg_source):
        row = (
            read_lms_table(spark, source, "enrollments")
            .where(f"learner_id = {key[0]} AND course_id = {key[1]}")
            .collect()
        )
        assert [(r.enrolled_at, r.completed_at) for r in row] == [
            (done.enrolled_at, done.completed_at)
        ]
        stamps = read_lms_table(spark, source, "learners").select("hired_at", "updated_at")
        assert all(TS.fullmatch(v) for r in stamps.collect() for v in r)


def test_postgres_timestamptz_from_a_query_is_utc_text(spark, sqlite_source, pg_source):
    # A query instead of the table; its ts is a timestamptz, which must render in UTC.
    source = _with_table(
        pg_source,
        "ratings",
        query="SELECT learner_id, course_id, stars, ts AT TIME ZONE 'UTC' AS ts FROM ratings",
    )
    assert_df_equality(
        read_lms_table(spark, source, "ratings"),
        read_lms_table(spark, sqlite_source, "ratings"),
        ignore_row_order=True,
    )


def test_partitioned_read_has_the_partitions_and_the_same_rows(spark, any_source):
    whole = read_lms_table(spark, any_source, "activity_events")
    split = read_lms_table(
        spark,
        _with_table(any_source, "activity_events", partition_column="id", num_partitions=4),
        "activity_events",
    )
    assert whole.rdd.getNumPartitions() == 1
    assert split.rdd.getNumPartitions() == 4
    assert_df_equality(split, whole, ignore_row_order=True)
    assert split.count() == whole.count() > 0


def test_partitioned_read_of_a_query(spark, any_source):
    source = _with_table(
        any_source,
        "activity_events",
        query="SELECT * FROM activity_events WHERE event_type = 'quiz'",
        partition_column="learner_id",
        num_partitions=3,
    )
    split = read_lms_table(spark, source, "activity_events")
    expected = read_lms_table(spark, any_source, "activity_events").where("event_type = 'quiz'")
    assert split.rdd.getNumPartitions() == 3
    assert_df_equality(split, expected, ignore_row_order=True)

    empty = _with_table(source, "activity_events", query="SELECT * FROM activity_events WHERE 0=1")
    assert read_lms_table(spark, empty, "activity_events").count() == 0


def test_wrong_password_fails_without_showing_it(spark, pg_source, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, WRONG_PASSWORD)
    with pytest.raises(SourceError) as caught:
        read_lms_table(spark, pg_source, "learners")
    message = str(caught.value)
    assert "password authentication failed" in message
    assert WRONG_PASSWORD not in message
    assert WRONG_PASSWORD not in "".join(traceback.format_exception(caught.value))


def test_unreachable_port_fails_without_showing_the_password(spark, pg_source, postgres):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        source = {**pg_source, "url": f"jdbc:postgresql://127.0.0.1:{port}/lms"}
        with pytest.raises(SourceError) as caught:
            read_lms_table(spark, source, "learners")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "refused" in message
    assert postgres["password"] not in message
    assert postgres["password"] not in "".join(traceback.format_exception(caught.value))


def test_missing_expected_column_is_named(spark, any_source):
    source = _with_table(
        any_source, "ratings", query="SELECT learner_id, course_id, ts FROM ratings"
    )
    with pytest.raises(SourceError, match=r"'ratings' lacks expected columns: stars$"):
        read_lms_table(spark, source, "ratings")


def test_settings_holding_a_password_are_refused(spark, sqlite_source):
    for source in (
        {**sqlite_source, "password": "in-the-yaml"},
        {**sqlite_source, "url": sqlite_source["url"] + "?password=in-the-url"},
    ):
        with pytest.raises(SourceError, match="password_env") as caught:
            read_lms_table(spark, source, "learners")
        assert "in-the-" not in str(caught.value)


def test_partition_column_must_be_an_integer_column(spark, sqlite_source):
    source = _with_table(sqlite_source, "ratings", partition_column="ts")
    with pytest.raises(SourceError, match="partition_column 'ts'.*learner_id, course_id, stars"):
        read_lms_table(spark, source, "ratings")


@pytest.mark.parametrize("table", TABLES)
def test_the_demo_tables_show_no_schema_drift_on_either_database(
    spark, sqlite_source, pg_source, table
):
    # As bronze has them (the expected schema): SQLite's widths and PostgreSQL's timestamps
    # must not read as type changes.
    bronze = spark.createDataFrame([], LMS_SCHEMAS[table]).schema
    for source in (sqlite_source, pg_source):
        assert schema_drift(bronze, lms_source_schema(spark, source, table)) == ([], [], [])


def test_key_read_is_the_key_columns_of_every_row(spark, any_source):
    keys = ["learner_id", "course_id"]
    assert_df_equality(
        read_lms_keys(spark, any_source, "ratings", keys),
        read_lms_table(spark, any_source, "ratings").select(*keys),
        ignore_row_order=True,
    )
    with pytest.raises(SourceError, match="key columns nope are not columns"):
        read_lms_keys(spark, any_source, "ratings", ["nope"])


@pytest.fixture
def pg_copy(postgres, pg_counts):
    """A schema of its own holding a copy of the demo's learners and enrollments, which a test
    may change: its JDBC url."""
    import psycopg

    schema = "lms_copy"
    with psycopg.connect(**con_args(postgres)) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        for table in ("learners", "enrollments"):
            con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM public.{table}")
    return f"{postgres['jdbc_url']}?currentSchema={schema}", con_args(postgres), schema


def con_args(postgres):
    return {
        "host": postgres["host"],
        "port": postgres["port"],
        "dbname": postgres["database"],
        "user": postgres["user"],
        "password": postgres["password"],
        "autocommit": True,
    }


def test_rows_deleted_in_postgres_are_tombstoned_in_bronze(
    spark, profile, pg_source, pg_copy, tmp_path
):
    import psycopg

    from jobs import ingest

    url, dsn, schema = pg_copy
    cfg = profile(
        "local",
        {
            "paths.root": str(tmp_path / "root"),
        },
    )
    cfg["sources"]["catalog"] = None
    lms = cfg["sources"]["lms"]
    lms.update({k: v for k, v in pg_source.items() if k != "tables"}, url=url)
    lms["tables"] = {t: lms["tables"][t] for t in ("learners", "enrollments")}
    cfg = with_run(cfg, date="2026-03-02", batch_id="pg1")
    ingest.run(spark, cfg)
    with psycopg.connect(**dsn) as con:
        gone = con.execute(
            f"DELETE FROM {schema}.enrollments WHERE learner_id = 3 RETURNING learner_id, course_id"
        ).fetchall()
        con.execute(f"DELETE FROM {schema}.learners WHERE id = 3")

    result = ingest.run(spark, with_run(cfg, batch_id="pg2"))

    assert result["deleted"] == {"bronze.lms_learners": 1, "bronze.lms_enrollments": len(gone)}
    deleted = lambda name, *keys: (  # noqa: E731
        tables.read_table(spark, cfg, name).filter("_is_deleted").select(*keys, "_batch_id")
    )
    assert_df_equality(
        deleted("bronze.lms_learners", "id"),
        spark.createDataFrame([(3, "pg2")], "id bigint, _batch_id string"),
        ignore_nullable=True,
    )
    assert_df_equality(
        deleted("bronze.lms_enrollments", "learner_id", "course_id"),
        spark.createDataFrame(
            [(*key, "pg2") for key in gone], "learner_id bigint, course_id bigint, _batch_id string"
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
