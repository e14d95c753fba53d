"""Fixtures of the job tests: a tiny SQLite LMS and a profile of its own per test."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from lakehouse import tables
from lakehouse.config import with_run
from lakehouse.demo.lms import DemoSize, generate_world, write_lms_database


@pytest.fixture
def lms(tmp_path, profile):
    """A tiny SQLite LMS and a profile whose lakehouse lives in tmp_path: (cfg, db path)."""
    db = tmp_path / "lms.db"
    world = generate_world(3, DemoSize(30, 6, 400), dt.date(2026, 9, 1), dt.date(2026, 11, 1))
    write_lms_database(world, db)
    cfg = profile(
        "local",
        {
            "paths.root": str(tmp_path / "root"),
            "sources.lms.url": f"jdbc:sqlite:{db}",
        },
    )
    return with_run(cfg, date="2026-11-01", batch_id="b1"), db


LINEAGE = "_ingested_at timestamp, _source string, _batch_id string, _is_deleted boolean"
BRONZE_SCHEMAS = {
    "bronze.lms_learners": "id bigint, name string, department string, job_role string, "
    "country string, hired_at string, updated_at string",
    "bronze.lms_courses": "id bigint, code string, title string, provider string, "
    "category string, level string, duration_hours int, updated_at string",
    "bronze.lms_enrollments": "learner_id bigint, course_id bigint, enrolled_at string, "
    "completed_at string, score double, status string",
    "bronze.lms_activity_events": "id bigint, learner_id bigint, course_id bigint, "
    "event_type string, ts string, value double",
    "bronze.lms_ratings": "learner_id bigint, course_id bigint, stars int, ts string",
}


def _learner(i, name, updated="2026-10-01 00:00:00"):
    return (i, name, "Eng", "Engineer", "gb", "2020-01-01 00:00:00", updated)


def _course(i, code):
    return (i, code, f"Course {code}", "Acme", "Data", "Beginner", 5, "2026-09-01 00:00:00")


def _event(i, learner, course, event_type, ts, value=1.0):
    return (i, learner, course, event_type, ts, value)


# Three nights of LMS bronze loads: what each night appends to each bronze table, rows as in
# BRONZE_SCHEMAS, or ("deleted", key...) for a tombstone. Night 2 brings a learner that night 1's
# events were quarantined for, a late event on an old day, a repeated delivery of an event
# under a new id, an event for after the run date, a deleted event and a second rating; night
# 3 deletes a learner (their events leave silver), the future event comes due, another arrives.
NIGHTS = {
    "2026-10-10": {
        "bronze.lms_learners": [_learner(1, "Ada"), _learner(2, "Bo"), _learner(3, "Cy")],
        "bronze.lms_courses": [_course(10, "DATA-101"), _course(11, "SEC-201")],
        "bronze.lms_enrollments": [
            (1, 10, "2026-10-01 00:00:00", None, None, "enrolled"),
            (2, 11, "2026-10-02 00:00:00", "2026-10-09 00:00:00", 90.0, "completed"),
        ],
        "bronze.lms_activity_events": [
            _event(1, 1, 10, "view", "2026-10-05 08:00:00", 5.0),
            _event(2, 1, 10, "view", "2026-10-05 09:00:00", 3.0),
            _event(3, 2, 11, "progress", "2026-10-06 10:00:00", 0.5),
            _event(4, 3, 10, "view", "2026-10-07 10:00:00", 2.0),
            _event(5, 9, 10, "view", "2026-10-08 10:00:00", 1.0),  # learner 9: not yet known
        ],
        "bronze.lms_ratings": [(3, 11, 4, "2026-10-07 12:00:00")],
    },
    "2026-10-11": {
        "bronze.lms_learners": [_learner(9, "Ida", "2026-10-11 00:00:00")],
        "bronze.lms_activity_events": [
            _event(6, 1, 10, "view", "2026-10-05 10:00:00", 2.0),  # late, on an old day
            _event(7, 1, 10, "view", "2026-10-05 08:00:00", 5.0),  # event 1 delivered again
            _event(8, 2, 11, "quiz", "2026-10-11 09:00:00", 0.8),
            _event(9, 1, 11, "view", "2026-10-13 08:00:00", 4.0),  # after the run date
            ("deleted", 3),
        ],
        "bronze.lms_ratings": [(3, 11, 2, "2026-10-11 12:00:00")],  # rated again
    },
    "2026-10-13": {
        "bronze.lms_learners": [("deleted", 2)],
        "bronze.lms_activity_events": [
            _event(10, 1, 10, "complete", "2026-10-12 18:00:00", 1.0),
            _event(11, 3, 11, "view", "2026-10-12 07:00:00", 6.0),
        ],
    },
}


def load_night(spark, cfg, date):
    """Appends night `date`'s bronze loads of NIGHTS to the bronze tables of cfg."""
    ingested_at = dt.datetime.fromisoformat(date) + dt.timedelta(hours=1)
    for name, rows in NIGHTS[date].items():
        schema = BRONZE_SCHEMAS[name]
        fields = [f.split()[0] for f in schema.split(", ")]
        full = []
        for row in rows:
            if row[0] == "deleted":
                keys = dict(zip(cfg["tables"][name]["keys"], row[1:], strict=True))
                row = tuple(keys.get(f) for f in fields)
                full.append((*row, ingested_at, "test", f"load-{date}", True))
            else:
                full.append((*row, ingested_at, "test", f"load-{date}", None))
        tables.append_table(spark.createDataFrame(full, f"{schema}, {LINEAGE}"), cfg, name)


def _lenient(cfg):
    cfg = copy.deepcopy(cfg)
    for rules in cfg["quality"].values():
        for rule in rules:
            rule["error_threshold"] = 0.5
    return cfg


@pytest.fixture
def lenient():
    """A function giving a profile with every quality rule's error threshold at 50% (tables
    of a few rows)."""
    return _lenient


@pytest.fixture
def nights(tmp_path, profile, spark):
    """The NIGHTS scenario: (a lenient profile whose lakehouse lives in tmp_path, the nights'
    dates in order, a function appending one night's bronze loads)."""
    cfg = _lenient(profile("local", {"paths.root": str(tmp_path / "root")}))
    return cfg, list(NIGHTS), lambda date: load_night(spark, cfg, date)


@pytest.fixture
def append_events(spark):
    """A function appending LMS activity events (id, learner, course, type, ts, value) to the
    bronze events of a profile, as a load of night `date`."""

    def append(cfg, date, events):
        ingested_at = dt.datetime.fromisoformat(date) + dt.timedelta(hours=1)
        rows = [(*event, ingested_at, "test", f"load-{date}", None) for event in events]
        name = "bronze.lms_activity_events"
        schema = f"{BRONZE_SCHEMAS[name]}, {LINEAGE}"
        tables.append_table(spark.createDataFrame(rows, schema), cfg, name)

    return append
