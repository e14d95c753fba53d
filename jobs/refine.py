"""Refine: bronze to silver (learners, courses, enrollments, interactions), typed and deduplicated.

The silver model is one; `refine.model` in conf/ says which sources feed it (lms or oulad).

Silver tables are MERGEd on their keys (conf `tables:`) with a payload hash (`_row_hash`): a row
whose hash is unchanged is not rewritten, so reprocessing a batch changes nothing. The small tables
(learners, courses, enrollments) are recomputed from the whole of bronze and merged, rows whose key
is gone deleted; a night whose run would build them exactly as the last one did (their bronze feeds
and silver unchanged since, the same quality rules, no row whose freshness the new run date judges
otherwise) keeps them as they are and records the last run's quarantine and quality rows of those
tables again for its own date. silver.interactions is incremental: only the bronze rows appended to
its feeds since refine's last run (their change data feed, from the versions in control.offsets)
are processed. Their groups (learner x course x day, see lakehouse.changes) are recomputed from
every bronze row of those groups and merged, rows of those groups that are no longer produced
deleted: late events land in their day, repeated deliveries collapse, tombstones delete. Also
checked again each night: the interactions quarantined by the last run (a missing learner may have
arrived), those of learners and courses that left silver (their references now fail) and those a
freshness rule now finds too old. The offsets advance only after silver committed. The first run, a
run whose feeds recorded no change feed since the offsets, and `--full-rebuild` (conf
`run.full_rebuild`) recompute every interaction from the whole of bronze instead; both ways give
the same silver.

Every silver table's rows go through its quality rules (conf `quality:`, lakehouse/quality.py)
before any table is written. Rows failing a rule go to silver.quarantine instead of silver;
each rule's counts and each table's row balance (bronze rows = silver + quarantined + removed
duplicates) go to gold.data_quality_runs; both replace the run date's rows, so a rerun of a
night does not duplicate them. For incremental interactions these figures are the run's batch:
the row balance counts the bronze rows it read (the new rows and the earlier rows of the groups
it recomputes), the rows it produced that passed (merged) and those it quarantined; the rules'
checked and failed rows, and so their thresholds, count the groups that new bronze rows touch
(rows only checked again, such as last night's quarantined ones, already faced them: a backlog
of events dated after the run date would otherwise fail every night's small batch). A rule
failing more rows than its error threshold fails the run with DataQualityError before anything
is written: no silver, quarantine or gold table changes (the failed run's counts are in the
error message and the log, not in gold.data_quality_runs).

spark-submit --py-files dist/lakehouse.zip jobs/refine.py --profile cluster --date 2026-11-02 \
    [--full-rebuild]
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import quality, tables
from lakehouse.changes import BROADCAST_ROWS, batch_scope, in_scope, rows_touching
from lakehouse.config import table_conf
from lakehouse.courses import (
    CATALOG_DETAILS_SCHEMA,
    conform_lms_courses,
    current_catalog_entries,
    with_catalog_details,
)
from lakehouse.enrollments import conform_enrollments
from lakehouse.interactions import (
    INTERACTION_SCOPE,
    activity_events_as_interactions,
    conform_interactions,
    dedupe_interactions,
    lms_interaction_scope,
    ratings_as_interactions,
    with_confidence,
)
from lakehouse.learners import conform_learners
from lakehouse.oulad import (
    oulad_courses,
    oulad_enrollments,
    oulad_interactions,
    oulad_learners,
    student_vle_days_between,
    student_vle_scope,
)
from lakehouse.runs import job_main

log = logging.getLogger("lakehouse.refine")

# The consumer name of refine's offsets in control.offsets.
CONSUMER = "refine"
INTERACTIONS = "silver.interactions"
# The small silver tables rebuilt from the whole of bronze (unless kept: kept_snapshots).
SNAPSHOTS = ("silver.learners", "silver.courses", "silver.enrollments")
SCOPE_SCHEMA = "learner_id bigint, course_id bigint, event_date date"

# The bronze tables whose rows feed each silver table of the LMS model (its row balance).
LMS_FEEDS = {
    "silver.learners": ["bronze.lms_learners"],
    "silver.courses": ["bronze.lms_courses"],
    "silver.enrollments": ["bronze.lms_enrollments"],
    "silver.interactions": ["bronze.lms_activity_events", "bronze.lms_ratings"],
}
# The same for the OULAD model, as parts of conf `sources.files.oulad.files`.
OULAD_FEEDS = {
    "silver.learners": ["student_info"],
    "silver.courses": ["courses", "vle"],
    "silver.enrollments": ["student_registration"],
    "silver.interactions": ["student_vle"],
}


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """Rows per silver table after this run, the quarantine rows of the run (`silver.quarantine`),
    whether the small tables were kept as the last run left them (`snapshots_kept`, see
    kept_snapshots), how interactions were processed (`interactions_mode`: incremental or full)
    and the bronze rows that batch read (`interactions_bronze_rows`); raises
    quality.DataQualityError, changing no table, when a rule fails more rows than its error
    threshold allows."""
    model = cfg.get("refine", {}).get("model", "lms")
    models = {"lms": (lms_silver, lms_interactions), "oulad": (oulad_silver, oulad_interactions_of)}
    if model not in models:
        raise ValueError(f"unknown refine.model {model!r} (known: {', '.join(models)})")
    if model == "lms":
        feeds = LMS_FEEDS
    else:
        feeds = {name: [_oulad_bronze(cfg, p) for p in ps] for name, ps in OULAD_FEEDS.items()}
    snapshot_builder, interactions_builder = models[model]
    persisted: list[DataFrame] = []
    try:
        snapshots = snapshot_builder(spark, cfg)
        # The small tables' feeds, as of now: rows appended later are the next run's.
        snapshot_feeds = sorted({feed for name in SNAPSHOTS for feed in feeds[name]})
        feed_versions = offsets_to_record(
            spark, cfg, {feed: tables.table_version(spark, cfg, feed) for feed in snapshot_feeds}
        )
        fingerprint = snapshot_fingerprint(cfg)
        kept = kept_snapshots(spark, cfg, snapshots, feed_versions, fingerprint)
        if kept is None:
            flagged, results = quality_checked(
                spark, cfg, snapshots, bronze_counts(spark, cfg, feeds, snapshots), persisted
            )
            passing = {name: quality.passing_rows(rows) for name, rows in flagged.items()}
        else:
            # Silver stands as the last run left it: its rows are the ones that passed.
            log.info("%s: bronze and rules as on %s: kept as they are", ", ".join(SNAPSHOTS), kept)
            flagged, results = {}, []
            passing = {name: tables.read_table(spark, cfg, name) for name in SNAPSHOTS}
        # Kept as they are, the small tables lost nobody whose interactions must go.
        changed = passing if kept is None else None
        batch = interaction_batch(spark, cfg, model, interactions_builder, changed, persisted)
        checked, interaction_results = quality_checked(
            spark, cfg, {INTERACTIONS: batch["rows"]}, {INTERACTIONS: batch["bronze_rows"]},
            persisted, passing, {INTERACTIONS: batch["new"]} if batch["new"] is not None else None,
        )  # fmt: skip
        flagged.update(checked)
        results += interaction_results
        for result in results:
            log.info("quality %s", result)
        quality.enforce_thresholds(results)
        counts = write_checked(spark, cfg, flagged, results, batch["scope"], kept)
        written = {
            f"{name}@{fingerprint}": tables.last_data_version(spark, cfg, name)
            for name in SNAPSHOTS
        }
        # Only now that silver committed: a run dying before this reprocesses the same batch,
        # which the MERGE finds unchanged.
        tables.advance_offsets(
            spark, cfg, CONSUMER, {**batch["versions"], **feed_versions, **written}
        )
        return {
            **counts,
            "snapshots_kept": kept is not None,
            "interactions_mode": batch["mode"],
            "interactions_bronze_rows": batch["bronze_rows"],
        }
    finally:
        for df in persisted:
            df.unpersist()


def snapshot_fingerprint(cfg: dict[str, Any]) -> str:
    """The fingerprint of the small silver tables' quality rules (recorded with their versions
    in control.offsets: other rules would judge their rows otherwise)."""
    rules = cfg.get("quality") or {}
    return quality.rules_fingerprint({name: rules.get(name) or [] for name in SNAPSHOTS})


def kept_snapshots(
    spark: SparkSession,
    cfg: dict[str, Any],
    snapshots: dict[str, DataFrame],
    feed_versions: dict[str, int],
    fingerprint: str,
) -> dt.date | None:
    """The run date of refine's last run when this run would build the small silver tables
    (learners, courses, enrollments: `snapshots`, their conformed rows) exactly as it did: no
    full rebuild; their bronze feeds (at `feed_versions`) and silver unchanged since, under the
    same quality rules (`fingerprint`); that run's quality figures recorded, none of its
    quarantine rows a freshness failure (whose reason names its run date); no row the
    freshness rules judge otherwise on this run date. None otherwise: they are rebuilt."""
    if cfg["run"].get("full_rebuild"):
        return None
    # Their quarantine rows' source batch is then the run's own, which write_checked renames.
    if any("_batch_id" in rows.columns for rows in snapshots.values()):
        return None
    offsets = tables.read_offsets(spark, cfg, CONSUMER, cfg["run"]["date"])
    written = {name: offsets.get(f"{name}@{fingerprint}") for name in SNAPSHOTS}
    if any(feed not in offsets for feed in feed_versions) or None in written.values():
        return None
    if any(offsets[feed]["version"] != v for feed, v in feed_versions.items()):
        return None
    last_runs = {o["run_date"] for o in written.values()}
    last_runs |= {offsets[feed]["run_date"] for feed in feed_versions}
    if len(last_runs) != 1:
        return None
    last_run = last_runs.pop()
    if any(tables.last_data_version(spark, cfg, n) != o["version"] for n, o in written.items()):
        return None
    on_last_run = (F.col("run_date") == F.lit(last_run)) & F.col("table_name").isin(*SNAPSHOTS)
    if not tables.table_exists(spark, cfg, quality.RUNS_TABLE):
        return None
    balances = (
        tables.read_table(spark, cfg, quality.RUNS_TABLE)
        .filter(on_last_run & (F.col("rule") == quality.BALANCE_RULE))
        .select("quarantined_rows")
        .collect()
    )
    if len(balances) != len(SNAPSHOTS):
        return None
    # Rows that forbid keeping the tables, all looked for in one query.
    against: list[DataFrame] = []
    quarantined = None
    # The last run's balances count its quarantined rows: none (the usual night), no scan.
    if any(r[0] != 0 for r in balances) and tables.table_exists(
        spark, cfg, quality.QUARANTINE_TABLE
    ):
        quarantined = tables.read_table(spark, cfg, quality.QUARANTINE_TABLE).filter(on_last_run)
        against.append(quarantined.filter(F.col("check_type") == "freshness"))
    rules = cfg.get("quality") or {}
    for name, rows in snapshots.items():
        moved = quality.freshness_moves(rules.get(name) or [], last_run, cfg["run"]["date"])
        if moved is None:
            continue
        # The rows this run conforms are the last run's, which went to silver (unchanged since)
        # or to the quarantine: judged there, rather than built again from bronze.
        against.append(tables.read_table(spark, cfg, name).filter(moved))
        if quarantined is not None:
            values = F.from_json("offending_values", rows.schema).alias("row")
            judged = quarantined.filter(F.col("table_name") == name).select(values)
            against.append(judged.select("row.*").filter(moved))
    found = [rows.select(F.lit(1).alias("found")) for rows in against]
    if found and functools.reduce(DataFrame.unionByName, found).limit(1).count():
        return None
    return last_run


def bronze_counts(
    spark: SparkSession,
    cfg: dict[str, Any],
    feeds: dict[str, list[str]],
    silver: dict[str, DataFrame],
) -> dict[str, int]:
    """Rows of the bronze tables feeding each of the given silver tables, by silver table."""
    return {
        name: sum(tables.read_table(spark, cfg, b).count() for b in feeds[name]) for name in silver
    }


def quality_checked(
    spark: SparkSession,
    cfg: dict[str, Any],
    silver: dict[str, DataFrame],
    bronze_rows: dict[str, int],
    persisted: list[DataFrame],
    passing: dict[str, DataFrame] | None = None,
    judged: dict[str, DataFrame] | None = None,
) -> tuple[dict[str, DataFrame], list[dict[str, Any]]]:
    """(each silver table's rows with their rule failures, by name; the rule results and row
    balances of every table), writing nothing; the DataFrames it caches go to `persisted`.

    Tables are checked in order, so a rule referring to an earlier table (interactions ->
    learners) sees only that table's passing rows (`passing` holds those of tables checked
    before). Removed duplicates are the bronze rows the conforming step collapsed (superseded
    versions of a key, repeated deliveries, rows of deleted keys): bronze rows (`bronze_rows`,
    by table) minus the rows it produced. A table with a scope in `judged` counts its rule
    results (and so faces its thresholds) on the rows of that scope only; its row balance
    counts every row.
    """
    run_date = cfg["run"]["date"]
    rules = cfg.get("quality") or {}
    flagged: dict[str, DataFrame] = {}
    results: list[dict[str, Any]] = []
    passing = dict(passing or {})
    for name, rows in silver.items():
        table_rules = rules.get(name) or []
        rows = rows.persist()
        checked = quality.with_rule_failures(rows, name, table_rules, passing, run_date).persist()
        persisted += [rows, checked]
        conformed = rows.count()
        silver_rows, quarantined = quality.outcome_counts(checked)
        bronze = bronze_rows[name]
        scope = (judged or {}).get(name)
        results += quality.rule_results(
            checked if scope is None else in_scope(checked, scope), name, table_rules
        )
        results.append(
            quality.row_balance(name, bronze, silver_rows, quarantined, bronze - conformed)
        )
        flagged[name] = checked
        passing[name] = quality.passing_rows(checked)
    return flagged, results


def interaction_feeds(cfg: dict[str, Any], model: str) -> dict[str, tuple[list[str], dict]]:
    """Per bronze table feeding silver.interactions: its keys (conf `tables:`) and the columns
    giving a row's interaction scope (learner, course, day)."""
    if model == "lms":
        scopes = {
            "bronze.lms_activity_events": lms_interaction_scope("ts"),
            "bronze.lms_ratings": lms_interaction_scope("ts"),
        }
    else:
        months = cfg["oulad"]["start_months"]
        scopes = {_oulad_bronze(cfg, "student_vle"): student_vle_scope(months)}
    return {name: (list(table_conf(cfg, name)["keys"]), scope) for name, scope in scopes.items()}


def _oulad_bronze(cfg: dict[str, Any], part: str) -> str:
    """The bronze table the OULAD file `part` (conf sources.files.oulad.files) loads into."""
    return cfg["sources"]["files"]["oulad"]["files"][part]["bronze"]


def days_condition(
    spark: SparkSession, cfg: dict[str, Any], model: str, name: str, scope: DataFrame
) -> Column | None:
    """A cheap condition on the raw columns of feed `name` that every row of the scope's days
    meets (None when there is none: an LMS feed, or a scope with undated groups)."""
    if model != "oulad" or name != _oulad_bronze(cfg, "student_vle"):
        return None
    first, last, undated = scope.agg(
        F.min("event_date"), F.max("event_date"), F.count(F.when(F.col("event_date").isNull(), 1))
    ).first()
    if first is None or undated:
        return None
    # The presentations courses.csv lists, a few dozen rows: reading studentVle's codes would
    # scan all of its rows. Rows of codes it does not list are kept by the condition.
    courses = _oulad_bronze(cfg, "courses")
    codes = []
    if tables.table_exists(spark, cfg, courses):
        listed = tables.read_table(spark, cfg, courses).select("code_presentation").distinct()
        codes = [r[0] for r in listed.collect()]
    return student_vle_days_between(codes, first, last, cfg["oulad"]["start_months"])


def interaction_batch(
    spark: SparkSession,
    cfg: dict[str, Any],
    model: str,
    builder: Any,
    passing: dict[str, DataFrame] | None,
    persisted: list[DataFrame],
) -> dict[str, Any]:
    """What this run makes of silver.interactions: `rows` (the recomputed rows, unchecked),
    `scope` (the groups they cover, None when they are the whole table), `new` (those of the
    groups that new bronze rows touch), `bronze_rows` (rows read), `versions` (the offsets to
    record) and `mode`; `passing` holds the learners' and courses' rows of this run (None when
    silver's are kept as they are)."""
    feeds = interaction_feeds(cfg, model)
    versions = {name: tables.table_version(spark, cfg, name) for name in feeds}
    # Pinned to those versions: rows a concurrent ingest appends wait for the next run.
    bronze = {name: tables.read_table(spark, cfg, name, versions[name]) for name in feeds}
    scope = new = None
    if not cfg["run"].get("full_rebuild"):
        scope, new = incremental_scope(spark, cfg, feeds, versions, passing)
    if scope is None:
        rows = builder(cfg, bronze)
        read = sum(df.count() for df in bronze.values())
        for name in feeds:
            # A feed without a change data feed records changes from this (ALTER) commit on.
            tables.ensure_table_properties(spark, cfg, name)
        return {"rows": rows, "scope": None, "new": None, "bronze_rows": read, "mode": "full",
                "versions": offsets_to_record(spark, cfg, versions)}  # fmt: skip
    # Checkpointed, not cached: the scope reads silver.interactions and the quarantine, and a
    # cache of it would be recomputed (Delta refreshes caches of a table it writes) after
    # the merge below, finding other groups.
    scope, new = scope.localCheckpoint(), new.localCheckpoint()
    groups = scope.count()
    log.info("interactions: %d groups to recompute", groups)
    touched = {
        name: rows_touching(
            bronze[name],
            scope,
            keys,
            columns,
            broadcast=groups <= BROADCAST_ROWS,
            # Today's groups: the scope's days, found without computing every row's day.
            may_touch=days_condition(spark, cfg, model, name, scope),
        ).persist()
        for name, (keys, columns) in feeds.items()
    }
    persisted += list(touched.values())
    read = sum(df.count() for df in touched.values())
    return {"rows": builder(cfg, touched), "scope": scope, "new": new, "bronze_rows": read,
            "mode": "incremental", "versions": offsets_to_record(spark, cfg, versions)}  # fmt: skip


def offsets_to_record(
    spark: SparkSession, cfg: dict[str, Any], versions: dict[str, int]
) -> dict[str, int]:
    """Per feed, the offset that says it was processed up to `versions`: its last commit that
    changed rows, so that maintenance commits in between do not move it (reruns record the
    same)."""
    return {name: tables.last_data_version(spark, cfg, name, v) for name, v in versions.items()}


def incremental_scope(
    spark: SparkSession,
    cfg: dict[str, Any],
    feeds: dict[str, tuple[list[str], dict]],
    versions: dict[str, int],
    passing: dict[str, DataFrame] | None,
) -> tuple[DataFrame | None, DataFrame | None]:
    """(the interaction groups (learner, course, day) this night must recompute, those of them
    that new bronze rows touch); (None, None) when it cannot run incrementally (no
    silver.interactions or offsets yet, or a feed's change data feed does not cover the
    versions since its offset). The groups include those of learners and courses silver has
    and `passing` (this run's rows; None: silver's are kept) lacks."""
    offsets = tables.read_offsets(spark, cfg, CONSUMER, cfg["run"]["date"])
    if not tables.table_exists(spark, cfg, INTERACTIONS) or any(n not in offsets for n in feeds):
        return None, None
    parts = []
    for name, (keys, columns) in feeds.items():
        batch = tables.changes_if_recorded(
            spark, cfg, name, offsets[name]["version"], versions[name]
        )
        if batch is None:
            return None, None
        # Bronze is append-only: its changes are inserts.
        batch = batch.filter(F.col("_change_type") == "insert")
        rows = tables.read_table(spark, cfg, name, versions[name])
        parts.append(batch_scope(batch, rows, keys, columns))
    silver = tables.read_table(spark, cfg, INTERACTIONS)
    scope = list(INTERACTION_SCOPE)
    last_run = max(o["run_date"] for n, o in offsets.items() if n in feeds)
    if tables.table_exists(spark, cfg, quality.QUARANTINE_TABLE):
        parts.append(
            quality.quarantined_values(
                tables.read_table(spark, cfg, quality.QUARANTINE_TABLE),
                INTERACTIONS,
                last_run,
                SCOPE_SCHEMA,
            )
        )
    for table, column in (("silver.learners", "learner_id"), ("silver.courses", "course_id")):
        if passing is not None and tables.table_exists(spark, cfg, table):
            gone = (
                tables.read_table(spark, cfg, table)
                .select(column)
                .join(passing[table].select(column), column, "left_anti")
            )
            # Collected (a few keys at most): spares a scan of silver when nobody left.
            left = [r[0] for r in gone.collect()]
            if left:
                parts.append(silver.filter(F.col(column).isin(left)).select(*scope))
    old = quality.too_old(cfg.get("quality", {}).get(INTERACTIONS) or [], cfg["run"]["date"])
    if old is not None:
        parts.append(silver.filter(old).select(*scope))
    new = functools.reduce(DataFrame.unionByName, parts[: len(feeds)]).distinct()
    return functools.reduce(DataFrame.unionByName, parts).distinct(), new


def write_checked(
    spark: SparkSession,
    cfg: dict[str, Any],
    flagged: dict[str, DataFrame],
    results: list[dict[str, Any]],
    interaction_scope: DataFrame | None = None,
    kept: dt.date | None = None,
) -> dict[str, int]:
    """Rows per silver table and quarantine rows of the run, after merging the passing rows into
    silver (the whole table, or for interactions with a scope only the scope's groups) and
    replacing the run date's rows of the quarantine and data quality tables; with `kept`, the
    small tables stay as they are and their quarantine and quality rows of that run date are
    recorded again for this one."""
    run_date, batch_id = cfg["run"]["date"], cfg["run"].get("batch_id")
    counts = {}
    carried = {}
    if kept is not None:
        again = lambda name: (  # noqa: E731
            tables.read_table(spark, cfg, name)
            .filter((F.col("run_date") == F.lit(kept)) & F.col("table_name").isin(*SNAPSHOTS))
            .withColumn("run_date", F.lit(run_date).cast("date"))
            .withColumn("batch_id", F.lit(batch_id).cast("string"))
        )
        # Rows without a batch of their own (kept_snapshots) name the run's.
        renamed = {"source_batch": F.lit(batch_id).cast("string")}
        # Materialised: the run date's rows they come from may be those this run replaces.
        carried = {
            name: again(name).withColumns(renamed if name == quality.QUARANTINE_TABLE else {})
            for name in (quality.QUARANTINE_TABLE, quality.RUNS_TABLE)
            if tables.table_exists(spark, cfg, name)
        }
        carried = {name: rows.localCheckpoint() for name, rows in carried.items()}
        counts.update({name: tables.table_rows(spark, cfg, name) for name in SNAPSHOTS})

    def merged() -> dict[str, int]:
        rows_after = {}
        for name, rows in flagged.items():
            passed = quality.passing_rows(rows)
            if name == INTERACTIONS and interaction_scope is not None:
                result = tables.merge_table(passed, cfg, name, within=interaction_scope)
            else:
                result = tables.merge_table(passed, cfg, name, delete_unmatched=True)
            log.info("%s: %s", name, result)
            rows_after[name] = tables.table_rows(spark, cfg, name)
        return rows_after

    def quarantined() -> dict[str, int]:
        rows = functools.reduce(
            DataFrame.unionByName,
            [quality.quarantined_rows(r, name, run_date, batch_id) for name, r in flagged.items()]
            + ([carried[quality.QUARANTINE_TABLE]] if quality.QUARANTINE_TABLE in carried else []),
        )
        written = tables.replace_partition(
            rows, cfg, quality.QUARANTINE_TABLE, "run_date", run_date
        )
        return {quality.QUARANTINE_TABLE: written}

    def recorded() -> dict[str, int]:
        runs = quality.data_quality_runs(spark, results, run_date, batch_id)
        if quality.RUNS_TABLE in carried:
            runs = runs.unionByName(carried[quality.RUNS_TABLE])
        tables.replace_partition(runs, cfg, quality.RUNS_TABLE, "run_date", run_date)
        return {}

    # Three tables, each its own commits, from rows already computed (persisted, checkpointed):
    # a night's small jobs and commits leave cores idle that the other writes can use. A run
    # failing in one of them advances no offset: its rerun writes all three again.
    writes = (merged, quarantined, recorded)
    if int(cfg["run"].get("parallel_writes") or 1) <= 1:
        for write in writes:
            counts.update(write())
    else:
        with ThreadPoolExecutor(max_workers=len(writes)) as pool:
            for done in [pool.submit(write) for write in writes]:
                counts.update(done.result())
    return counts


def lms_silver(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, DataFrame]:
    """silver.learners, courses and enrollments, by name, from the LMS's and the crawled
    catalog's bronze tables (whole snapshots)."""
    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731

    learners = read("bronze.lms_learners").transform(conform_learners)
    catalog_source = cfg["sources"].get("catalog") or {}
    catalog_name = catalog_source.get("bronze")
    if catalog_name and tables.table_exists(spark, cfg, catalog_name):
        catalog = read(catalog_name).transform(current_catalog_entries)
    else:
        catalog = spark.createDataFrame([], CATALOG_DETAILS_SCHEMA)
    courses = (
        read("bronze.lms_courses")
        .transform(conform_lms_courses)
        .transform(with_catalog_details, catalog)
    )
    enrollments = read("bronze.lms_enrollments").transform(conform_enrollments)
    return {
        "silver.learners": learners,
        "silver.courses": courses,
        "silver.enrollments": enrollments,
    }


def lms_interactions(cfg: dict[str, Any], bronze: dict[str, DataFrame]) -> DataFrame:
    """silver.interactions rows (unchecked) from the LMS activity events and ratings given."""
    weights = cfg["interactions"]
    events = activity_events_as_interactions(bronze["bronze.lms_activity_events"]).unionByName(
        ratings_as_interactions(bronze["bronze.lms_ratings"])
    )
    return (
        events.transform(dedupe_interactions)
        .transform(with_confidence, weights["event_weights"], weights["rate_weight_per_star"])
        .transform(conform_interactions)
    )


def oulad_silver(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, DataFrame]:
    """silver.learners, courses and enrollments, by name, from the OULAD's bronze tables
    (lakehouse.oulad; whole snapshots)."""
    read = lambda part: tables.read_table(spark, cfg, _oulad_bronze(cfg, part))  # noqa: E731
    months = cfg["oulad"]["start_months"]
    student_info = read("student_info")
    return {
        "silver.learners": oulad_learners(student_info),
        "silver.courses": oulad_courses(read("courses"), read("vle")),
        "silver.enrollments": oulad_enrollments(
            read("student_registration"), student_info, read("courses"), months
        ),
    }


def oulad_interactions_of(cfg: dict[str, Any], bronze: dict[str, DataFrame]) -> DataFrame:
    """silver.interactions rows (unchecked) from the OULAD studentVle rows given."""
    return oulad_interactions(
        bronze[_oulad_bronze(cfg, "student_vle")],
        cfg["oulad"]["start_months"],
        float(cfg["oulad"]["click_weight"]),
    )


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "refine", argv)


if __name__ == "__main__":
    sys.exit(main())
