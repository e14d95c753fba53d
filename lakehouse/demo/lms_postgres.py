"""The demo LMS written to PostgreSQL: the same five tables as the SQLite file, bulk-loaded.

Columns, order and constraints match `lakehouse.demo.lms` (the SQLite DDL); the types are
PostgreSQL's own: BIGINT ids, TEXT, DOUBLE PRECISION, INTEGER and TIMESTAMP (without time
zone, holding the world's UTC wall-clock times). Rows go in with COPY, and the keys, checks and
references are added after the load, which is much faster than checking them row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lakehouse.demo.lms import World

# Load order: referenced tables first.
TABLES = ("learners", "courses", "enrollments", "activity_events", "ratings")

_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "learners": (
        ("id", "BIGINT NOT NULL"),
        ("name", "TEXT NOT NULL"),
        ("department", "TEXT NOT NULL"),
        ("job_role", "TEXT NOT NULL"),
        ("country", "TEXT NOT NULL"),
        ("hired_at", "TIMESTAMP NOT NULL"),
        ("updated_at", "TIMESTAMP NOT NULL"),
    ),
    "courses": (
        ("id", "BIGINT NOT NULL"),
        ("code", "TEXT NOT NULL"),
        ("title", "TEXT NOT NULL"),
        ("provider", "TEXT NOT NULL"),
        ("category", "TEXT NOT NULL"),
        ("level", "TEXT NOT NULL"),
        ("duration_hours", "INTEGER NOT NULL"),
        ("updated_at", "TIMESTAMP NOT NULL"),
    ),
    "enrollments": (
        ("learner_id", "BIGINT NOT NULL"),
        ("course_id", "BIGINT NOT NULL"),
        ("enrolled_at", "TIMESTAMP NOT NULL"),
        ("completed_at", "TIMESTAMP"),
        ("score", "DOUBLE PRECISION"),
        ("status", "TEXT NOT NULL"),
    ),
    "activity_events": (
        ("id", "BIGINT NOT NULL"),
        ("learner_id", "BIGINT NOT NULL"),
        ("course_id", "BIGINT NOT NULL"),
        ("event_type", "TEXT NOT NULL"),
        ("ts", "TIMESTAMP NOT NULL"),
        ("value", "DOUBLE PRECISION NOT NULL"),
    ),
    "ratings": (
        ("learner_id", "BIGINT NOT NULL"),
        ("course_id", "BIGINT NOT NULL"),
        ("stars", "INTEGER NOT NULL"),
        ("ts", "TIMESTAMP NOT NULL"),
    ),
}

_CONSTRAINTS = """
ALTER TABLE learners ADD PRIMARY KEY (id);
ALTER TABLE courses ADD PRIMARY KEY (id), ADD UNIQUE (code),
    ADD CHECK (level IN ('Beginner', 'Intermediate', 'Advanced'));
ALTER TABLE enrollments ADD PRIMARY KEY (learner_id, course_id),
    ADD FOREIGN KEY (learner_id) REFERENCES learners (id),
    ADD FOREIGN KEY (course_id) REFERENCES courses (id),
    ADD CHECK (status IN ('enrolled', 'in_progress', 'completed', 'dropped'));
ALTER TABLE activity_events ADD PRIMARY KEY (id),
    ADD FOREIGN KEY (learner_id) REFERENCES learners (id),
    ADD FOREIGN KEY (course_id) REFERENCES courses (id),
    ADD CHECK (event_type IN ('view', 'progress', 'quiz', 'complete'));
ALTER TABLE ratings ADD PRIMARY KEY (learner_id, course_id),
    ADD FOREIGN KEY (learner_id) REFERENCES learners (id),
    ADD FOREIGN KEY (course_id) REFERENCES courses (id),
    ADD CHECK (stars BETWEEN 1 AND 5);
"""


def write_lms_postgres(world: World, dsn: dict[str, Any]) -> dict[str, int]:
    """Return the row count per table after (re)creating the five LMS tables in the database.

    dsn holds host, port, database, user and password. Existing tables of the same names are
    replaced; the whole load is one transaction, so readers see either the old or the new world.
    """
    import psycopg  # a dev/demo dependency only: the lakehouse itself reads over JDBC

    rows: dict[str, Iterable[Sequence[Any]]] = {
        "learners": (_pick(r, "learners") for r in world.learners),
        "courses": (_pick(r, "courses") for r in world.courses),
        "enrollments": world.enrollments,
        "activity_events": world.activity_events,
        "ratings": world.ratings,
    }
    with psycopg.connect(
        host=dsn["host"],
        port=int(dsn["port"]),
        dbname=dsn["database"],
        user=dsn["user"],
        password=dsn.get("password"),
        # Timestamps are written as text: no zone conversion anywhere on the way.
        options="-c TimeZone=UTC",
    ) as con:
        with con.transaction(), con.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(reversed(TABLES)) + " CASCADE")
            for table in TABLES:
                columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS[table])
                cur.execute(f"CREATE TABLE {table} ({columns})")
            for table in TABLES:
                names = ", ".join(name for name, _ in _COLUMNS[table])
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(row)
            cur.execute(_CONSTRAINTS)
        counts = {}
        with con.cursor() as cur:
            for table in TABLES:
                cur.execute(f"SELECT count(*) FROM {table}")
                counts[table] = cur.fetchone()[0]
        con.execute("ANALYZE " + ", ".join(TABLES))
    return counts


def _pick(record: dict[str, Any], table: str) -> tuple[Any, ...]:
    return tuple(record[name] for name, _ in _COLUMNS[table])
