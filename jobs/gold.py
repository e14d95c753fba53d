"""Gold: the star schema (SCD2 dims, dim_date, the activity and enrolment facts) and the
aggregates (course_stats, learner_engagement, skill_coverage).

The dimensions carry history: each night applies the silver snapshot to the previous dimension
(lakehouse.star_schema.scd2_dimension). gold.fact_learning_activity, the one gold table as large as
silver.interactions, is incremental: the groups (learner x item x day) whose interactions changed
since gold's last run, read from silver.interactions' change data feed (from the version in
control.offsets), are recomputed from silver and MERGEd, groups left without interactions deleted;
the offset advances after every gold table committed. The facts' own change data feed then keeps
three summaries up to date without rescanning them: gold.learner_activity_days (every learner's
active days, with their rows and events: sums, so any change folds in exactly), the enrolments'
first activity and events behind gold.fact_enrollment (a minimum, so only new facts fold in, onto
unchanged enrolments and courses; other changes rebuild it from the facts) and
gold.course_learner_starts (each course x learner pair's first day: a minimum too, rebuilt when a
fact was deleted). learner_engagement and dim_date are computed from the active days, whose 30-day
windows, recency and streaks move with the run date anyway; course_stats counts its learners from
the starts, and reads of the facts only those with ratings and those of its 30-day window. The
dimensions and skill_coverage read only the small silver tables (their last data versions are
recorded in control.offsets too): when those did not change since gold's last run, they are left as
that run wrote them, which is what recomputing them would give; so are the summaries when they
already hold what the night built (a rerun compares them), so that the versions recorded
for them stay those of the night rerun. A rerun of a night starts from where that night first
started, so it recomputes the same groups. The first run, and `--full-rebuild` (conf
`run.full_rebuild`), recompute the facts from the whole of silver.interactions and merge them the
same way (and every other table); both ways give the same tables, because a fact's dimension keys
are those of the versions valid at its first event, which later nights never change (new versions
start at the end of the night that saw them).

spark-submit --py-files dist/lakehouse.zip jobs/gold.py --profile cluster --date 2026-11-02 \
    [--full-rebuild]
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.changes import BROADCAST_ROWS, ROW_HASH, changed_scope, in_scope, same_rows
from lakehouse.runs import data_end, job_main
from lakehouse.spark import local_rows
from lakehouse.star_schema import (
    ACTIVITY_FACT_COLUMNS,
    SCD2_COLUMNS,
    course_dimension,
    course_items,
    course_learner_starts,
    course_statistics,
    date_dimension,
    earlier_course_learner_starts,
    enrollment_activity,
    enrollment_facts,
    learner_activity_days,
    learner_dimension,
    learner_engagement,
    learning_activity_facts,
    skill_coverage,
    with_changed_activity_days,
    with_more_course_learner_starts,
    with_more_enrollment_activity,
)

log = logging.getLogger("lakehouse.gold")

# The consumer name of gold's offsets in control.offsets.
CONSUMER = "gold"
INTERACTIONS = "silver.interactions"
ACTIVITY = "gold.fact_learning_activity"
SKILLS = "gold.skill_coverage"
DAYS = "gold.learner_activity_days"
ENROLLMENT = "gold.fact_enrollment"
STARTS = "gold.course_learner_starts"
# The small silver tables gold reads whole; recorded in control.offsets like interactions.
SNAPSHOTS = ("silver.learners", "silver.courses", "silver.enrollments")


def previous_dimension(spark: SparkSession, cfg: dict[str, Any], name: str) -> DataFrame | None:
    """The SCD2 dimension `name` as the last night left it; None before the first SCD2 load
    (no table, or one from before the dimensions kept history, which is rebuilt)."""
    if not tables.table_exists(spark, cfg, name):
        return None
    previous = tables.read_table(spark, cfg, name)
    return previous if set(SCD2_COLUMNS) <= set(previous.columns) else None


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """Rows per gold table after this run, and how the activity facts were built
    (`activity_mode`: incremental or full, and `activity_groups`: learner x item x day groups
    recomputed), how the learners' active days, the enrolments' activity and the course x
    learner starts were (`activity_days`, `enrollment_activity`, `course_learner_starts`:
    changes, folded onto the last run's, or full), and
    the silver snapshot tables unchanged since gold's last run (`unchanged_inputs`)."""
    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731
    run_date: dt.date = cfg["run"]["date"]
    as_of = data_end(run_date)
    # Pinned: changes committed after these versions are the next run's.
    versions = {name: tables.table_version(spark, cfg, name) for name in (INTERACTIONS, *SNAPSHOTS)}
    pinned = lambda name: tables.read_table(spark, cfg, name, versions[name])  # noqa: E731
    learners = pinned("silver.learners")
    courses = pinned("silver.courses").transform(course_items)
    enrollments = pinned("silver.enrollments")
    version = versions[INTERACTIONS]
    interactions = pinned(INTERACTIONS)
    processed = {
        name: tables.last_data_version(spark, cfg, name, versions[name]) for name in SNAPSHOTS
    }
    # Where this run starts (none on a full rebuild: everything is recomputed).
    offsets = {}
    if not cfg["run"].get("full_rebuild"):
        offsets = tables.read_offsets(spark, cfg, CONSUMER, run_date)
    unchanged = unchanged_snapshots(offsets, processed)

    # Written first and read back: the facts and aggregates key on the committed versions.
    # A dimension whose silver table did not change since gold's last run stays as it is: the
    # same snapshot applied again leaves it identical, so rewriting it would only cost time.
    dimensions = {
        "gold.dim_learner": ("silver.learners", learner_dimension, learners),
        "gold.dim_course": ("silver.courses", course_dimension, courses),
    }
    outputs = {}
    for name, (source, build, snapshot) in dimensions.items():
        previous = previous_dimension(spark, cfg, name)
        if previous is None or source not in unchanged:
            outputs[name] = build(previous, snapshot, as_of)
    counts = tables.overwrite_tables(spark, cfg, outputs)
    counts.update(
        {name: tables.table_rows(spark, cfg, name) for name in dimensions if name not in outputs}
    )
    dim_learner, dim_course = read("gold.dim_learner"), read("gold.dim_course")
    activity = build_activity_facts(
        spark, cfg, interactions, version, offsets, dim_learner, dim_course
    )
    counts[ACTIVITY] = activity.pop("rows")
    processed[INTERACTIONS] = activity.pop("version")
    # Facts from before their change data feed was declared record it from this commit on.
    tables.ensure_table_properties(spark, cfg, ACTIVITY)
    facts_version = tables.table_version(spark, cfg, ACTIVITY)
    facts = read(ACTIVITY)
    current_learners = dim_learner.filter(F.col("is_current"))
    current_courses = dim_course.filter(F.col("is_current"))

    # The learners' active days, the enrolments' activity and the course x learner starts,
    # from the facts' changes since they were last built when that is exact, else from every
    # fact.
    changes = fact_changes(spark, cfg, offsets, facts_version)
    built = {}
    starts, appended = None, False
    kinds: dict[str, int] = {}
    if changes is None:
        days, started = learner_activity_days(facts), enrollment_activity(facts, courses)
        built["activity_days"] = built["enrollment_activity"] = "full"
    else:
        days = with_changed_activity_days(previous_table(spark, cfg, offsets, DAYS), changes)
        built["activity_days"] = "changes"
        kinds = {r[0]: r[1] for r in changes.groupBy("_change_type").count().collect()}
        # min() cannot take a row back: only new facts fold into the enrolments' starts, and
        # only onto the same enrolments and parent courses.
        if set(kinds) <= {"insert"} and {"silver.courses", "silver.enrollments"} <= unchanged:
            before = previous_table(spark, cfg, offsets, ENROLLMENT)
            more = enrollment_activity(changes, courses)
            started = with_more_enrollment_activity(before, more)
            built["enrollment_activity"] = "changes"
        else:
            started = enrollment_activity(facts, courses)
            built["enrollment_activity"] = "full"
        # A pair's first day moves only with new facts (an update keeps its fact's day) or
        # deleted ones, after which the starts are rebuilt.
        if "delete" not in kinds and STARTS in offsets and tables.table_exists(spark, cfg, STARTS):
            inserted = changes.filter(F.col("_change_type") == "insert")
            starts, appended = more_course_learner_starts(
                spark, cfg, offsets, course_learner_starts(inserted), sum(kinds.values())
            )
            built["course_learner_starts"] = "changes"
    if starts is None:
        starts = course_learner_starts(facts)
        built["course_learner_starts"] = "full"
    # Computed once for the tables below and their own writes, all in one batch of writes
    # (appended, the starts are the table's rows, read once).
    days = days.localCheckpoint()
    if not appended:
        starts = starts.localCheckpoint()

    # The calendar reaches the run date even when the last event is older.
    dates = F.transform("days", lambda d: d["activity_date"])
    calendar = (
        days.select(F.array_min(dates).alias("event_date"))
        .unionByName(days.select(F.array_max(dates).alias("event_date")))
        .unionByName(enrollments.select(F.to_date("enrolled_at").alias("event_date")))
        .unionByName(enrollments.select(F.to_date("completed_at").alias("event_date")))
        .unionByName(local_rows(spark, [(run_date,)], "event_date date"))
        .filter(F.col("event_date").isNotNull())
    )
    # The longest first (course_stats reads the facts of its windows): the others fill the gaps.
    outputs = {
        "gold.course_stats": course_statistics(
            current_courses, enrollments, facts, starts, run_date
        ),
        ENROLLMENT: enrollment_facts(enrollments, started, dim_learner, dim_course),
        DAYS: days,
        "gold.learner_engagement": learner_engagement(
            current_learners, days, enrollments, run_date
        ),
        "gold.dim_date": date_dimension(calendar),
    }
    if not appended:
        outputs[STARTS] = starts
    # Reads silver's learners, courses and enrolments only.
    if not set(SNAPSHOTS) <= unchanged or not tables.table_exists(spark, cfg, SKILLS):
        outputs[SKILLS] = skill_coverage(learners, courses, enrollments)
    # The tables the next night folds onto stay as they are when they already hold what this
    # night built (a rerun, or a night without new facts): the versions control.offsets
    # records for them, like the rows, are then those of the night rerun.
    nothing_new = changes is not None and not kinds
    kept = [
        name
        for name, still in (
            (DAYS, nothing_new),
            (STARTS, nothing_new),
            (ENROLLMENT, nothing_new and set(SNAPSHOTS) <= unchanged),
        )
        if name in outputs and holds_already(spark, cfg, offsets, name, outputs[name], still)
    ]
    for name in kept:
        del outputs[name]
    counts.update(tables.overwrite_tables(spark, cfg, outputs))
    if changes is not None:
        changes.unpersist()
    counts.update(
        {
            name: tables.table_rows(spark, cfg, name)
            for name in (SKILLS, *kept, *([STARTS] if appended else []))
            if name not in outputs
        }
    )
    # What the next night folds its changes onto: these versions of the facts and tables.
    processed[ACTIVITY] = tables.last_data_version(spark, cfg, ACTIVITY, facts_version)
    for name in (DAYS, ENROLLMENT, STARTS):
        processed[name] = tables.last_data_version(spark, cfg, name)
    # Only after every gold table committed: a run dying earlier reads the same changes again.
    tables.advance_offsets(spark, cfg, CONSUMER, processed)
    return {**counts, **activity, **built, "unchanged_inputs": sorted(unchanged)}


def fact_changes(
    spark: SparkSession, cfg: dict[str, Any], offsets: dict[str, dict], version: int
) -> DataFrame | None:
    """The activity facts' change data feed (cached) since the version the last run built
    gold.learner_activity_days and fact_enrollment (and course_learner_starts) from, up to
    `version`; None when there is no such start (first run, full rebuild, those tables
    missing, the changes not recorded): they are then built from every fact."""
    if any(name not in offsets for name in (ACTIVITY, DAYS, ENROLLMENT)):
        return None
    if not all(tables.table_exists(spark, cfg, name) for name in (DAYS, ENROLLMENT)):
        return None
    changes = tables.changes_if_recorded(
        spark, cfg, ACTIVITY, offsets[ACTIVITY]["version"], version
    )
    return None if changes is None else changes.persist()


def more_course_learner_starts(
    spark: SparkSession,
    cfg: dict[str, Any],
    offsets: dict[str, dict],
    more: DataFrame,
    changed_rows: int,
) -> tuple[DataFrame, bool]:
    """(gold.course_learner_starts with the course_learner_starts of this night's new facts
    (`more`) folded in, whether they were appended to the table): appended when they only add
    pairs to the table as the last night left it (the usual night), else folded onto the last
    night's starts for a write of the whole table (also a rerun, which finds it written)."""
    broadcast = changed_rows <= BROADCAST_ROWS
    if not as_recorded(spark, cfg, offsets, STARTS):
        previous = previous_table(spark, cfg, offsets, STARTS)
        return with_more_course_learner_starts(previous, more, broadcast), False
    previous = tables.read_table(spark, cfg, STARTS)
    changing = earlier_course_learner_starts(previous, more, broadcast).localCheckpoint()
    if changing.filter(F.col("known")).limit(1).count():
        return with_more_course_learner_starts(previous, more, broadcast), False
    # Only new pairs: one small append instead of rewriting every pair.
    if not changing.isEmpty():
        tables.append_table(changing.drop("known"), cfg, STARTS)
    return tables.read_table(spark, cfg, STARTS), True


def previous_table(
    spark: SparkSession, cfg: dict[str, Any], offsets: dict[str, dict], name: str
) -> DataFrame:
    """Table `name` as the last run left it (the version in `offsets`; on a rerun, as the night
    started), what this night's fact changes fold onto."""
    recorded = offsets[name]["version"]
    current = tables.table_version(spark, cfg, name)
    # The same rows when only maintenance committed since: read where the files surely are.
    same = tables.last_data_version(spark, cfg, name, current) == recorded
    return tables.read_table(spark, cfg, name, current if same else recorded)


def as_recorded(
    spark: SparkSession, cfg: dict[str, Any], offsets: dict[str, dict], name: str
) -> bool:
    """Whether table `name` holds the rows of the version `offsets` recorded for it (only
    maintenance committed since): as the last run left it."""
    return tables.last_data_version(spark, cfg, name) == offsets[name]["version"]


def holds_already(
    spark: SparkSession,
    cfg: dict[str, Any],
    offsets: dict[str, dict],
    name: str,
    rows: DataFrame,
    nothing_new: bool,
) -> bool:
    """Whether table `name` already holds `rows`, what this night built for it: `nothing_new`
    (no change was folded onto it) when it is still as the last night left it, else (a rerun,
    a full build) whether its rows are the same."""
    if not tables.table_exists(spark, cfg, name):
        return False
    if name in offsets and as_recorded(spark, cfg, offsets, name):
        return nothing_new
    return same_rows(rows, tables.read_table(spark, cfg, name))


def unchanged_snapshots(offsets: dict[str, dict], processed: dict[str, int]) -> set[str]:
    """The silver snapshot tables (learners, courses, enrolments) whose last data version is the
    one gold's previous run recorded in `offsets` (none before such a record): the gold tables
    built from them alone are still what that run left."""
    return {
        name
        for name, version in processed.items()
        if name in offsets and offsets[name]["version"] == version
    }


def build_activity_facts(
    spark: SparkSession,
    cfg: dict[str, Any],
    interactions: DataFrame,
    version: int,
    offsets: dict[str, dict],
    dim_learner: DataFrame,
    dim_course: DataFrame,
) -> dict[str, Any]:
    """gold.fact_learning_activity's rows after merging this night's facts into it (`rows`;
    incremental from the offset of silver.interactions in `offsets`, if any), with
    `activity_mode` (incremental or full), `activity_groups` (groups recomputed; None for
    full) and `version`, the silver.interactions version to record as processed."""
    changes = None
    offset = offsets.get(INTERACTIONS)
    if offset is not None and _has_columns(spark, cfg):
        changes = tables.changes_if_recorded(spark, cfg, INTERACTIONS, offset["version"], version)
    if changes is None:
        facts = learning_activity_facts(interactions, dim_learner, dim_course)
        merged = tables.merge_table(facts, cfg, ACTIVITY, delete_unmatched=True)
        mode, groups = "full", None
    else:
        days = {c: F.col(c) for c in ("learner_id", "course_id")}
        scope = changed_scope(changes, {**days, "activity_date": F.col("event_date")}).persist()
        groups, first, last, undated = scope.agg(
            F.count(F.lit(1)),
            F.min("activity_date"),
            F.max("activity_date"),
            F.count(F.when(F.col("activity_date").isNull(), 1)),
        ).first()
        if first is not None and not undated:
            # Silver's files skipped by their days' range: a night's changes are mostly today's.
            interactions = interactions.filter(F.col("event_date").between(first, last))
        touched = in_scope(
            interactions,
            scope.withColumnRenamed("activity_date", "event_date"),
            broadcast=groups <= BROADCAST_ROWS,
        )
        facts = learning_activity_facts(touched, dim_learner, dim_course)
        merged = tables.merge_table(facts, cfg, ACTIVITY, within=scope)
        scope.unpersist()
        mode = "incremental"
    log.info("%s (%s): %s", ACTIVITY, mode, merged)
    rows = tables.table_rows(spark, cfg, ACTIVITY)
    # Maintenance commits since the last change do not move the offset: reruns record the same.
    processed = tables.last_data_version(spark, cfg, INTERACTIONS, version)
    return {"rows": rows, "activity_mode": mode, "activity_groups": groups, "version": processed}


def _has_columns(spark: SparkSession, cfg: dict[str, Any]) -> bool:
    """Whether the activity facts exist with the columns this code writes (else: rebuilt)."""
    if not tables.table_exists(spark, cfg, ACTIVITY):
        return False
    current = tables.read_table(spark, cfg, ACTIVITY).columns
    return current == [*ACTIVITY_FACT_COLUMNS, ROW_HASH]


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "gold", argv)


if __name__ == "__main__":
    sys.exit(main())
