"""Gold star schema: SCD2 learner and course dimensions, the date dimension, the daily activity
and enrolment facts keyed to the dimension versions valid at the event time, and the aggregates
analysts ask for (course stats, learner engagement, skill coverage by department).

Slowly changing dimensions (type 2). A dimension row is one version of a natural key:
- `valid_from` (inclusive) and `valid_to` (exclusive) are UTC timestamps; the current version
  has `valid_to` null (not 9999-12-31: pandas and Arrow readers overflow on such far dates) and
  `is_current` true, so a version valid at time t is `valid_from <= t AND (valid_to IS NULL OR
  t < valid_to)`.
- The first version of a natural key is valid from FIRST_VALID_FROM (1900-01-01), whenever it
  was loaded: silver holds current state only, so a key's earlier facts (events before the first
  load, or before the night the key appeared) are attributed to the first version known.
  Later versions start at the `as_of` of the night that saw the change (the end of the data the
  run covers, the midnight after the run date).
- A natural key missing from the snapshot (a source hard delete) closes its current version at
  `as_of` with `is_deleted` true; if it comes back, a new version starts at that night's `as_of`.
- The surrogate key is xxhash64(key column name, natural key, valid_from): the same version gets
  the same key on a rerun or a full rebuild.
- `loaded_at` is the `as_of` of the night that wrote the version. A night is recomputed from the
  dimension as it stood before that night (versions it loaded dropped, versions it closed
  reopened), so rerunning a night with the same snapshot leaves the dimension identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

FIRST_VALID_FROM = dt.datetime(1900, 1, 1)
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current", "is_deleted", "loaded_at")
LEARNER_ATTRIBUTES = ("name", "department", "job_role", "country", "hired_at")
COURSE_ATTRIBUTES = (
    "course_code",
    "title",
    "provider",
    "category",
    "level",
    "duration_hours",
    "skills",
    "prerequisites",
    "description",
    "catalog_url",
    "in_catalog",
    "item_type",
    "parent_course_id",
)
LMS_COURSE_ITEM_TYPE = "course"
ACTIVITY_FACT_COLUMNS = (
    "learner_key",
    "course_key",
    "date_key",
    "learner_id",
    "course_id",
    "activity_date",
    "first_event_at",
    "events",
    "views",
    "minutes_viewed",
    "clicks",
    "progress_events",
    "max_progress",
    "quizzes",
    "avg_quiz_score",
    "completions",
    "ratings",
    "rating_stars",
    "confidence",
)


def _timestamp(value: dt.datetime | dt.date) -> Column:
    # A string cast reads the wall time in the session time zone (UTC), unlike a datetime lit.
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return F.lit(value.isoformat(sep=" ")).cast("timestamp")


def _date_key(date: Column | str) -> Column:
    return F.date_format(date, "yyyyMMdd").cast("int")


def _payload_hash(columns: Sequence[str]) -> Column:
    # Field names are in the JSON, so a null in one column cannot collide with another's value.
    return F.sha2(F.to_json(F.struct(*columns)), 256)


def _open_versions(
    rows: DataFrame,
    natural_key: Sequence[str],
    tracked: Sequence[str],
    valid_from: Column,
    as_of: Column,
    key_column: str,
) -> DataFrame:
    starts = rows.withColumn("valid_from", valid_from)
    return starts.select(
        F.xxhash64(F.lit(key_column), *natural_key, "valid_from").alias(key_column),
        *natural_key,
        *tracked,
        "valid_from",
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(True).alias("is_current"),
        F.lit(False).alias("is_deleted"),
        as_of.alias("loaded_at"),
    )


def _closed(versions: DataFrame, as_of: Column, deleted: bool) -> DataFrame:
    return (
        versions.withColumn("valid_to", as_of)
        .withColumn("is_current", F.lit(False))
        .withColumn("is_deleted", F.lit(deleted))
    )


def _before_night(previous: DataFrame, snapshot: DataFrame, as_of: Column) -> DataFrame:
    """The previous dimension as it stood before the night of as_of, with columns the snapshot
    has and it lacks added as nulls (a newly tracked column)."""
    for field in snapshot.schema.fields:
        if field.name not in previous.columns:
            previous = previous.withColumn(field.name, F.lit(None).cast(field.dataType))
    closed_that_night = F.col("valid_to").isNotNull() & (F.col("valid_to") >= as_of)
    return (
        previous.filter(F.col("loaded_at") < as_of)
        .withColumn("is_current", F.col("is_current") | closed_that_night)
        .withColumn("is_deleted", F.col("is_deleted") & ~closed_that_night)
        .withColumn("valid_to", F.when(~closed_that_night, F.col("valid_to")))
    )


def scd2_dimension(
    previous: DataFrame | None,
    snapshot: DataFrame,
    natural_key: Sequence[str],
    tracked_columns: Sequence[str],
    as_of: dt.datetime | dt.date,
    key_column: str,
) -> DataFrame:
    """The whole SCD2 dimension after applying `snapshot` (one row per natural key) at `as_of`:
    one row per version (key_column; natural key + valid_from), see the module docstring."""
    nk, tracked = list(natural_key), list(tracked_columns)
    cols = [key_column, *nk, *tracked, *SCD2_COLUMNS]
    now = _timestamp(as_of)
    first = _timestamp(FIRST_VALID_FROM)
    payload = snapshot.select(*nk, *tracked)
    if previous is None:
        return _open_versions(payload, nk, tracked, first, now, key_column)

    before = _before_night(previous, payload, now).select(*cols)
    history = before.filter(~F.col("is_current"))
    current = before.filter(F.col("is_current"))
    hashed = payload.select(*nk, _payload_hash(tracked).alias("_new_hash"))
    compared = current.withColumn("_old_hash", _payload_hash(tracked)).join(hashed, nk, "inner")
    unchanged = compared.filter(F.col("_old_hash") == F.col("_new_hash")).select(*cols)
    changed = compared.filter(F.col("_old_hash") != F.col("_new_hash")).select(*cols)
    deleted = current.join(payload.select(*nk), nk, "left_anti")

    seen = before.select(*nk).distinct().withColumn("_seen", F.lit(True))
    arriving = payload.join(current.select(*nk), nk, "left_anti").join(seen, nk, "left")
    changed_to = payload.join(changed.select(*nk), nk, "left_semi")
    return (
        history.unionByName(unchanged)
        .unionByName(_closed(changed, now, deleted=False))
        .unionByName(_closed(deleted, now, deleted=True))
        .unionByName(_open_versions(changed_to, nk, tracked, now, now, key_column))
        .unionByName(
            # A key seen before (deleted, now back) starts a new version; a new key's first
            # version covers all time before it.
            _open_versions(
                arriving, nk, tracked, F.when(F.col("_seen"), now).otherwise(first), now, key_column
            )
        )
        .select(*cols)
    )


def course_items(courses: DataFrame) -> DataFrame:
    """silver.courses rows (course_id) with item_type and parent_course_id, an LMS course
    ('course', no parent) where silver predates those columns."""
    if "item_type" not in courses.columns:
        courses = courses.withColumn("item_type", F.lit(LMS_COURSE_ITEM_TYPE))
    if "parent_course_id" not in courses.columns:
        courses = courses.withColumn("parent_course_id", F.lit(None).cast("bigint"))
    return courses


def learner_dimension(
    previous: DataFrame | None, learners: DataFrame, as_of: dt.datetime | dt.date
) -> DataFrame:
    """gold.dim_learner: one row per learner version (learner_key; learner_id + valid_from)."""
    return scd2_dimension(
        previous, learners, ["learner_id"], LEARNER_ATTRIBUTES, as_of, "learner_key"
    )


def course_dimension(
    previous: DataFrame | None, courses: DataFrame, as_of: dt.datetime | dt.date
) -> DataFrame:
    """gold.dim_course: one row per course or item version (course_key; course_id +
    valid_from), with item_type and parent_course_id."""
    return scd2_dimension(
        previous, course_items(courses), ["course_id"], COURSE_ATTRIBUTES, as_of, "course_key"
    )


def with_version_key(
    rows: DataFrame, dimension: DataFrame, natural_key: str, at: str, key_column: str
) -> DataFrame:
    """rows plus key_column: the key of the dimension version of rows' natural_key valid at
    timestamp column `at` (null when no version covers it)."""
    versions = dimension.select(
        F.col(natural_key).alias("_v_id"),
        F.col(key_column),
        F.col("valid_from").alias("_v_from"),
        F.col("valid_to").alias("_v_to"),
    )
    valid = (
        (F.col(natural_key) == F.col("_v_id"))
        & (F.col(at) >= F.col("_v_from"))
        & (F.col("_v_to").isNull() | (F.col(at) < F.col("_v_to")))
    )
    return rows.join(versions, valid, "left").drop("_v_id", "_v_from", "_v_to")


def date_dimension(dates: DataFrame, date_column: str = "event_date") -> DataFrame:
    """gold.dim_date: one row per calendar day from the first to the last date in `dates`,
    keyed by date_key (yyyymmdd)."""
    bounds = dates.agg(F.min(date_column).alias("lo"), F.max(date_column).alias("hi"))
    days = bounds.filter(F.col("lo").isNotNull()).select(
        F.explode(F.sequence("lo", "hi", F.expr("INTERVAL 1 DAY"))).alias("date")
    )
    return days.select(
        _date_key("date").alias("date_key"),
        "date",
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.dayofmonth("date").alias("day_of_month"),
        # ISO weekday: Monday = 1 ... Sunday = 7.
        (((F.dayofweek("date") + 5) % 7) + 1).alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.weekofyear("date").alias("iso_week"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )


def daily_activity(interactions: DataFrame) -> DataFrame:
    """One row per learner, item and day (learner_id, course_id, activity_date) with the day's
    first event time (first_event_at), events, views, minutes viewed, clicks, progress, quiz
    scores, completions, ratings and their stars, and confidence: the measures of
    gold.fact_learning_activity, from which the other gold tables aggregate activity."""
    is_type = lambda t: F.col("event_type") == t  # noqa: E731
    return interactions.groupBy(
        "learner_id", "course_id", F.col("event_date").alias("activity_date")
    ).agg(
        F.min("event_ts").alias("first_event_at"),
        F.count(F.lit(1)).alias("events"),
        F.count(F.when(is_type("view"), 1)).alias("views"),
        F.sum(F.when(is_type("view"), F.col("value")).otherwise(0.0)).alias("minutes_viewed"),
        # OULAD's events: one 'click' per learner, item and day, its value the clicks.
        F.sum(F.when(is_type("click"), F.col("value")).otherwise(0.0))
        .cast("bigint")
        .alias("clicks"),
        F.count(F.when(is_type("progress"), 1)).alias("progress_events"),
        F.max(F.when(is_type("progress"), F.col("value"))).alias("max_progress"),
        F.count(F.when(is_type("quiz"), 1)).alias("quizzes"),
        F.avg(F.when(is_type("quiz"), F.col("value"))).alias("avg_quiz_score"),
        F.count(F.when(is_type("complete"), 1)).alias("completions"),
        F.count(F.when(is_type("rate"), 1)).alias("ratings"),
        F.sum(F.when(is_type("rate"), F.col("value")).otherwise(0.0)).alias("rating_stars"),
        F.sum("weight").alias("confidence"),
    )


def learning_activity_facts(
    interactions: DataFrame, dim_learner: DataFrame, dim_course: DataFrame
) -> DataFrame:
    """gold.fact_learning_activity: one row per learner, item and day (learner_id, course_id,
    date_key) with the daily_activity measures, keyed to the learner and course versions valid
    at the day's first event."""
    keyed = (
        daily_activity(interactions)
        .transform(with_version_key, dim_learner, "learner_id", "first_event_at", "learner_key")
        .transform(with_version_key, dim_course, "course_id", "first_event_at", "course_key")
    )
    return keyed.select(
        *ACTIVITY_FACT_COLUMNS[:2],
        _date_key("activity_date").alias("date_key"),
        *ACTIVITY_FACT_COLUMNS[3:],
    )


def enrollment_activity(activity: DataFrame, courses: DataFrame) -> DataFrame:
    """One row per learner and course with activity (learner_id, course_id): the first activity's
    time (started_at) and the events, activity on an item (an OULAD VLE page) counting for its
    parent course too; from daily_activity rows (or the activity facts), `courses` giving each
    course's parent_course_id."""
    parents = courses.select("course_id", "parent_course_id")
    return (
        activity.join(parents, "course_id", "left")
        .select(
            "learner_id",
            F.explode(F.array("course_id", "parent_course_id")).alias("enrolled_course_id"),
            "first_event_at",
            "events",
        )
        .filter(F.col("enrolled_course_id").isNotNull())
        .groupBy("learner_id", F.col("enrolled_course_id").alias("course_id"))
        .agg(F.min("first_event_at").alias("started_at"), F.sum("events").alias("events"))
    )


def with_more_enrollment_activity(started: DataFrame, more: DataFrame) -> DataFrame:
    """enrollment_activity rows (learner_id, course_id) of `started` combined with those of more
    activity (`more`, the enrollment_activity of new activity rows): the earlier start, the events
    added up; what enrollment_activity of all those activity rows gives."""
    return (
        started.select("learner_id", "course_id", "started_at", "events")
        .unionByName(more.select("learner_id", "course_id", "started_at", "events"))
        .groupBy("learner_id", "course_id")
        .agg(F.min("started_at").alias("started_at"), F.sum("events").alias("events"))
    )


def enrollment_facts(
    enrollments: DataFrame,
    started: DataFrame,
    dim_learner: DataFrame,
    dim_course: DataFrame,
) -> DataFrame:
    """gold.fact_enrollment: one accumulating-snapshot row per enrolment (learner_id,
    course_id): enrolled, first activity (started), completed, score, status, events,
    days_to_complete; keyed to the versions valid when the learner enrolled. `started` is the
    enrollment_activity of the activity."""
    rows = (
        enrollments.join(
            started.select("learner_id", "course_id", "started_at", "events"),
            ["learner_id", "course_id"],
            "left",
        )
        # An enrolment without a date is keyed as of its first activity.
        .withColumn("_keyed_at", F.coalesce("enrolled_at", "started_at"))
        .transform(with_version_key, dim_learner, "learner_id", "_keyed_at", "learner_key")
        .transform(with_version_key, dim_course, "course_id", "_keyed_at", "course_key")
    )
    return rows.select(
        "learner_key",
        "course_key",
        _date_key("enrolled_at").alias("enrolled_date_key"),
        _date_key("started_at").alias("started_date_key"),
        _date_key("completed_at").alias("completed_date_key"),
        "learner_id",
        "course_id",
        "enrolled_at",
        "started_at",
        "completed_at",
        "status",
        "score",
        F.coalesce("events", F.lit(0)).cast("bigint").alias("events"),
        F.datediff(F.to_date("completed_at"), F.to_date("enrolled_at")).alias("days_to_complete"),
    )


def _ratio(part: str, whole: str) -> Column:
    """part / whole rounded to 4 places; null when whole is 0."""
    return F.when(F.col(whole) > 0, F.round(F.col(part) / F.col(whole), 4))


def _window_days(run_date: dt.date, days: int, column: str = "activity_date") -> Column:
    """Whether the date column is one of the `days` days ending on run_date (inclusive)."""
    return F.col(column).between(F.lit(run_date - dt.timedelta(days=days - 1)), F.lit(run_date))


COURSE_LEARNER_KEYS = ("course_id", "learner_id")


def course_learner_starts(activity: DataFrame) -> DataFrame:
    """gold.course_learner_starts: one row per course (or item) and learner with activity
    (course_id, learner_id) and its first_activity_date; from the activity facts (or the rows
    of their change data feed), days after any run date included."""
    return activity.groupBy(*COURSE_LEARNER_KEYS).agg(
        F.min("activity_date").alias("first_activity_date")
    )


def with_more_course_learner_starts(
    starts: DataFrame, more: DataFrame, broadcast: bool = True
) -> DataFrame:
    """course_learner_starts rows (course_id, learner_id) of `starts` combined with those of
    more activity (`more`, the course_learner_starts of new activity rows): the earlier first
    day; what course_learner_starts of all those activity rows gives. With `broadcast` (more
    holds a night's few pairs), the starts are joined to it without being shuffled."""
    keys = list(COURSE_LEARNER_KEYS)
    more = more.select(*keys, F.col("first_activity_date").alias("_more"))
    lookup = F.broadcast(more) if broadcast else more
    kept = starts.select(*keys, "first_activity_date").join(lookup, keys, "left")
    # Pairs the starts lack: `more` without those it shares with them (a few rows).
    shared = starts.select(*keys).join(lookup.select(*keys), keys, "left_semi")
    new = more.join(shared, keys, "left_anti")
    return kept.select(
        *keys, F.least("first_activity_date", "_more").alias("first_activity_date")
    ).unionByName(new.select(*keys, F.col("_more").alias("first_activity_date")))


def earlier_course_learner_starts(
    starts: DataFrame, more: DataFrame, broadcast: bool = True
) -> DataFrame:
    """The course_learner_starts rows of more activity (`more`) that change `starts` (course_id,
    learner_id): pairs it lacks, or whose first day is earlier, with `known` (the pair is in
    `starts`). With `broadcast` (more holds a night's few pairs), the starts are read once,
    without being shuffled."""
    keys = list(COURSE_LEARNER_KEYS)
    lookup = F.broadcast(more.select(*keys)) if broadcast else more.select(*keys)
    known = starts.select(*keys, F.col("first_activity_date").alias("_known")).join(
        lookup, keys, "left_semi"
    )
    return (
        more.join(known, keys, "left")
        .filter(F.col("_known").isNull() | (F.col("first_activity_date") < F.col("_known")))
        .select(*keys, "first_activity_date", F.col("_known").isNotNull().alias("known"))
    )


def course_statistics(
    courses: DataFrame,
    enrollments: DataFrame,
    activity: DataFrame,
    starts: DataFrame,
    run_date: dt.date,
) -> DataFrame:
    """gold.course_stats: one row per course (course_id; course_key of its current version) with
    enrollments, completion rate, average score and rating, and distinct active learners ever
    and in the 7 and 30 days ending on the run date (days after it are ignored), from the
    daily_activity rows (or the activity facts) and their course_learner_starts."""
    enrolled = enrollments.groupBy("course_id").agg(
        F.count(F.lit(1)).alias("enrollments"),
        F.count(F.when(F.col("status") == "completed", 1)).alias("completions"),
        F.avg(F.when(F.col("status") == "completed", F.col("score"))).alias("avg_score"),
    )
    # Learners ever active from each pair's first day: the distinct pairs of every activity
    # row are what cost most here, and the starts already hold them.
    ever = (
        starts.filter(F.col("first_activity_date") <= F.lit(run_date))
        .groupBy("course_id")
        .agg(F.count(F.lit(1)).alias("active_learners"))
    )
    # Only rows with ratings count for them (rating_stars come with ratings): the other rows'
    # files are skipped by their statistics.
    rated = (
        activity.filter((F.col("ratings") > 0) & (F.col("activity_date") <= F.lit(run_date)))
        .groupBy("course_id")
        .agg(
            F.sum("ratings").alias("ratings"),
            F.when(F.sum("ratings") > 0, F.sum("rating_stars") / F.sum("ratings")).alias(
                "avg_rating"
            ),
        )
    )
    recent = (
        activity.filter(_window_days(run_date, 30))
        .groupBy("course_id", "learner_id")
        .agg(F.max(_window_days(run_date, 7).cast("int")).alias("in_7d"))
        .groupBy("course_id")
        .agg(
            F.sum("in_7d").alias("active_learners_7d"),
            F.count(F.lit(1)).alias("active_learners_30d"),
        )
    )
    counts = ["enrollments", "completions", "ratings", "active_learners"]
    counts += ["active_learners_7d", "active_learners_30d"]
    stats = (
        courses.select("course_key", "course_id", "course_code", "title")
        .join(enrolled, "course_id", "left")
        .join(rated, "course_id", "left")
        .join(ever, "course_id", "left")
        .join(recent, "course_id", "left")
        .fillna(0, subset=counts)
    )
    return stats.select(
        "course_key",
        "course_id",
        "course_code",
        "title",
        F.col("enrollments").cast("bigint").alias("enrollments"),
        F.col("completions").cast("bigint").alias("completions"),
        _ratio("completions", "enrollments").alias("completion_rate"),
        F.round("avg_score", 2).alias("avg_score"),
        F.col("ratings").cast("bigint").alias("ratings"),
        F.round("avg_rating", 2).alias("avg_rating"),
        *[F.col(c).cast("bigint").alias(c) for c in counts[3:]],
    )


def _streaks(days: Column, last_day: Column, run_date: dt.date) -> tuple[Column, Column]:
    """(longest_streak, current_streak) of an ascending array of distinct active days: the
    longest run of consecutive days, and the run ending on the run date (0 if the last active
    day is another)."""
    start = F.struct(
        F.lit(None).cast("date").alias("previous"), F.lit(0).alias("run"), F.lit(0).alias("best")
    )

    def step(acc: Column, day: Column) -> Column:
        run = F.when(acc["previous"] == F.date_sub(day, 1), acc["run"] + 1).otherwise(1)
        best = F.greatest(acc["best"], run)
        return F.struct(day.alias("previous"), run.alias("run"), best.alias("best"))

    folded = F.aggregate(days, start, step)
    current = F.when(last_day == F.lit(run_date), folded["run"]).otherwise(0)
    return folded["best"], current


ACTIVITY_DAYS_TYPE = "array<struct<activity_date:date,facts:bigint,events:bigint>>"


def learner_activity_days(activity: DataFrame) -> DataFrame:
    """gold.learner_activity_days: one row per learner with activity (learner_id) and `days`,
    its active days in order, each with its activity rows (facts) and events; every day of the
    daily_activity rows (or activity facts) given, also days after any run date."""
    return (
        activity.groupBy("learner_id", "activity_date")
        .agg(F.count(F.lit(1)).alias("facts"), F.sum("events").cast("bigint").alias("events"))
        .groupBy("learner_id")
        .agg(
            F.array_sort(F.collect_list(F.struct("activity_date", "facts", "events")))
            .cast(ACTIVITY_DAYS_TYPE)
            .alias("days")
        )
    )


def _days_map(days: Column) -> Column:
    return F.map_from_entries(
        F.transform(days, lambda d: F.struct(d["activity_date"], F.struct(d["facts"], d["events"])))
    )


def with_changed_activity_days(days: DataFrame, changes: DataFrame) -> DataFrame:
    """learner_activity_days (learner_id) after a change feed of the activity rows (inserted
    rows and post-images added, deleted rows and pre-images taken away): what
    learner_activity_days of the changed activity gives. Days left without rows, and learners
    left without days, are dropped."""
    added = F.col("_change_type").isin("insert", "update_postimage")
    sign = F.when(added, F.lit(1)).otherwise(F.lit(-1)).cast("bigint")
    delta = (
        changes.groupBy("learner_id", "activity_date")
        .agg(F.sum(sign).alias("facts"), F.sum(sign * F.col("events")).alias("events"))
        .groupBy("learner_id")
        .agg(
            F.collect_list(F.struct("activity_date", "facts", "events")).alias("days"),
            F.min("activity_date").alias("first_day"),
        )
    )
    new = delta.select(
        F.col("learner_id").alias("_learner_id"),
        _days_map(F.col("days")).alias("_new"),
        F.array_sort(F.filter("days", lambda d: d["facts"] > 0))
        .cast(ACTIVITY_DAYS_TYPE)
        .alias("_new_days"),
        F.col("first_day").alias("_first_day"),
    )
    empty = F.create_map().cast("map<date,struct<facts:bigint,events:bigint>>")

    def add(_day: Column, a: Column, b: Column) -> Column:
        return F.struct(
            (F.coalesce(a["facts"], F.lit(0)) + F.coalesce(b["facts"], F.lit(0))).alias("facts"),
            (F.coalesce(a["events"], F.lit(0)) + F.coalesce(b["events"], F.lit(0))).alias("events"),
        )

    summed = F.map_zip_with(F.coalesce(_days_map(F.col("days")), empty), F.col("_new"), add)
    entries = F.transform(
        F.map_entries(summed),
        lambda e: F.struct(
            e["key"].alias("activity_date"),
            e["value"]["facts"].alias("facts"),
            e["value"]["events"].alias("events"),
        ),
    )
    folded = F.array_sort(F.filter(entries, lambda d: d["facts"] > 0)).cast(ACTIVITY_DAYS_TYPE)
    old = days.select("learner_id", F.col("days").cast(ACTIVITY_DAYS_TYPE).alias("days"))
    joined = old.join(new, old["learner_id"].eqNullSafe(new["_learner_id"]), "full")
    return joined.select(
        F.coalesce("learner_id", "_learner_id").alias("learner_id"),
        # Learners without changes keep their days as they are: a night's changes touch some
        # learners, and the map functions cost as much as the days they go through. Changes
        # all dated after a learner's last day (the usual night: today's) are new days, put
        # after the others as they are.
        F.when(F.col("_new").isNull(), F.col("days"))
        .when(
            F.col("_first_day") > F.try_element_at("days", F.lit(-1))["activity_date"],
            F.concat("days", "_new_days"),
        )
        .otherwise(folded)
        .alias("days"),
    ).filter(F.size("days") > 0)


def learner_engagement(
    learners: DataFrame, activity_days: DataFrame, enrollments: DataFrame, run_date: dt.date
) -> DataFrame:
    """gold.learner_engagement: one row per learner (learner_id; learner_key of its current
    version) as of the run date: last activity, recency in days, active days and events in the
    30 days ending on the run date, longest and current streak of consecutive active days,
    enrolments, completions and completion ratio; activity from learner_activity_days (days
    after the run date ignored)."""
    upto = activity_days.select(
        "learner_id",
        F.filter("days", lambda d: d["activity_date"] <= F.lit(run_date)).alias("_days"),
    )
    dates = F.transform("_days", lambda d: d["activity_date"])
    month_start = F.lit(run_date - dt.timedelta(days=29))
    recent = F.filter("_days", lambda d: d["activity_date"] >= month_start)
    total = lambda days: F.aggregate(  # noqa: E731
        days, F.lit(0).cast("bigint"), lambda acc, d: acc + d["events"]
    )
    longest, current = _streaks(dates, F.array_max(dates), run_date)
    activity = upto.select(
        "learner_id",
        F.array_min(dates).alias("first_activity_date"),
        F.array_max(dates).alias("last_activity_date"),
        F.size("_days").alias("active_days"),
        total(F.col("_days")).alias("events"),
        F.size(recent).alias("active_days_30d"),
        total(recent).alias("events_30d"),
        longest.alias("longest_streak"),
        current.alias("current_streak"),
    )
    enrolled = enrollments.groupBy("learner_id").agg(
        F.count(F.lit(1)).alias("enrollments"),
        F.count(F.when(F.col("status") == "completed", 1)).alias("completions"),
    )
    counts = ["active_days", "events", "active_days_30d", "events_30d", "longest_streak"]
    counts += ["current_streak", "enrollments", "completions"]
    rows = (
        learners.select("learner_key", "learner_id")
        .join(activity, "learner_id", "left")
        .join(enrolled, "learner_id", "left")
        .fillna(0, subset=counts)
    )
    return rows.select(
        "learner_key",
        "learner_id",
        "first_activity_date",
        "last_activity_date",
        F.datediff(F.lit(run_date), "last_activity_date").alias("recency_days"),
        *[F.col(c).cast("bigint").alias(c) for c in counts],
        _ratio("completions", "enrollments").alias("completion_ratio"),
    )


def skill_coverage(learners: DataFrame, courses: DataFrame, enrollments: DataFrame) -> DataFrame:
    """gold.skill_coverage: one row per department and skill (department, skill) for every
    department with learners and every skill some course teaches: courses teaching it, learners
    in the department, those who completed a course teaching it, and their share."""
    staff = learners.filter(F.col("department").isNotNull()).select("learner_id", "department")
    teaching = courses.select("course_id", F.explode("skills").alias("skill")).filter(
        F.col("skill").isNotNull() & (F.col("skill") != "")
    )
    skills = teaching.groupBy("skill").agg(F.countDistinct("course_id").alias("courses"))
    departments = staff.groupBy("department").agg(F.countDistinct("learner_id").alias("learners"))
    skilled = (
        enrollments.filter(F.col("status") == "completed")
        .join(teaching, "course_id")
        .join(staff, "learner_id")
        .groupBy("department", "skill")
        .agg(F.countDistinct("learner_id").alias("learners_with_skill"))
    )
    grid = (
        departments.crossJoin(skills)
        .join(skilled, ["department", "skill"], "left")
        .fillna(0, subset=["learners_with_skill"])
    )
    return grid.select(
        "department",
        "skill",
        F.col("courses").cast("bigint").alias("courses"),
        F.col("learners").cast("bigint").alias("learners"),
        F.col("learners_with_skill").cast("bigint").alias("learners_with_skill"),
        _ratio("learners_with_skill", "learners").alias("coverage"),
    )
