"""Every read, write and merge of a lakehouse table: names and locations come from conf/."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

from lakehouse.changes import BROADCAST_ROWS, ROW_HASH, in_scope, with_row_hash
from lakehouse.config import table_conf
from lakehouse.spark import local_rows

log = logging.getLogger("lakehouse.tables")


def table_path(cfg: dict[str, Any], name: str) -> str:
    """The storage location of table `name`."""
    return f"{cfg['paths']['lakehouse']}/{table_conf(cfg, name)['path']}"


def table_exists(spark: SparkSession, cfg: dict[str, Any], name: str) -> bool:
    """Whether table `name` exists as a Delta table at its location."""
    return DeltaTable.isDeltaTable(spark, table_path(cfg, name))


def read_table(
    spark: SparkSession, cfg: dict[str, Any], name: str, version: int | None = None
) -> DataFrame:
    """The rows of table `name`, at `version` when given (Delta time travel)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(table_path(cfg, name))


def table_version(spark: SparkSession, cfg: dict[str, Any], name: str) -> int | None:
    """The latest committed version of table `name`, or None if it does not exist yet."""
    if not table_exists(spark, cfg, name):
        return None
    return _current_version(_delta_log(spark, cfg, name))


# Versions and commit details are asked for dozens of times a night. DeltaTable.history() answers
# with a Spark job (0.1-0.3 s each); Delta's own log object answers from the commit files alone
# (a few ms): the snapshot's version, and the commitInfo action of a commit file, which the Delta
# protocol puts in every commit Delta Lake for Spark writes.
def _delta_log(spark: SparkSession, cfg: dict[str, Any], name: str) -> Any:
    """Delta Lake's (JVM) DeltaLog of table `name`, cached by Delta per location."""
    delta_log = spark._jvm.org.apache.spark.sql.delta.DeltaLog
    return delta_log.forTable(spark._jsparkSession, table_path(cfg, name))


def _snapshot(delta_log: Any) -> Any:
    # update()'s Scala default arguments: no staleness accepted, no timestamp, no catalog table.
    defaults = [getattr(delta_log, f"update$default${i}")() for i in (1, 2, 3)]
    return delta_log.update(*defaults)


def _current_version(delta_log: Any) -> int:
    return int(_snapshot(delta_log).version())


def _last_commit_info(spark: SparkSession, cfg: dict[str, Any], name: str) -> dict:
    """The commitInfo of table `name`'s current version ({} when none is left to read)."""
    delta_log = _delta_log(spark, cfg, name)
    return _commit_info(spark, delta_log, _current_version(delta_log)) or {}


def commit_info(spark: SparkSession, cfg: dict[str, Any], name: str, version: int) -> dict | None:
    """The commitInfo of version `version` of table `name` (operation, operationParameters,
    operationMetrics, userMetadata ...), as Delta wrote it in the commit file; None when that file
    is gone (log clean-up after delta.logRetentionDuration) or holds no commitInfo."""
    return _commit_info(spark, _delta_log(spark, cfg, name), version)


def _commit_info(spark: SparkSession, delta_log: Any, version: int) -> dict | None:
    names = spark._jvm.org.apache.spark.sql.delta.util.FileNames
    try:
        lines = delta_log.store().read(
            names.unsafeDeltaFile(delta_log.logPath(), int(version)), delta_log.newDeltaHadoopConf()
        )
    except Py4JJavaError as error:
        if "FileNotFoundException" in str(error.java_exception.getClass().getName()):
            return None
        raise
    # Delta writes commitInfo first; other writers may put it anywhere.
    for index in range(lines.size()):
        action = json.loads(lines.apply(index))
        if "commitInfo" in action:
            return action["commitInfo"]
    return None


def append_table(
    df: DataFrame,
    cfg: dict[str, Any],
    name: str,
    *,
    merge_schema: bool = False,
    txn: tuple[str, int] | None = None,
) -> None:
    """Appends df to table `name`, creating it (partitioned as declared) on first write; with
    `txn=(app_id, version)` the append is skipped if that version of app_id already committed."""
    writer = _writer(df, cfg, name, mode="append")
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if txn is not None:
        app_id, version = txn
        writer = writer.option("txnAppId", app_id).option("txnVersion", int(version))
    writer.save(table_path(cfg, name))
    register_table(df.sparkSession, cfg, name)


def overwrite_table(df: DataFrame, cfg: dict[str, Any], name: str) -> None:
    """Replaces the whole content of table `name` with df in one commit (readers see old or new)."""
    _overwrite(df, cfg, name)
    register_table(df.sparkSession, cfg, name)


def _overwrite(df: DataFrame, cfg: dict[str, Any], name: str) -> None:
    _writer(df, cfg, name, mode="overwrite").option("overwriteSchema", "true").save(
        table_path(cfg, name)
    )


def overwrite_tables(
    spark: SparkSession, cfg: dict[str, Any], outputs: dict[str, DataFrame]
) -> dict[str, int]:
    """Row counts of the tables after replacing each named table's content with its DataFrame,
    each in its own commit, conf `run.parallel_writes` tables at a time."""

    def write(name: str) -> int:
        started = time.monotonic()
        _overwrite(outputs[name], cfg, name)
        rows = table_rows(spark, cfg, name)
        log.info("%s: %d rows written in %.1f s", name, rows, time.monotonic() - started)
        return rows

    # Small tables' jobs leave cores idle (planning, Delta commits, one-task stages) that
    # another table's job can use; each table is still one commit of its own.
    workers = min(len(outputs), max(1, int(cfg.get("run", {}).get("parallel_writes") or 1)))
    if workers <= 1:
        counts = {name: write(name) for name in outputs}
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            counts = dict(zip(outputs, pool.map(write, outputs), strict=True))
    # One at a time: the catalog's CREATE ... IF NOT EXISTS are not safe to race.
    for name in outputs:
        register_table(spark, cfg, name)
    return counts


def table_rows(spark: SparkSession, cfg: dict[str, Any], name: str) -> int:
    """The number of rows of table `name`: its last commit's output rows when that commit
    replaced the whole table (which then holds exactly those; no Spark job), else a count."""
    info = _last_commit_info(spark, cfg, name)
    parameters = info.get("operationParameters") or {}
    rows = (info.get("operationMetrics") or {}).get("numOutputRows")
    whole = parameters.get("mode") == "Overwrite" and "predicate" not in parameters
    if info.get("operation") == "WRITE" and whole and rows is not None:
        return int(rows)
    return read_table(spark, cfg, name).count()


def replace_partition(
    df: DataFrame, cfg: dict[str, Any], name: str, column: str, value: dt.date | str | int
) -> int:
    """The rows of table `name` where column = value after replacing them with df, in one
    commit; raises ValueError, changing nothing, when a row of df has another value."""
    literal = f"'{value.isoformat()}'" if isinstance(value, dt.date) else repr(value)
    try:
        (
            _writer(df, cfg, name, mode="overwrite")
            .option("replaceWhere", f"{column} = {literal}")
            # New columns (gold.recommendations gained model_name) join the table's schema.
            .option("mergeSchema", "true")
            .save(table_path(cfg, name))
        )
    except Exception as error:
        # Delta checks every row written against the condition as it writes them, failing the
        # write before its commit: no query of its own before the write.
        if "DELTA_REPLACE_WHERE_MISMATCH" not in str(error):
            raise
        raise ValueError(f"rows for {name} must all have {column} = {literal}") from error
    spark = df.sparkSession
    register_table(spark, cfg, name)
    # The commit's rows written are the partition's rows now: no Spark job to count them.
    info = _last_commit_info(spark, cfg, name)
    written = (info.get("operationMetrics") or {}).get("numOutputRows")
    predicate = (info.get("operationParameters") or {}).get("predicate") or ""
    if info.get("operation") == "WRITE" and written is not None and column in predicate:
        return int(written)
    return read_table(spark, cfg, name).filter(f"{column} = {literal}").count()


def register_table(spark: SparkSession, cfg: dict[str, Any], name: str) -> None:
    """Makes table `name` queryable by name in SQL (database = its layer, external Delta table)."""
    database, _, _ = name.partition(".")
    path = table_path(cfg, name)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{path}'")


def register_tables(spark: SparkSession, cfg: dict[str, Any]) -> list[str]:
    """The names of the declared tables that exist, each registered for SQL."""
    registered = []
    for name in cfg.get("tables", {}):
        if table_exists(spark, cfg, name):
            register_table(spark, cfg, name)
            registered.append(name)
    return registered


def _writer(df: DataFrame, cfg: dict[str, Any], name: str, mode: str):
    writer = df.write.format("delta").mode(mode)
    batch_id = cfg.get("run", {}).get("batch_id")
    if batch_id:
        # Shows up in DESCRIBE HISTORY, tying each commit to the run that made it.
        writer = writer.option("userMetadata", f"batch_id={batch_id}")
    declared = table_conf(cfg, name)
    partition_by = declared.get("partition_by")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    # Delta takes table properties from writer options only when the write creates the table;
    # ensure_table_properties sets them on a table that already exists.
    for key, value in (declared.get("properties") or {}).items():
        writer = writer.option(key, str(value).lower() if isinstance(value, bool) else str(value))
    return writer


def ensure_table_properties(spark: SparkSession, cfg: dict[str, Any], name: str) -> bool:
    """Whether table `name` had to be given its declared `properties` (one ALTER TABLE commit)
    because it lacked some, e.g. a change data feed on a table created before it was declared."""
    declared = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in (table_conf(cfg, name).get("properties") or {}).items()
    }
    if not declared or not table_exists(spark, cfg, name):
        return False
    # The snapshot's metadata, in the driver: DESCRIBE DETAIL would cost two Spark jobs.
    current = _snapshot(_delta_log(spark, cfg, name)).metadata().configuration()
    missing = {
        k: v
        for k, v in declared.items()
        if not current.get(k).isDefined() or current.get(k).get() != v
    }
    if not missing:
        return False
    path = table_path(cfg, name)
    settings = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(missing.items()))
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({settings})")
    return True


DELETE_MARKER = "_delete"


def merge_table(
    df: DataFrame,
    cfg: dict[str, Any],
    name: str,
    *,
    hash_column: str = ROW_HASH,
    delete_unmatched: bool = False,
    within: DataFrame | None = None,
) -> dict[str, int]:
    """Rows inserted, updated and deleted in table `name` by one MERGE of df on the table's keys
    (conf `tables:`), df's payload hash in `hash_column` (added when df lacks it).

    A key whose hash is unchanged is not touched, so merging the same rows again changes nothing
    and makes no commit. delete_unmatched deletes every row whose key df lacks (df is the whole
    table); `within` (a DataFrame of values of some columns) deletes only the rows with those
    values whose key df lacks (df is the whole of those groups). A table that does not exist
    yet, or whose columns differ from df's, is written whole instead (created or migrated;
    refused with `within`, whose df is not the whole table).

    A table declaring `key_date` (conf `tables:`) names a column of df, the table and `within`
    whose value a row's key fixes (the event date of an id hashing the event's time, a date part
    of the key). Rows and groups dated after the table's last such date cannot match a table
    row, so only the others are looked up in the table; when every change is such a row (the
    usual night: today's events), they are appended in one commit instead of MERGEd, which
    spares the MERGE's scans of the table. When every row of df and of `within` is dated later,
    the table's rows are not read at all.
    """
    spark = df.sparkSession
    if hash_column not in df.columns:
        df = with_row_hash(df, hash_column)
    keys = list(table_conf(cfg, name)["keys"])
    if not keys:
        raise ValueError(f"{name} has no keys in conf/ to merge on")
    key_date = table_conf(cfg, name).get("key_date")
    target = read_table(spark, cfg, name) if table_exists(spark, cfg, name) else None
    if target is not None and within is not None and target.columns != df.columns:
        # df holds some groups only: writing it whole would lose the others.
        raise ValueError(
            f"{name} has columns {target.columns}, the rows to merge "
            f"{df.columns}: run a full rebuild (--full-rebuild) to migrate it"
        )
    if target is None or target.columns != df.columns:
        overwrite_table(df, cfg, name)
        inserted = table_rows(spark, cfg, name)
        ensure_table_properties(spark, cfg, name)
        return {"inserted": inserted, "updated": 0, "deleted": 0}
    path = table_path(cfg, name)
    deletes = delete_unmatched or within is not None
    # What may match a table row: everything, or with key_date what is not dated later.
    may_match = F.lit(True)
    if key_date is not None:
        last = _max_at_least(spark, cfg, name, key_date)
        if last is None:
            may_match = F.lit(False)
        else:
            # Rows without a date stay with those that may match (nulls are never "later").
            may_match = F.coalesce(F.col(key_date) <= F.lit(last), F.lit(True))
    # Read several times (the rows, their keys, their hashes): computed once.
    df = df.persist()
    try:
        total, matching = df.agg(F.count(F.lit(1)), F.count(F.when(may_match, 1))).first()
        # A few rows (an incremental batch) are joined to the table by broadcasting them.
        small = total <= BROADCAST_ROWS
        old = df.filter(may_match)
        later = df.filter(~may_match)
        source = old.withColumn(DELETE_MARKER, F.lit(False))
        scope_rows = None
        if within is not None:
            scope = within.filter(may_match)
            scope_rows = scope.count()
        if not matching and (not deletes or scope_rows == 0):
            # Only rows dated after the table's last date and nothing to delete (the usual
            # night: today's events): one append, without reading the table's rows at all.
            if total:
                append_table(df, cfg, name)
            return {"inserted": total, "updated": 0, "deleted": 0}
        if deletes:
            # Deletes travel in the source as marked keys (rather than a WHEN NOT MATCHED BY
            # SOURCE clause), so that the source below holds every change and only changes.
            current = target
            if within is not None:
                current = in_scope(current, scope, broadcast=scope_rows <= BROADCAST_ROWS)
            if within is None or scope_rows:
                gone = (
                    current.select(*keys)
                    .join(df.select(*keys), keys, "left_anti")
                    .withColumn(DELETE_MARKER, F.lit(True))
                )
                source = source.unionByName(gone, allowMissingColumns=True)
        # Only rows that change something: a MERGE with nothing to do would still commit.
        unchanged = target.select(*keys, hash_column)
        if small:
            unchanged = unchanged.join(F.broadcast(old.select(*keys)), keys, "left_semi")
        source = (
            source.filter(~F.col(DELETE_MARKER))
            .join(unchanged, [*keys, hash_column], "left_anti")
            .unionByName(source.filter(F.col(DELETE_MARKER)))
            .unionByName(later.withColumn(DELETE_MARKER, F.lit(False)))
            .persist()
        )
        if not source.limit(1).count():
            source.unpersist()
            return {"inserted": 0, "updated": 0, "deleted": 0}
        if key_date is not None and not source.filter(may_match).limit(1).count():
            # Only new rows dated after the table's last date (deletes carry no date: they
            # count as rows that may match): one append, no MERGE.
            inserted = source.count()
            append_table(source.drop(DELETE_MARKER), cfg, name)
            source.unpersist()
            return {"inserted": inserted, "updated": 0, "deleted": 0}
        before = table_version(spark, cfg, name)
        merge = (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(source.alias("s"), " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys))
            .whenMatchedDelete(condition=f"s.{DELETE_MARKER}")
            .whenMatchedUpdate(
                condition=f"NOT (t.`{hash_column}` <=> s.`{hash_column}`)",
                set={f"`{c}`": f"s.`{c}`" for c in df.columns},
            )
            .whenNotMatchedInsert(
                condition=f"NOT s.{DELETE_MARKER}",
                values={f"`{c}`": f"s.`{c}`" for c in df.columns},
            )
        )
        _with_batch_metadata(spark, cfg, merge.execute)
        source.unpersist()
    finally:
        df.unpersist()
    after = table_version(spark, cfg, name)
    if after == before:
        return {"inserted": 0, "updated": 0, "deleted": 0}
    metrics = (commit_info(spark, cfg, name, after) or {}).get("operationMetrics") or {}
    count = lambda key: int(metrics.get(key) or 0)  # noqa: E731
    return {
        "inserted": count("numTargetRowsInserted"),
        "updated": count("numTargetRowsUpdated"),
        "deleted": count("numTargetRowsDeleted"),
    }


def _max_at_least(spark: SparkSession, cfg: dict[str, Any], name: str, column: str) -> Any:
    """The largest value of `column` in table `name` or a larger one (None when the table holds
    no row): from its files' statistics when every file has them, without reading the rows
    (a file's statistics still count rows deleted since, so they may overstate), else from
    the rows."""
    snapshot = _snapshot(_delta_log(spark, cfg, name))
    files = ClassicDataFrame(snapshot.allFiles().toDF(), spark)
    kind = read_table(spark, cfg, name).schema[column].dataType
    stated = F.get_json_object("stats", f"$.maxValues.{column}")
    found = files.agg(
        F.count(F.lit(1)).alias("files"),
        F.count(stated).alias("stated"),
        F.max(stated.cast(kind)).alias("max"),
    ).first()
    if found["files"] == found["stated"]:
        return found["max"]
    return read_table(spark, cfg, name).agg(F.max(column)).first()[0]


def _with_batch_metadata(spark: SparkSession, cfg: dict[str, Any], action: Any) -> Any:
    # A MERGE takes no writer options: its commit's userMetadata comes from the session.
    batch_id = cfg.get("run", {}).get("batch_id")
    if not batch_id:
        return action()
    settings = {"spark.databricks.delta.commitInfo.userMetadata": f"batch_id={batch_id}"}
    return _with_session_conf(spark, settings, action)


def _with_session_conf(spark: SparkSession, settings: dict[str, str], action: Any) -> Any:
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        return action()
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def changes_if_recorded(
    spark: SparkSession, cfg: dict[str, Any], name: str, after: int, until: int
) -> DataFrame | None:
    """read_changes, or None (with a warning saying why) when table `name` did not record its
    changes over the range: the caller then rebuilds in full."""
    changes = read_changes(spark, cfg, name, after, until)
    try:
        # Delta checks the range only when a query reads it (reading nothing is optimised
        # away): one row makes the check, here rather than in the caller's first action.
        changes.limit(1).count()
        return changes
    except AnalysisException as exc:
        log.warning("%s: no change data since version %s (%s): full rebuild",
                    name, after, str(exc).splitlines()[0])  # fmt: skip
        return None


def read_changes(
    spark: SparkSession, cfg: dict[str, Any], name: str, after: int, until: int
) -> DataFrame:
    """The change data feed of table `name` for the versions after `after` up to `until`: its
    rows with _change_type (insert, delete, update_preimage, update_postimage), _commit_version
    and _commit_timestamp; no rows when until <= after. Raises (AnalysisException) when the
    table did not record changes over the range."""
    if until <= after:
        empty = read_table(spark, cfg, name).limit(0)
        return empty.select(
            "*",
            F.lit(None).cast("string").alias("_change_type"),
            F.lit(None).cast("bigint").alias("_commit_version"),
            F.lit(None).cast("timestamp").alias("_commit_timestamp"),
        )
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", int(after) + 1)
        .option("endingVersion", int(until))
        .load(table_path(cfg, name))
    )


OFFSETS = "control.offsets"
OFFSETS_SCHEMA = (
    "consumer STRING, table_name STRING, version BIGINT, run_date DATE, "
    "previous_version BIGINT, previous_run_date DATE, batch_id STRING, committed_at TIMESTAMP"
)
# What a record of control.offsets says (the other columns say which run wrote it and when).
OFFSET_VALUES = ("version", "run_date", "previous_version", "previous_run_date")
# Commits that change no rows: a consumer's offset never needs to move past them.
MAINTENANCE_OPERATIONS = ("OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES")


def read_offsets(
    spark: SparkSession, cfg: dict[str, Any], consumer: str, run_date: dt.date
) -> dict[str, dict]:
    """Per table a consumer reads incrementally, where its run for run_date starts: the last
    version processed and the run date that processed it ({table_name: {"version": int,
    "run_date": date}}). A rerun of the last run date starts where that run started, so that it
    processes the same batch again; a table is missing when there is no such start (a full run).
    """
    starts = {}
    for r in _latest_offsets(spark, cfg, consumer).values():
        version, day = r["version"], r["run_date"]
        if day == run_date:
            version, day = r["previous_version"], r["previous_run_date"]
        if version is not None:
            starts[r["table_name"]] = {"version": int(version), "run_date": day}
    return starts


def _latest_offsets(spark: SparkSession, cfg: dict[str, Any], consumer: str) -> dict[str, Row]:
    """The consumer's latest control.offsets record per table it reads (by table name)."""
    if not table_exists(spark, cfg, OFFSETS):
        return {}
    latest: dict[str, Row] = {}
    # A few rows per night and consumer (maintain compacts their files): read whole.
    for r in read_table(spark, cfg, OFFSETS).filter(F.col("consumer") == consumer).collect():
        seen = latest.get(r["table_name"])
        if seen is None or r["committed_at"] > seen["committed_at"]:
            latest[r["table_name"]] = r
    return latest


def last_data_version(
    spark: SparkSession, cfg: dict[str, Any], name: str, until: int | None = None
) -> int:
    """The latest version of table `name` up to `until` (default: its current version) whose
    commit changed rows (not an OPTIMIZE, VACUUM or property change): the offset to record after
    processing `until`, the same whether or not maintenance ran since."""
    delta_log = _delta_log(spark, cfg, name)
    current = _current_version(delta_log)
    last = current if until is None else min(int(until), current)
    # Newest first: maintenance commits are a few at the end of a night, if any.
    for version in range(last, -1, -1):
        info = _commit_info(spark, delta_log, version)
        if info is None:
            # Older commits are cleaned up: none that changed rows is left to find.
            break
        if info.get("operation") not in MAINTENANCE_OPERATIONS:
            return version
    return current if until is None else int(until)


def advance_offsets(
    spark: SparkSession, cfg: dict[str, Any], consumer: str, versions: dict[str, int]
) -> None:
    """Records (one append of a row per table whose offset moved) that a consumer processed each
    table up to its version on the run date, keeping where that run date started
    (previous_version and previous_run_date, what a rerun of it starts from); called only after
    the consumer's own outputs committed."""
    if not versions:
        return
    run_date = cfg["run"]["date"]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    latest = _latest_offsets(spark, cfg, consumer)
    rows = []
    for table, version in sorted(versions.items()):
        last = latest.get(table)
        if last is None:
            started = (None, None)
        elif last["run_date"] == run_date:
            # A rerun keeps where the first run of its date started.
            started = (last["previous_version"], last["previous_run_date"])
        else:
            started = (last["version"], last["run_date"])
        recorded = (int(version), run_date, *started)
        # A rerun that moves nothing records nothing: the table stays as the night left it.
        if last is not None and recorded == tuple(last[c] for c in OFFSET_VALUES):
            continue
        rows.append((consumer, table, *recorded, cfg["run"].get("batch_id"), now))
    if not rows:
        return
    # An append (one small file), not a MERGE: a MERGE of these few rows into the table
    # costs a dozen Spark jobs, twice a night. The newest record per table is the offset.
    append_table(local_rows(spark, rows, OFFSETS_SCHEMA), cfg, OFFSETS)


def append_new_files(
    spark: SparkSession,
    cfg: dict[str, Any],
    name: str,
    *,
    source_dir: str,
    file_format: str,
    schema: Any,
    prepare: Any,
    options: dict[str, str] | None = None,
) -> int:
    """The number of rows appended to table `name` from files in source_dir not loaded before
    (reader `options` such as CSV header, delimiter or pathGlobFilter pass through).

    A file stream with an availableNow trigger and a checkpoint per table remembers which
    files were loaded; each micro-batch is an idempotent Delta append (txnAppId/txnVersion),
    so a crash between the write and the checkpoint cannot load a file twice. A micro-batch
    that `prepare` leaves empty is not appended to an existing table (no new version).
    """
    checkpoint = f"{cfg['paths']['checkpoints']}/{name}"
    if "://" not in source_dir:
        os.makedirs(source_dir, exist_ok=True)
    stream = (
        spark.readStream.format(file_format)
        .schema(schema)
        .option("recursiveFileLookup", "true")
        .options(**(options or {}))
        .load(source_dir)
        .withColumn("_source_file", F.col("_metadata.file_path"))
    )
    loaded = []

    def write_batch(batch: DataFrame, epoch_id: int) -> None:
        # Persisted so that counting the rows does not read the batch's files again.
        rows = prepare(batch).persist()
        count = rows.count()
        # A batch that prepare emptied (nothing new) makes no commit, once the table exists.
        if count or not table_exists(spark, cfg, name):
            # Bronze keeps whatever the source sends: new columns evolve the schema.
            append_table(rows, cfg, name, merge_schema=True, txn=(f"{name}:{checkpoint}", epoch_id))
        loaded.append(count)
        rows.unpersist()

    query = (
        stream.writeStream.foreachBatch(write_batch)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .queryName(f"load {name}")
        .start()
    )
    query.awaitTermination()
    if query.exception():
        raise query.exception()
    return sum(loaded)


WATERMARKS = "control.watermarks"
WATERMARK_SCHEMA = (
    "source_table STRING, watermark_column STRING, watermark STRING, load_seq BIGINT, "
    "batch_id STRING, committed_at TIMESTAMP"
)


def watermark(
    spark: SparkSession, cfg: dict[str, Any], source_table: str
) -> tuple[str | None, int]:
    """The (high-watermark, last load sequence) of an incrementally extracted source table;
    (None, 0) before its first load."""
    if not table_exists(spark, cfg, WATERMARKS):
        return None, 0
    row = (
        read_table(spark, cfg, WATERMARKS)
        .filter(F.col("source_table") == source_table)
        .select("watermark", "load_seq")
        .first()
    )
    return (row["watermark"], int(row["load_seq"])) if row else (None, 0)


def advance_watermark(
    spark: SparkSession,
    cfg: dict[str, Any],
    source_table: str,
    column: str,
    value: str | None,
    load_seq: int,
) -> None:
    """Records load `load_seq` of a source table as committed up to `value` (one MERGE); a load
    of tombstones only leaves the value as it was."""
    row = local_rows(
        spark,
        [(source_table, column, None if value is None else str(value), int(load_seq),
          cfg["run"].get("batch_id"),
          dt.datetime.now(dt.UTC).replace(tzinfo=None))],
        WATERMARK_SCHEMA,
    )  # fmt: skip
    if not table_exists(spark, cfg, WATERMARKS):
        overwrite_table(row, cfg, WATERMARKS)
        return
    (
        DeltaTable.forPath(spark, table_path(cfg, WATERMARKS))
        .alias("t")
        .merge(row.alias("s"), "t.source_table = s.source_table")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


SCHEMA_CHANGES = "control.schema_changes"
SCHEMA_CHANGES_SCHEMA = (
    "run_date DATE, source_table STRING, column_name STRING, change STRING, source_type STRING, "
    "bronze_table STRING, batch_id STRING, detected_at TIMESTAMP"
)


def record_schema_changes(
    spark: SparkSession, cfg: dict[str, Any], changes: list[dict[str, Any]]
) -> None:
    """Upserts one control.schema_changes row per change (keys from conf: run date, source
    table, column), so that a rerun of the same date records each change once."""
    if not changes:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = local_rows(
        spark,
        [
            (cfg["run"]["date"], c["source_table"], c["column"], c["change"], c["source_type"],
             c["bronze_table"], cfg["run"].get("batch_id"), now)
            for c in changes
        ],
        SCHEMA_CHANGES_SCHEMA,
    )  # fmt: skip
    if not table_exists(spark, cfg, SCHEMA_CHANGES):
        overwrite_table(rows, cfg, SCHEMA_CHANGES)
        return
    keys = table_conf(cfg, SCHEMA_CHANGES)["keys"]
    (
        DeltaTable.forPath(spark, table_path(cfg, SCHEMA_CHANGES))
        .alias("t")
        .merge(rows.alias("s"), " AND ".join(f"t.{k} = s.{k}" for k in keys))
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


MIN_VACUUM_RETENTION_HOURS = 168


def table_history(spark: SparkSession, cfg: dict[str, Any], name: str) -> DataFrame:
    """One row per commit of table `name`, newest first: version, timestamp, operation, its
    parameters and metrics, and the userMetadata naming the batch that made it."""
    _require(spark, cfg, name)
    return (
        DeltaTable.forPath(spark, table_path(cfg, name))
        .history()
        .select(
            "version",
            "timestamp",
            "operation",
            "operationParameters",
            "operationMetrics",
            "userMetadata",
        )
    )


def optimize_table(spark: SparkSession, cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The OPTIMIZE metrics of table `name` (files removed/added) after compacting its small
    files, Z-ordered by its declared `zorder_by` columns when it has some."""
    _require(spark, cfg, name)
    optimizer = DeltaTable.forPath(spark, table_path(cfg, name)).optimize()
    zorder_by = table_conf(cfg, name).get("zorder_by")
    result = optimizer.executeZOrderBy(*zorder_by) if zorder_by else optimizer.executeCompaction()
    metrics = result.select("metrics.numFilesAdded", "metrics.numFilesRemoved").first()
    return {"files_added": int(metrics[0]), "files_removed": int(metrics[1])}


def vacuum_table(
    spark: SparkSession, cfg: dict[str, Any], name: str, retention_hours: float
) -> None:
    """Deletes the files of table `name` that no version younger than retention_hours needs.

    Delta 4 takes the retention from the table property delta.deletedFileRetentionDuration
    (VACUUM's own argument is ignored), so it is set on the table first. Less than a week is
    refused: a reader or a restore still using an older version would lose its files.
    """
    _require(spark, cfg, name)
    if retention_hours < MIN_VACUUM_RETENTION_HOURS:
        raise ValueError(
            f"VACUUM retention of {retention_hours} h for {name} is below the safe minimum of "
            f"{MIN_VACUUM_RETENTION_HOURS} h"
        )
    path = table_path(cfg, name)
    table = DeltaTable.forPath(spark, path)
    retention = f"interval {int(retention_hours)} hours"
    properties = table.detail().select("properties").first()[0] or {}
    if properties.get("delta.deletedFileRetentionDuration") != retention:
        spark.sql(
            f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
            f"('delta.deletedFileRetentionDuration' = '{retention}')"
        )
    table.vacuum()


def restore_table(spark: SparkSession, cfg: dict[str, Any], name: str, version: int) -> int:
    """The new latest version of table `name` after a commit that restores its content as of
    `version` (history is kept: the bad versions stay readable by time travel until vacuumed)."""
    _require(spark, cfg, name)
    versions = [
        int(r[0])
        for r in DeltaTable.forPath(spark, table_path(cfg, name))
        .history()
        .select("version")
        .collect()
    ]
    if version not in versions:
        raise ValueError(
            f"{name} has no version {version} (versions {min(versions)} to {max(versions)})"
        )
    if version == max(versions):
        raise ValueError(f"{name} is already at version {version}")
    DeltaTable.forPath(spark, table_path(cfg, name)).restoreToVersion(int(version))
    return table_version(spark, cfg, name)


def _require(spark: SparkSession, cfg: dict[str, Any], name: str) -> None:
    if not table_exists(spark, cfg, name):
        raise ValueError(f"table {name} does not exist yet at {table_path(cfg, name)}")
