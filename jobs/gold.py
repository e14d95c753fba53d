"""Gold: the star schema (SCD2 dims, dim_date, the activity and enrolment facts) and the
aggregates (course_stats, learner_engagement, skill_coverage).

The dimensions carry history: each night applies the silver snapshot to the previous dimension
(lakehouse.star_schema.scd2_dimension). gold.fact_learning_activity, the one gold table as large
as silver.interactions, is incremental: the groups (learner x item x day) whose interactions
changed since gold's last run, read from silver.interactions' change data feed (from the version
in control.offsets), are recomputed from silver and MERGEd, groups left without interactions
deleted; the offset advances after every gold table committed. The rest is recomputed every
night from the activity facts and the small silver tables, never from silver.interactions:
dim_date, fact_enrollment, and the aggregates, whose 7- and 30-day windows and recency move with
the run date anyway. The dimensions and skill_coverage read only the small silver tables (their
last data versions are recorded in control.offsets too): when those did not change since gold's
last run, they are left as that run wrote them, which is what recomputing them would give. A
rerun of a night starts from where that night first started, so it recomputes the same groups.
The first run, and `--full-rebuild` (conf `run.full_rebuild`), recompute the facts from the
whole of silver.interactions and merge them the same way (and every other table); both ways
give the same tables, because a fact's dimension keys are those of the versions valid at its
first event, which later nights never change (new versions start at the end of the night that
saw them).

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
from lakehouse.changes import BROADCAST_ROWS, ROW_HASH, changed_scope, in_scope
from lakehouse.runs import data_end, job_main
from lakehouse.star_schema import (
    ACTIVITY_FACT_COLUMNS,
    SCD2_COLUMNS,
    course_dimension,
    course_items,
    course_statistics,
    date_dimension,
    enrollment_facts,
    learner_dimension,
    learner_engagement,
    learning_activity_facts,
    skill_coverage,
)

log = logging.getLogger("lakehouse.gold")

# The consumer name of gold's offsets in control.offsets.
CONSUMER = "gold"
INTERACTIONS = "silver.interactions"
ACTIVITY = "gold.fact_learning_activity"
SKILLS = "gold.skill_coverage"
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
    recomputed), and the silver snapshot tables unchanged since gold's last run
    (`unchanged_inputs`)."""
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
    counts.update({name: read(name).count() for name in dimensions if name not in outputs})
    dim_learner, dim_course = read("gold.dim_learner"), read("gold.dim_course")
    activity = build_activity_facts(
        spark, cfg, interactions, version, offsets, dim_learner, dim_course
    )
    counts[ACTIVITY] = activity.pop("rows")
    processed[INTERACTIONS] = activity.pop("version")
    facts = read(ACTIVITY)
    current_learners = dim_learner.filter(F.col("is_current"))
    current_courses = dim_course.filter(F.col("is_current"))

    # The calendar reaches the run date even when the last event is older.
    calendar = (
        facts.select(F.col("activity_date").alias("event_date"))
        .unionByName(enrollments.select(F.to_date("enrolled_at").alias("event_date")))
        .unionByName(enrollments.select(F.to_date("completed_at").alias("event_date")))
        .unionByName(spark.createDataFrame([(run_date,)], "event_date date"))
        .filter(F.col("event_date").isNotNull())
    )
    outputs = {
        "gold.dim_date": date_dimension(calendar),
        "gold.fact_enrollment": enrollment_facts(
            enrollments, facts, courses, dim_learner, dim_course
        ),
        "gold.course_stats": course_statistics(current_courses, enrollments, facts, run_date),
        "gold.learner_engagement": learner_engagement(
            current_learners, facts, enrollments, run_date
        ),
    }
    # Reads silver's learners, courses and enrolments only.
    if not set(SNAPSHOTS) <= unchanged or not tables.table_exists(spark, cfg, SKILLS):
        outputs[SKILLS] = skill_coverage(learners, courses, enrollments)
    counts.update(tables.overwrite_tables(spark, cfg, outputs))
    if SKILLS not in outputs:
        counts[SKILLS] = read(SKILLS).count()
    # Only after every gold table committed: a run dying earlier reads the same changes again.
    tables.advance_offsets(spark, cfg, CONSUMER, processed)
    return {**counts, **activity, "unchanged_inputs": sorted(unchanged)}


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
        groups = scope.count()
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
    rows = tables.read_table(spark, cfg, ACTIVITY).count()
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
