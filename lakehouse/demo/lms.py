"""A synthetic learning-management system (LMS), generated deterministically and written to SQLite.

The world has structure a recommender can learn from: job roles prefer one or two topic
categories, learners climb from Beginner to Intermediate to Advanced and take prerequisites
first, course popularity within a category is Zipf-like, and learners keep enrolling through
the window, so a learner's enrollments in the last weeks can be predicted from their history.

Learner and course records are dicts (the courses also feed the catalog website); enrollments,
activity events and ratings are NamedTuples whose fields match the SQLite columns in order,
which keeps the millions of rows of the "large" size affordable in memory.

Timestamps are UTC 'YYYY-MM-DD HH:MM:SS' strings. Enrollments, events, ratings and the
`updated_at` columns fall within [start, end); `hired_at` may be earlier than `start`, because
most staff were hired before the window opens.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import heapq
import itertools
import os
import pathlib
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class DemoSize:
    learners: int = 3000
    courses: int = 240
    events: int = 300_000  # approximate target number of activity_events rows


DEMO_SIZES = {
    "tiny": DemoSize(300, 40, 15_000),
    "small": DemoSize(800, 80, 60_000),
    "default": DemoSize(),
    "large": DemoSize(30_000, 1_200, 3_000_000),
}

LEVELS = ("Beginner", "Intermediate", "Advanced")
EVENT_TYPES = ("view", "progress", "quiz", "complete")
ENROLLMENT_STATUSES = ("enrolled", "in_progress", "completed", "dropped")

# category -> (course-code prefix, {subject: the subject's core skills})
CATEGORIES: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "Data": (
        "DATA",
        {
            "SQL": ("SQL", "Query optimization"),
            "Data Modeling": ("Data modeling", "Dimensional modeling"),
            "Data Visualization": ("Data visualization", "Dashboards"),
            "Statistics": ("Statistics", "Hypothesis testing"),
            "Machine Learning": ("Machine learning", "Feature engineering"),
            "Data Pipelines": ("ETL", "Apache Spark"),
            "Data Quality": ("Data quality", "Data governance"),
            "Python for Data Analysis": ("pandas", "Python"),
        },
    ),
    "Cloud": (
        "CLOUD",
        {
            "Cloud Computing": ("Cloud computing", "Networking"),
            "Kubernetes": ("Kubernetes", "Containers"),
            "Docker": ("Docker", "Containers"),
            "Terraform": ("Terraform", "Infrastructure as code"),
            "Serverless": ("Serverless", "Event-driven architecture"),
            "Cloud Cost Management": ("FinOps", "Cost optimization"),
            "Site Reliability Engineering": ("Monitoring", "Incident management"),
            "Cloud Architecture": ("Solution architecture", "High availability"),
        },
    ),
    "Security": (
        "SEC",
        {
            "Security Awareness": ("Phishing awareness", "Security hygiene"),
            "Network Security": ("Firewalls", "Network security"),
            "Identity and Access Management": ("IAM", "Zero trust"),
            "Threat Modeling": ("Threat modeling", "Risk assessment"),
            "Incident Response": ("Incident response", "Digital forensics"),
            "Application Security": ("OWASP Top 10", "Secure coding"),
            "Cryptography": ("Cryptography", "PKI"),
            "Cloud Security": ("Cloud security", "Security monitoring"),
        },
    ),
    "Leadership": (
        "LEAD",
        {
            "Leading Teams": ("Team leadership", "Delegation"),
            "Coaching": ("Coaching", "Giving feedback"),
            "Strategic Thinking": ("Strategy", "Decision making"),
            "Change Management": ("Change management", "Stakeholder communication"),
            "Managing Remote Teams": ("Remote collaboration", "Team rituals"),
            "Conflict Resolution": ("Conflict resolution", "Mediation"),
            "OKRs": ("Goal setting", "OKRs"),
            "Executive Presence": ("Public speaking", "Executive communication"),
        },
    ),
    "Sales": (
        "SALES",
        {
            "Consultative Selling": ("Consultative selling", "Discovery calls"),
            "Negotiation": ("Negotiation", "Closing"),
            "Pipeline Management": ("Sales forecasting", "CRM"),
            "Account Management": ("Account management", "Customer retention"),
            "Prospecting": ("Prospecting", "Cold outreach"),
            "Sales Presentations": ("Presentation skills", "Storytelling"),
            "Solution Selling": ("Solution selling", "Value proposition"),
            "Salesforce": ("Salesforce", "Sales reporting"),
        },
    ),
    "Design": (
        "DSGN",
        {
            "UX Research": ("User research", "Interviewing"),
            "Interaction Design": ("Interaction design", "Prototyping"),
            "Visual Design": ("Typography", "Color theory"),
            "Figma": ("Figma", "Wireframing"),
            "Design Systems": ("Design systems", "Component libraries"),
            "Accessibility": ("Accessibility", "WCAG"),
            "Content Design": ("UX writing", "Information architecture"),
            "Usability Testing": ("Usability testing", "Survey design"),
        },
    ),
    "Finance": (
        "FIN",
        {
            "Financial Accounting": ("Accounting", "Financial statements"),
            "Budgeting": ("Budgeting", "Cost control"),
            "Financial Modeling": ("Financial modeling", "Excel"),
            "Corporate Finance": ("Valuation", "Capital budgeting"),
            "Financial Analysis": ("Ratio analysis", "Variance analysis"),
            "Tax Fundamentals": ("Tax planning", "VAT"),
            "Treasury": ("Cash management", "Treasury operations"),
            "FP&A": ("FP&A", "Rolling forecasts"),
        },
    ),
    "Compliance": (
        "COMP",
        {
            "GDPR": ("GDPR", "Data privacy"),
            "Anti-Money Laundering": ("AML", "KYC"),
            "Code of Conduct": ("Business ethics", "Code of conduct"),
            "SOX Compliance": ("SOX", "Internal controls"),
            "Risk Management": ("Risk management", "Control testing"),
            "Information Governance": ("Records management", "Retention policies"),
            "Anti-Bribery": ("Anti-bribery", "Gifts and hospitality"),
            "Audit Preparation": ("Auditing", "Evidence collection"),
        },
    ),
    "Programming": (
        "PROG",
        {
            "Python Programming": ("Python", "Debugging"),
            "JavaScript": ("JavaScript", "Web development"),
            "Java": ("Java", "Object-oriented design"),
            "Git": ("Git", "Code review"),
            "Software Testing": ("Unit testing", "Test automation"),
            "REST APIs": ("REST APIs", "HTTP"),
            "Algorithms": ("Algorithms", "Data structures"),
            "Go": ("Go", "Concurrency"),
        },
    ),
    "HR": (
        "HR",
        {
            "Recruiting": ("Recruiting", "Structured interviews"),
            "Onboarding": ("Onboarding", "Employee experience"),
            "Performance Management": ("Performance reviews", "Career development"),
            "Compensation": ("Compensation", "Benefits"),
            "Employment Law": ("Employment law", "Workplace policies"),
            "Diversity and Inclusion": ("Diversity and inclusion", "Unconscious bias"),
            "HR Analytics": ("People analytics", "Workforce planning"),
            "Employee Relations": ("Employee relations", "Workplace investigations"),
        },
    ),
}

# (department, job role, share of headcount, preferred categories, strongest first)
ROLES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("Engineering", "Software Engineer", 0.12, ("Programming", "Cloud")),
    ("Engineering", "DevOps Engineer", 0.06, ("Cloud", "Security")),
    ("Engineering", "Engineering Manager", 0.03, ("Leadership", "Programming")),
    ("Data & Analytics", "Data Analyst", 0.08, ("Data", "Programming")),
    ("Data & Analytics", "Data Engineer", 0.05, ("Data", "Cloud")),
    ("Data & Analytics", "Data Scientist", 0.04, ("Data", "Programming")),
    ("Security", "Security Analyst", 0.04, ("Security", "Compliance")),
    ("Sales", "Account Executive", 0.10, ("Sales",)),
    ("Sales", "Sales Manager", 0.04, ("Sales", "Leadership")),
    ("Marketing", "Marketing Specialist", 0.06, ("Design", "Sales")),
    ("Product", "Product Designer", 0.05, ("Design",)),
    ("Product", "Product Manager", 0.04, ("Leadership", "Design")),
    ("Finance", "Financial Analyst", 0.06, ("Finance", "Data")),
    ("Finance", "Accountant", 0.05, ("Finance", "Compliance")),
    ("Legal", "Compliance Officer", 0.03, ("Compliance",)),
    ("People", "HR Business Partner", 0.04, ("HR", "Leadership")),
    ("People", "Recruiter", 0.03, ("HR", "Sales")),
    ("Operations", "Operations Manager", 0.04, ("Leadership", "Finance")),
    ("Customer Success", "Customer Success Manager", 0.04, ("Sales", "Compliance")),
)
ROLE_CATEGORIES: dict[str, tuple[str, ...]] = {role: cats for _, role, _, cats in ROLES}

PROVIDERS = (
    "Northwind Academy",
    "Contoso Learning",
    "Fabrikam University",
    "Lakeside Institute",
    "Bluebird Training",
    "Summit School of Business",
    "Open Circuit",
    "Internal L&D",
)
COUNTRIES = (
    ("United States", 0.30),
    ("United Kingdom", 0.10),
    ("Germany", 0.10),
    ("India", 0.14),
    ("Brazil", 0.06),
    ("Canada", 0.06),
    ("France", 0.06),
    ("Netherlands", 0.04),
    ("Spain", 0.04),
    ("Poland", 0.04),
    ("Singapore", 0.03),
    ("Australia", 0.03),
)
FIRST_NAMES = (
    "Aisha Alex Amara Ana Andrea Arjun Ben Carlos Chen Chloe Daniel David Elena Emma Fatima "
    "Felix Grace Hana Hugo Ibrahim Isabel James Jonas Julia Kai Kenji Laura Leo Lina Lucas "
    "Maria Mateo Maya Mei Mohammed Nadia Noah Olivia Omar Priya Rafael Ravi Sara Sofia Tom "
    "Wei Yara Zoe"
).split()
LAST_NAMES = (
    "Ahmed Andersen Bauer Becker Costa Das Dubois Fischer Garcia Gomez Green Gupta Hansen "
    "Ito Jansen Kim Kowalski Kumar Lee Lopez Martin Meyer Moreau Muller Nguyen Novak Okafor "
    "Park Patel Perez Rossi Santos Schmidt Silva Singh Smith Suzuki Tanaka Taylor Thomas "
    "Visser Wagner Walker Wang Weber Williams Wilson Zhang"
).split()

_TITLE_TEMPLATES = (
    ("Introduction to {}", "{} Fundamentals", "Getting Started with {}", "{} Basics"),
    ("Applied {}", "{} in Practice", "Practical {}", "Intermediate {}"),
    ("Advanced {}", "Mastering {}", "{} at Scale", "{} Masterclass"),
)
_DURATION_HOURS = ((2, 10), (6, 20), (10, 40))
_DAY = 86_400
_PREFERRED_SHARE = 0.8  # share of enrollments drawn from the role's categories
_ZIPF_EXPONENT = 0.9  # within-category popularity; kept mild so topic preference dominates
# Weight of a course by (course level - learner level in its category) + 2.
_LEVEL_FIT = np.array([0.15, 0.4, 1.0, 0.25, 0.05])
_DUPLICATE_SHARE = 0.005
_EVENT_CODE = {name: i for i, name in enumerate(EVENT_TYPES)}


class Enrollment(NamedTuple):
    learner_id: int
    course_id: int
    enrolled_at: str
    completed_at: str | None
    score: float | None
    status: str


class ActivityEvent(NamedTuple):
    id: int
    learner_id: int
    course_id: int
    event_type: str
    ts: str
    value: float


class Rating(NamedTuple):
    learner_id: int
    course_id: int
    stars: int
    ts: str


@dataclass(frozen=True)
class World:
    seed: int
    size: DemoSize
    start: datetime.date
    end: datetime.date
    learners: list[dict]
    courses: list[dict]
    enrollments: list[Enrollment]
    activity_events: list[ActivityEvent]
    ratings: list[Rating]


def generate_world(seed: int, size: DemoSize, start: datetime.date, end: datetime.date) -> World:
    """Return the synthetic LMS world for the seed and size, with activity within [start, end)."""
    if end <= start:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    if seed < 0 or size.learners < 1 or size.courses < 1 or size.events < 0:
        raise ValueError(f"invalid seed {seed} or demo size {size}")
    start_s = _epoch_seconds(start)
    end_s = _epoch_seconds(end)
    with _gc_paused():
        # Separate streams per stage, so e.g. the catalog does not change when only the
        # activity volume does.
        rnd = random.Random(f"lms:{seed}:courses")
        courses = _make_courses(rnd, size.courses, start_s, end_s)
        rnd = random.Random(f"lms:{seed}:learners")
        learners, profiles = _make_learners(rnd, size.learners, start_s, end_s)
        enrollments, events, ratings = _simulate_activity(
            random.Random(f"lms:{seed}:activity"),
            np.random.default_rng([seed, 3]),
            courses,
            profiles,
            size.events,
            start_s,
            end_s,
        )
    return World(seed, size, start, end, learners, courses, enrollments, events, ratings)


_DDL = """
CREATE TABLE learners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    department TEXT NOT NULL,
    job_role TEXT NOT NULL,
    country TEXT NOT NULL,
    hired_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE courses (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    provider TEXT NOT NULL,
    category TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('Beginner', 'Intermediate', 'Advanced')),
    duration_hours INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE enrollments (
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    course_id INTEGER NOT NULL REFERENCES courses (id),
    enrolled_at TEXT NOT NULL,
    completed_at TEXT,
    score REAL,
    status TEXT NOT NULL CHECK (status IN ('enrolled', 'in_progress', 'completed', 'dropped')),
    PRIMARY KEY (learner_id, course_id)
);
CREATE TABLE activity_events (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    course_id INTEGER NOT NULL REFERENCES courses (id),
    event_type TEXT NOT NULL CHECK (event_type IN ('view', 'progress', 'quiz', 'complete')),
    ts TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE TABLE ratings (
    learner_id INTEGER NOT NULL REFERENCES learners (id),
    course_id INTEGER NOT NULL REFERENCES courses (id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    ts TEXT NOT NULL,
    PRIMARY KEY (learner_id, course_id)
);
"""

_LEARNER_COLUMNS = ("id", "name", "department", "job_role", "country", "hired_at", "updated_at")
_COURSE_COLUMNS = (
    "id",
    "code",
    "title",
    "provider",
    "category",
    "level",
    "duration_hours",
    "updated_at",
)


def write_lms_database(world: World, db_path: pathlib.Path) -> dict[str, int]:
    """Return the row count per table of the SQLite file written (or replaced) at db_path."""
    db_path = pathlib.Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = db_path.with_name(db_path.name + ".tmp")
    tmp_path.unlink(missing_ok=True)
    tables = {
        "learners": [tuple(row[c] for c in _LEARNER_COLUMNS) for row in world.learners],
        "courses": [tuple(row[c] for c in _COURSE_COLUMNS) for row in world.courses],
        "enrollments": world.enrollments,
        "activity_events": world.activity_events,
        "ratings": world.ratings,
    }
    con = sqlite3.connect(tmp_path, isolation_level=None)
    try:
        # The file is private until renamed below, so durability of partial writes is moot.
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.executescript("BEGIN;" + _DDL)
        for table, rows in tables.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        con.execute("COMMIT")
        counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()
    # A leftover journal or WAL of an older file would be replayed onto the new one.
    for suffix in ("-journal", "-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    os.replace(tmp_path, db_path)
    return counts


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Millions of small acyclic records would make the cyclic collector rescan an ever larger
    # heap; none of them can form a cycle, so nothing is lost by pausing it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _epoch_seconds(day: datetime.date) -> int:
    return (day - datetime.date(1970, 1, 1)).days * _DAY


def _format_ts(seconds: int) -> str:
    return (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _format_ts_many(seconds: np.ndarray) -> list[str]:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [s.replace("T", " ") for s in text.tolist()]


def _level_counts(n: int) -> tuple[int, int, int]:
    if n == 0:
        return 0, 0, 0
    beginner = max(1, round(n * 0.4))
    advanced = min(round(n * 0.25), n - beginner)
    return beginner, n - beginner - advanced, advanced


def _make_courses(rnd: random.Random, n: int, start_s: int, end_s: int) -> list[dict]:
    names = list(CATEGORIES)
    per_category = [n // len(names)] * len(names)
    for i in sorted(rnd.sample(range(len(names)), n % len(names))):
        per_category[i] += 1
    courses: list[dict] = []
    titles: set[str] = set()
    for category, count in zip(names, per_category, strict=True):
        prefix, subjects = CATEGORIES[category]
        pool = sorted({skill for skills in subjects.values() for skill in skills})
        by_level: list[list[dict]] = [[], [], []]
        for level, level_count in enumerate(_level_counts(count)):
            order = rnd.sample(list(subjects), len(subjects))
            for seq in range(level_count):
                subject = order[seq % len(order)]
                template = _TITLE_TEMPLATES[level][(seq // len(order)) % 4]
                title = template.format(subject)
                part = 2
                while title in titles:
                    title = f"{template.format(subject)} (Part {part})"
                    part += 1
                titles.add(title)
                core = list(subjects[subject])
                extra = rnd.sample([s for s in pool if s not in core], rnd.choice((0, 1, 1, 2, 3)))
                low, high = _DURATION_HOURS[level]
                course = {
                    "id": len(courses) + 1,
                    "code": f"{prefix}-{level + 1}{seq + 1:02d}",
                    "title": title,
                    "provider": rnd.choice(PROVIDERS),
                    "category": category,
                    "level": LEVELS[level],
                    "duration_hours": rnd.randint(low, high),
                    "updated_at": _format_ts(start_s + rnd.randrange(end_s - start_s)),
                    "description": "",
                    "skills": core + extra,
                    "prerequisites": _pick_prerequisites(rnd, level, subject, by_level),
                    "_subject": subject,
                }
                course["description"] = _describe(course)
                by_level[level].append(course)
                courses.append(course)
    for course in courses:
        del course["_subject"]
    return courses


def _pick_prerequisites(
    rnd: random.Random, level: int, subject: str, by_level: list[list[dict]]
) -> list[str]:
    # Prerequisites always come from a lower level of the same category, so they cannot cycle.
    if level == 0 or (level == 1 and rnd.random() < 0.15):
        return []
    lower = by_level[level - 1] or by_level[0]
    same_subject = [c for c in lower if c["_subject"] == subject]
    main = rnd.choice(same_subject or lower)
    chosen = [main["code"]]
    if level == 2 and rnd.random() < 0.3:
        others = [c["code"] for c in by_level[0] + by_level[1] if c["code"] != main["code"]]
        if others:
            chosen.append(rnd.choice(others))
    return chosen


def _describe(course: dict) -> str:
    skills = course["skills"]
    listed = ", ".join(skills[:-1]) + f" and {skills[-1]}"
    audience = {
        "Beginner": "No prior experience is needed.",
        "Intermediate": "It assumes you know the basics and want to apply them at work.",
        "Advanced": "It is meant for practitioners who want to go deep.",
    }[course["level"]]
    article = "an" if course["level"][0] in "AEIOU" else "a"
    return (
        f"{course['title']} is {article} {course['level'].lower()} {course['category']} course "
        f"from {course['provider']} covering {listed}. "
        f"Over about {course['duration_hours']} hours you practise {skills[0]} "
        f"through hands-on exercises. {audience}"
    )


@dataclass
class _Profile:
    id: int
    category_weights: list[float]  # per category, in CATEGORIES order
    preferred: frozenset[int]  # the role's categories, as indices
    interests: tuple[str, ...]  # skills this learner is personally drawn to
    levels: list[int]  # starting level per category
    activity: float  # relative enrollment rate; 0 for inactive learners
    active_from: int
    hours_per_week: float
    diligence: float  # base probability of finishing a course
    quiz_skill: float
    rating_bias: float


def _make_learners(
    rnd: random.Random, n: int, start_s: int, end_s: int
) -> tuple[list[dict], list[_Profile]]:
    names = list(CATEGORIES)
    role_cumulative = list(itertools.accumulate(share for _, _, share, _ in ROLES))
    country_names = [c for c, _ in COUNTRIES]
    country_cumulative = list(itertools.accumulate(w for _, w in COUNTRIES))
    skill_pools = [
        sorted({s for skills in CATEGORIES[name][1].values() for s in skills}) for name in names
    ]
    window_days = (end_s - start_s) // _DAY
    learners: list[dict] = []
    profiles: list[_Profile] = []
    for learner_id in range(1, n + 1):
        department, role, _, role_categories = rnd.choices(ROLES, cum_weights=role_cumulative)[0]
        if rnd.random() < 0.18:
            hired_s = start_s + rnd.randrange(window_days) * _DAY + 9 * 3600
        else:
            hired_s = start_s - rnd.randint(30, 8 * 365) * _DAY + 9 * 3600
        joined_s = max(start_s, hired_s)
        preferred = [names.index(c) for c in role_categories]
        if len(preferred) == 2 and rnd.random() < 0.3:
            preferred.reverse()
        split = (1.0,) if len(preferred) == 1 else (0.65, 0.35)
        side = rnd.randrange(len(names))
        weights = [(1 - _PREFERRED_SHARE) * 0.4 / len(names)] * len(names)
        weights[side] += (1 - _PREFERRED_SHARE) * 0.6
        for index, share in zip(preferred, split, strict=True):
            weights[index] += _PREFERRED_SHARE * share
        seniority = rnd.random()
        start_level = 0 if seniority < 0.6 else 1 if seniority < 0.9 else 2
        levels = [start_level if i in preferred else 0 for i in range(len(names))]
        learners.append(
            {
                "id": learner_id,
                "name": f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)}",
                "department": department,
                "job_role": role,
                "country": rnd.choices(country_names, cum_weights=country_cumulative)[0],
                "hired_at": _format_ts(hired_s),
                "updated_at": _format_ts(joined_s + rnd.randrange(end_s - joined_s)),
            }
        )
        profiles.append(
            _Profile(
                id=learner_id,
                category_weights=weights,
                preferred=frozenset(preferred),
                interests=tuple(rnd.sample(skill_pools[preferred[0]], 2)),
                levels=levels,
                activity=0.0 if rnd.random() < 0.12 else rnd.lognormvariate(0, 0.6),
                active_from=joined_s + rnd.randrange(21 * _DAY),
                hours_per_week=rnd.uniform(1.5, 6.0),
                diligence=rnd.betavariate(6, 3),
                quiz_skill=rnd.gauss(72, 8),
                rating_bias=rnd.gauss(0, 0.5),
            )
        )
    return learners, profiles


@dataclass
class _Catalog:
    """Course attributes as arrays, indexed by course position (id - 1)."""

    category: np.ndarray
    level: np.ndarray
    duration: np.ndarray
    attract: np.ndarray
    quality: np.ndarray
    members: list[np.ndarray]  # course positions per category
    prerequisites: list[np.ndarray]  # per category: (members, max prereqs), padded with n
    skill_courses: dict[str, np.ndarray]
    skills: list[frozenset[str]]


def _index_catalog(rnd: random.Random, courses: list[dict]) -> _Catalog:
    names = list(CATEGORIES)
    n = len(courses)
    position = {c["code"]: i for i, c in enumerate(courses)}
    category = np.array([names.index(c["category"]) for c in courses])
    attract = np.zeros(n)
    members, prerequisites = [], []
    for k in range(len(names)):
        idx = np.flatnonzero(category == k)
        ranks = np.array(rnd.sample(range(1, len(idx) + 1), len(idx)), dtype=float)
        attract[idx] = ranks**-_ZIPF_EXPONENT
        width = max([1] + [len(courses[i]["prerequisites"]) for i in idx])
        table = np.full((len(idx), width), n)
        for row, i in enumerate(idx):
            for col, code in enumerate(courses[i]["prerequisites"]):
                table[row, col] = position[code]
        members.append(idx)
        prerequisites.append(table)
    skill_courses: dict[str, list[int]] = {}
    for i, course in enumerate(courses):
        for skill in course["skills"]:
            skill_courses.setdefault(skill, []).append(i)
    return _Catalog(
        category=category,
        level=np.array([LEVELS.index(c["level"]) for c in courses]),
        duration=np.array([c["duration_hours"] for c in courses], dtype=float),
        attract=attract,
        quality=np.array([rnd.gauss(0, 0.4) for _ in courses]),
        members=members,
        prerequisites=prerequisites,
        skill_courses={s: np.array(v) for s, v in skill_courses.items()},
        skills=[frozenset(c["skills"]) for c in courses],
    )


@dataclass
class _Log:
    """What the simulation produced so far, with timestamps still in epoch seconds."""

    enrollments: list[tuple] = field(default_factory=list)
    # Columns learner, course, event type code, ts, value; columnar so sorting stays cheap.
    events: tuple[list, ...] = field(default_factory=lambda: ([], [], [], [], []))
    ratings: list[tuple] = field(default_factory=list)


def _simulate_activity(
    rnd: random.Random,
    rng: np.random.Generator,
    courses: list[dict],
    profiles: list[_Profile],
    events_target: int,
    start_s: int,
    end_s: int,
) -> tuple[list[Enrollment], list[ActivityEvent], list[Rating]]:
    catalog = _index_catalog(rnd, courses)
    exposure = np.array([p.activity * max(0, end_s - p.active_from) / (7 * _DAY) for p in profiles])
    # Measured mean events per enrollment; fewer in short windows, where courses are cut off.
    window_days = (end_s - start_s) / _DAY
    per_enrollment = 17.3 * window_days / (window_days + 32)
    wanted = events_target / (per_enrollment * (1 + _DUPLICATE_SHARE))
    rate = wanted / exposure.sum() if exposure.sum() > 0 else 0.0
    counts = rng.poisson(rate * exposure)
    log = _Log()
    for profile, count in zip(profiles, counts.tolist(), strict=True):
        if count == 0 or profile.active_from >= end_s:
            continue
        times = sorted(rnd.randrange(profile.active_from, end_s) for _ in range(count))
        _simulate_learner(rnd, catalog, profile, times, end_s, log)
    return (
        _enrollment_records(log.enrollments),
        _event_records(rng, log.events),
        _rating_records(log.ratings),
    )


def _simulate_learner(
    rnd: random.Random,
    catalog: _Catalog,
    profile: _Profile,
    times: list[int],
    end_s: int,
    log: _Log,
) -> None:
    n = len(catalog.level)
    taken = np.zeros(n + 1, dtype=bool)
    taken[n] = True  # padding slot of the prerequisite tables
    remaining = [len(m) for m in catalog.members]
    levels = list(profile.levels)
    completions = [0] * len(levels)
    pending: list[tuple[int, int]] = []  # (completed_at, category) not yet reached
    boost = np.ones(n)
    for skill in profile.interests:
        if skill in catalog.skill_courses:
            boost[catalog.skill_courses[skill]] += 1.5
    for enrolled_s in times:
        while pending and pending[0][0] <= enrolled_s:
            _, k = heapq.heappop(pending)
            completions[k] += 1
            # Two completions in a topic move the learner up a level there.
            levels[k] = max(levels[k], min(2, profile.levels[k] + completions[k] // 2))
        weights = [
            w if r else 0.0 for w, r in zip(profile.category_weights, remaining, strict=True)
        ]
        if not any(weights):
            return
        k = rnd.choices(range(len(weights)), weights=weights)[0]
        idx = catalog.members[k]
        course_level = catalog.level[idx]
        ready = taken[catalog.prerequisites[k]].all(axis=1)
        # Experienced learners may skip prerequisites; novices rarely do.
        prereq_fit = np.where(ready, 1.0, np.where(course_level <= levels[k], 0.25, 0.03))
        w = (
            catalog.attract[idx]
            * _LEVEL_FIT[course_level - levels[k] + 2]
            * prereq_fit
            * boost[idx]
            * ~taken[idx]
        )
        cumulative = np.cumsum(w)
        pick = int(np.searchsorted(cumulative, rnd.random() * cumulative[-1], side="right"))
        course = int(idx[min(pick, len(idx) - 1)])
        taken[course] = True
        remaining[k] -= 1
        completed_s = _simulate_enrollment(
            rnd, catalog, profile, levels[k], course, enrolled_s, end_s, log
        )
        if completed_s is not None:
            heapq.heappush(pending, (completed_s, k))


def _simulate_enrollment(
    rnd: random.Random,
    catalog: _Catalog,
    profile: _Profile,
    learner_level: int,
    course: int,
    enrolled_s: int,
    end_s: int,
    log: _Log,
) -> int | None:
    """Record one enrollment with its events and rating; return completed_at seconds, if any."""
    learner_id, course_id = profile.id, course + 1
    ev_learner, ev_course, ev_type, ev_ts, ev_value = log.events
    category = int(catalog.category[course])
    gap = max(0, int(catalog.level[course]) - learner_level)
    preferred = category in profile.preferred
    duration = float(catalog.duration[course])
    span = max(3600, int(duration / profile.hours_per_week * 7 * _DAY * rnd.lognormvariate(0, 0.3)))
    sessions = min(24, max(2, round(duration / rnd.uniform(0.75, 1.5))))
    quiz_every = rnd.choice((2, 3, 4))
    p_finish = profile.diligence * (0.6 if gap else 1.0) * (1.0 if preferred else 0.8)
    never_started = rnd.random() < 0.07
    finishes = not never_started and rnd.random() < p_finish
    planned_stop = enrolled_s + (span if finishes else int(span * rnd.uniform(0.05, 0.8)))
    # Otherwise the learner is still at it when the window closes.
    stops_in_window = not never_started and planned_stop < end_s
    stop = planned_stop if stops_in_window else end_s - 1

    def emit(event_type: str, ts: int, value: float) -> None:
        ev_learner.append(learner_id)
        ev_course.append(course_id)
        ev_type.append(_EVENT_CODE[event_type])
        ev_ts.append(ts)
        ev_value.append(value)

    emit("view", enrolled_s, round(rnd.uniform(1, 6), 1))
    quiz_scores: list[float] = []
    last_session = None
    if not never_started:
        minutes_per_session = duration * 60 / sessions
        for i in range(1, sessions + 1):
            u = 1.0 if finishes and i == sessions else rnd.random()
            session_end = enrolled_s + int(span * (i - 1 + u) / sessions)
            if session_end > stop:
                break
            minutes = round(minutes_per_session * rnd.uniform(0.6, 1.4), 1)
            emit("view", max(enrolled_s, session_end - int(minutes * 60)), minutes)
            emit("progress", session_end, round(i / sessions, 3))
            if i % quiz_every == 0 or i == sessions:
                score = profile.quiz_skill - 8 * gap + (4 if preferred else 0) + rnd.gauss(0, 10)
                quiz_scores.append(round(min(100.0, max(0.0, score)), 1))
                emit("quiz", session_end, quiz_scores[-1])
            last_session = session_end
    completed_s = stop if finishes and stops_in_window else None
    if completed_s is not None:
        emit("complete", completed_s, 1.0)
        status = "completed"
    elif stops_in_window:
        status = "dropped"
    else:
        status = "in_progress" if last_session is not None else "enrolled"
    score = round(sum(quiz_scores) / len(quiz_scores), 1) if completed_s is not None else None
    log.enrollments.append((enrolled_s, learner_id, course_id, completed_s, score, status))

    rating_chance = {"completed": 0.45, "dropped": 0.15, "in_progress": 0.05, "enrolled": 0.0}
    if rnd.random() < rating_chance[status]:
        if status == "completed":
            rated_s = completed_s + int(rnd.expovariate(1 / (2 * _DAY)))
        else:
            rated_s = last_session if last_session is not None else enrolled_s
        if rated_s < end_s:
            overlap = len(catalog.skills[course].intersection(profile.interests))
            stars = (
                3.4
                + 0.5 * preferred
                + 0.35 * overlap
                + catalog.quality[course]
                + profile.rating_bias
                - 1.2 * (status == "dropped")
                - 0.3 * gap
                + rnd.gauss(0, 0.6)
            )
            log.ratings.append((rated_s, learner_id, course_id, int(min(5, max(1, round(stars))))))
    return completed_s


def _enrollment_records(rows: list[tuple]) -> list[Enrollment]:
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [
        Enrollment(
            learner,
            course,
            _format_ts(enrolled),
            None if done is None else _format_ts(done),
            score,
            status,
        )
        for enrolled, learner, course, done, score, status in rows
    ]


def _event_records(rng: np.random.Generator, columns: tuple[list, ...]) -> list[ActivityEvent]:
    learner, course, kind, ts, value = (np.array(c) for c in columns)
    # Re-delivered copies of some events, which downstream deduplication has to remove; never of
    # 'complete', so each completed enrollment keeps exactly one completion event.
    copy = np.flatnonzero(
        (rng.random(len(ts)) < _DUPLICATE_SHARE) & (kind != _EVENT_CODE["complete"])
    )
    learner, course, kind, ts, value = (
        np.concatenate([a, a[copy]]) for a in (learner, course, kind, ts, value)
    )
    order = np.lexsort((value, kind, course, learner, ts))
    stamps = _format_ts_many(ts[order])
    return [
        ActivityEvent(i, int(l_), int(c), EVENT_TYPES[k], s, float(v))
        for i, (l_, c, k, s, v) in enumerate(
            zip(
                learner[order].tolist(),
                course[order].tolist(),
                kind[order].tolist(),
                stamps,
                value[order].tolist(),
                strict=True,
            ),
            start=1,
        )
    ]


def _rating_records(rows: list[tuple]) -> list[Rating]:
    rows.sort()
    return [Rating(learner, course, stars, _format_ts(ts)) for ts, learner, course, stars in rows]
