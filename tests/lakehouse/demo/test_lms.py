import collections
import datetime
import re
import sqlite3
import time

import pytest

from lakehouse.demo.lms import (
    DEMO_SIZES,
    LEVELS,
    ROLE_CATEGORIES,
    DemoSize,
    generate_world,
    write_lms_database,
)

START = datetime.date(2024, 1, 1)
END = datetime.date(2024, 5, 1)
START_TS = "2024-01-01 00:00:00"
END_TS = "2024-05-01 00:00:00"
SIZE = DemoSize(learners=400, courses=60, events=20_000)
TS = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
TABLES = ("learners", "courses", "enrollments", "activity_events", "ratings")


@pytest.fixture(scope="module")
def world():
    return generate_world(5, SIZE, START, END)


@pytest.fixture(scope="module")
def db(world, tmp_path_factory):
    path = tmp_path_factory.mktemp("lms") / "lms.db"
    write_lms_database(world, path)
    con = sqlite3.connect(path)
    yield con
    con.close()


def dump(path):
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}
    finally:
        con.close()


def test_same_seed_gives_identical_database_and_another_seed_differs(tmp_path):
    size = DemoSize(learners=60, courses=20, events=2_000)
    paths = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        paths.append(tmp_path / f"{name}.db")
        write_lms_database(generate_world(seed, size, START, END), paths[-1])
    first, again, other = (dump(p) for p in paths)
    assert first == again
    assert paths[0].read_bytes() == paths[1].read_bytes()
    for table in ("learners", "enrollments", "activity_events"):
        assert first[table] != other[table]


def test_tables_have_the_documented_columns_types_and_keys(db):
    expected = {
        "learners": [
            ("id", "INTEGER", 1),
            ("name", "TEXT", 0),
            ("department", "TEXT", 0),
            ("job_role", "TEXT", 0),
            ("country", "TEXT", 0),
            ("hired_at", "TEXT", 0),
            ("updated_at", "TEXT", 0),
        ],
        "courses": [
            ("id", "INTEGER", 1),
            ("code", "TEXT", 0),
            ("title", "TEXT", 0),
            ("provider", "TEXT", 0),
            ("category", "TEXT", 0),
            ("level", "TEXT", 0),
            ("duration_hours", "INTEGER", 0),
            ("updated_at", "TEXT", 0),
        ],
        "enrollments": [
            ("learner_id", "INTEGER", 1),
            ("course_id", "INTEGER", 2),
            ("enrolled_at", "TEXT", 0),
            ("completed_at", "TEXT", 0),
            ("score", "REAL", 0),
            ("status", "TEXT", 0),
        ],
        "activity_events": [
            ("id", "INTEGER", 1),
            ("learner_id", "INTEGER", 0),
            ("course_id", "INTEGER", 0),
            ("event_type", "TEXT", 0),
            ("ts", "TEXT", 0),
            ("value", "REAL", 0),
        ],
        "ratings": [
            ("learner_id", "INTEGER", 1),
            ("course_id", "INTEGER", 2),
            ("stars", "INTEGER", 0),
            ("ts", "TEXT", 0),
        ],
    }
    actual = {
        table: [(r[1], r[2], r[5]) for r in db.execute(f"PRAGMA table_info({table})")]
        for table in TABLES
    }
    assert actual == expected
    tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert [name for (name,) in tables] == sorted(TABLES)


def test_write_returns_row_counts_and_replaces_an_existing_file(world, tmp_path):
    path = tmp_path / "out" / "lms.db"
    smaller = generate_world(5, DemoSize(learners=30, courses=12, events=500), START, END)
    write_lms_database(smaller, path)
    counts = write_lms_database(world, path)
    assert counts == {
        "learners": len(world.learners),
        "courses": len(world.courses),
        "enrollments": len(world.enrollments),
        "activity_events": len(world.activity_events),
        "ratings": len(world.ratings),
    }
    write_lms_database(world, tmp_path / "fresh.db")
    assert dump(path) == dump(tmp_path / "fresh.db")
    assert sorted(p.name for p in path.parent.iterdir()) == ["lms.db"]


def test_every_reference_resolves(db):
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    for table in ("activity_events", "ratings"):
        orphans = db.execute(
            f"SELECT COUNT(*) FROM {table} t LEFT JOIN enrollments e "
            "ON e.learner_id = t.learner_id AND e.course_id = t.course_id "
            "WHERE e.learner_id IS NULL"
        ).fetchone()[0]
        assert orphans == 0, table
    for table in ("enrollments", "activity_events", "ratings"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0


def test_complete_events_exist_exactly_for_completed_enrollments(db):
    completes = db.execute(
        "SELECT learner_id, course_id, ts FROM activity_events WHERE event_type = 'complete'"
    ).fetchall()
    completed = db.execute(
        "SELECT learner_id, course_id, completed_at FROM enrollments WHERE status = 'completed'"
    ).fetchall()
    assert len(completed) > 0
    assert sorted(completes) == sorted(completed)
    inconsistent = db.execute(
        "SELECT COUNT(*) FROM enrollments WHERE (status = 'completed') "
        "!= (completed_at IS NOT NULL) OR (status = 'completed') != (score IS NOT NULL)"
    ).fetchone()[0]
    assert inconsistent == 0


def test_timestamps_are_utc_text_within_the_window(db):
    columns = {
        "learners": ("hired_at", "updated_at"),
        "courses": ("updated_at",),
        "enrollments": ("enrolled_at", "completed_at"),
        "activity_events": ("ts",),
        "ratings": ("ts",),
    }
    for table, names in columns.items():
        for name in names:
            values = [v for (v,) in db.execute(f"SELECT {name} FROM {table}") if v is not None]
            assert values and all(TS.fullmatch(v) for v in values), (table, name)
            if name != "hired_at":
                assert START_TS <= min(values) and max(values) < END_TS, (table, name)
    outside = db.execute(
        "SELECT COUNT(*) FROM activity_events a JOIN enrollments e USING (learner_id, course_id) "
        "WHERE a.ts < e.enrolled_at OR a.ts > COALESCE(e.completed_at, ?)",
        (END_TS,),
    ).fetchone()[0]
    assert outside == 0
    early = db.execute(
        "SELECT COUNT(*) FROM enrollments e JOIN learners l ON l.id = e.learner_id "
        "WHERE e.enrolled_at < l.hired_at OR e.completed_at < e.enrolled_at"
    ).fetchone()[0]
    assert early == 0


def test_statuses_event_types_and_values_are_in_range(db):
    statuses = {s for (s,) in db.execute("SELECT DISTINCT status FROM enrollments")}
    assert statuses == {"enrolled", "in_progress", "completed", "dropped"}
    ranges = {
        kind: (low, high)
        for kind, low, high in db.execute(
            "SELECT event_type, MIN(value), MAX(value) FROM activity_events GROUP BY event_type"
        )
    }
    assert set(ranges) == {"view", "progress", "quiz", "complete"}
    assert ranges["complete"] == (1.0, 1.0)
    assert 0 < ranges["progress"][0] and ranges["progress"][1] == 1.0
    assert 0 <= ranges["quiz"][0] and ranges["quiz"][1] <= 100
    assert 0 < ranges["view"][0] and ranges["view"][1] < 24 * 60
    stars = {s for (s,) in db.execute("SELECT DISTINCT stars FROM ratings")}
    assert stars <= {1, 2, 3, 4, 5} and len(stars) >= 3
    # 'enrolled' means no progress yet; 'in_progress' means some.
    has_progress = db.execute(
        "SELECT status, MIN(p), MAX(p) FROM ("
        "SELECT e.status, COUNT(a.id) > 0 AS p FROM enrollments e LEFT JOIN activity_events a "
        "ON a.learner_id = e.learner_id AND a.course_id = e.course_id "
        "AND a.event_type = 'progress' WHERE e.status IN ('enrolled', 'in_progress') "
        "GROUP BY e.learner_id, e.course_id) GROUP BY status ORDER BY status"
    ).fetchall()
    assert has_progress == [("enrolled", 0, 0), ("in_progress", 1, 1)]


def test_courses_carry_catalog_fields_and_acyclic_prerequisites(world):
    by_code = {c["code"]: c for c in world.courses}
    assert len(by_code) == len(world.courses) == SIZE.courses
    assert [c["id"] for c in world.courses] == list(range(1, SIZE.courses + 1))
    assert len({c["category"] for c in world.courses}) >= 8
    for course in world.courses:
        assert re.fullmatch(r"[A-Z]+-[1-3]\d\d", course["code"])
        assert course["level"] in LEVELS
        assert 2 <= len(course["skills"]) <= 5
        assert any(skill in course["description"] for skill in course["skills"])
        assert 2 <= course["description"].count(". ") + 1 <= 3
        for code in course["prerequisites"]:
            required = by_code[code]
            assert required["category"] == course["category"]
            assert LEVELS.index(required["level"]) < LEVELS.index(course["level"])
    advanced = [c for c in world.courses if c["level"] == "Advanced"]
    assert advanced and all(c["prerequisites"] for c in advanced)

    def depth(code, seen=()):
        assert code not in seen, f"prerequisite cycle through {code}"
        return 1 + max((depth(p, (*seen, code)) for p in by_code[code]["prerequisites"]), default=0)

    assert max(depth(code) for code in by_code) <= len(LEVELS)


def enrollments_by_learner(world):
    by_learner = collections.defaultdict(list)
    for enrollment in world.enrollments:
        by_learner[enrollment.learner_id].append(enrollment)
    return by_learner


def test_enrollments_follow_the_role_preferred_categories(world):
    category = {c["id"]: c["category"] for c in world.courses}
    role = {learner["id"]: learner["job_role"] for learner in world.learners}
    shares = [
        sum(category[e.course_id] in ROLE_CATEGORIES[role[learner]] for e in enrollments)
        / len(enrollments)
        for learner, enrollments in enrollments_by_learner(world).items()
        if len(enrollments) >= 3
    ]
    assert len(shares) > 100
    assert sum(shares) / len(shares) > 0.6


def test_learners_take_prerequisites_first_and_move_up_levels(world):
    courses = {c["id"]: c for c in world.courses}
    course_id = {c["code"]: c["id"] for c in world.courses}
    in_order = with_prerequisites = 0
    early, late = [], []
    for enrollments in enrollments_by_learner(world).values():
        taken = set()
        for e in enrollments:  # in enrolled_at order
            required = courses[e.course_id]["prerequisites"]
            if required:
                with_prerequisites += 1
                in_order += all(course_id[code] in taken for code in required)
            taken.add(e.course_id)
        levels = [LEVELS.index(courses[e.course_id]["level"]) for e in enrollments]
        if len(levels) >= 4:
            half = len(levels) // 2
            early.append(sum(levels[:half]) / half)
            late.append(sum(levels[half:]) / (len(levels) - half))
    assert in_order / with_prerequisites > 0.55
    assert sum(late) / len(late) > sum(early) / len(early) + 0.15


def test_recent_enrollments_are_predictable_from_history_better_than_by_popularity(world):
    cutoff = "2024-04-10 00:00:00"
    category = {c["id"]: c["category"] for c in world.courses}
    history = collections.defaultdict(list)
    recent = collections.defaultdict(set)
    for e in world.enrollments:
        if e.enrolled_at < cutoff:
            history[e.learner_id].append(e.course_id)
        else:
            recent[e.learner_id].add(e.course_id)
    popularity = collections.Counter(c for courses in history.values() for c in courses)
    learners = [learner for learner in recent if history[learner]]
    assert len(learners) > 50

    def hits(score):
        total = 0
        for learner in learners:
            candidates = sorted(
                (c for c in category if c not in history[learner]),
                key=lambda c: (-score(learner, c), c),
            )
            total += len(recent[learner].intersection(candidates[:10]))
        return total

    def by_topic(learner, course):
        topics = collections.Counter(category[c] for c in history[learner])
        return topics[category[course]] + popularity[course] / (1 + max(popularity.values()))

    by_popularity = hits(lambda learner, course: popularity[course])
    assert hits(by_topic) > 1.3 * by_popularity


def test_some_learners_are_inactive_and_some_join_during_the_window(world):
    active = {e.learner_id for e in world.enrollments}
    assert 0.03 < 1 - len(active) / len(world.learners) < 0.5
    hired_late = [learner for learner in world.learners if learner["hired_at"] >= START_TS]
    assert hired_late and any(learner["id"] in active for learner in hired_late)
    first_month = {e.learner_id for e in world.enrollments if e.enrolled_at < "2024-02-01"}
    last_weeks = {e.learner_id for e in world.enrollments if e.enrolled_at >= "2024-04-10"}
    assert len(first_month & last_weeks) > 30


def test_a_few_activity_events_are_exact_duplicates(db):
    total = db.execute("SELECT COUNT(*) FROM activity_events").fetchone()[0]
    duplicates = db.execute(
        "SELECT COALESCE(SUM(n - 1), 0), COALESCE(SUM(event_type = 'complete'), 0) FROM ("
        "SELECT event_type, COUNT(*) AS n FROM activity_events "
        "GROUP BY learner_id, course_id, event_type, ts, value HAVING n > 1)"
    ).fetchone()
    assert 0.001 * total < duplicates[0] < 0.02 * total
    assert duplicates[1] == 0


def test_the_tiny_size_generates_quickly_and_near_its_event_target(tmp_path):
    began = time.perf_counter()
    tiny = generate_world(1, DEMO_SIZES["tiny"], START, END)
    counts = write_lms_database(tiny, tmp_path / "tiny.db")
    assert time.perf_counter() - began < 3.0
    assert counts["learners"] == 300 and counts["courses"] == 40
    assert 0.7 * 15_000 < counts["activity_events"] < 1.3 * 15_000


def test_an_empty_window_is_rejected():
    with pytest.raises(ValueError):
        generate_world(1, SIZE, END, START)
