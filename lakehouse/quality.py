"""Data quality of the silver tables: declarative rules (conf/base.yml `quality:`), quarantine
rows for every failure, per-rule counts, thresholds and the row balance of each table.

A rule is a mapping: `rule` (its name), `check` (one of CHECKS), `error_threshold` (the largest
share of checked rows that may fail before the run fails) and the check's own settings:

- not_null: `columns`; fails rows where any of them is null.
- range: `column`, `min` and/or `max` (inclusive); nulls pass (use not_null for those).
- allowed: `column`, `values`; nulls pass.
- format: `column`, `pattern` (a Java regular expression, searched, so anchor it); nulls pass.
- unique: `columns`; fails every row of a key that occurs more than once (which copy is right
  cannot be known); rows with a null key column pass.
- references: `column`, `table`, `ref_column` (default: `column`); fails rows whose non-null
  value is not among the rows of `table`, a DataFrame the caller passes by that name.
- freshness: `column` (a timestamp or date), `max_age_days`; judged per row, like every other
  check, so that failures are rows that can be quarantined and counted in the row balance: a
  row fails when its time is after the end of the run date (it cannot have happened yet) or
  more than max_age_days before the run date. On tables rebuilt from their whole history
  max_age_days is a sanity bound, not a recency requirement; a feed that stopped sending rows
  is not what it detects.

A row failing several rules is quarantined once per failed rule (each quarantine row says why),
but counted once in the row balance: bronze rows = silver rows + quarantined rows (distinct
rows) + removed duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.config import ConfigError
from lakehouse.runs import data_end
from lakehouse.spark import local_rows

# The tables quality results land in (declared in conf/base.yml `tables:`).
QUARANTINE_TABLE = "silver.quarantine"
RUNS_TABLE = "gold.data_quality_runs"
CHECKS = ("not_null", "range", "allowed", "format", "unique", "references", "freshness")
FAILURES = "_dq_failures"
BALANCE_RULE = "row_balance"
QUARANTINE_SCHEMA = (
    "run_date date, batch_id string, table_name string, rule string, check_type string, "
    "reason string, offending_values string, source_batch string"
)
DATA_QUALITY_RUNS_SCHEMA = (
    "run_date date, batch_id string, table_name string, rule string, check_type string, "
    "checked bigint, failed bigint, failed_fraction double, error_threshold double, "
    "status string, bronze_rows bigint, silver_rows bigint, quarantined_rows bigint, "
    "duplicates_removed bigint, balanced boolean"
)
_REQUIRED = {
    "not_null": ("columns",),
    "range": ("column",),
    "allowed": ("column", "values"),
    "format": ("column", "pattern"),
    "unique": ("columns",),
    "references": ("column", "table"),
    "freshness": ("column", "max_age_days"),
}


class DataQualityError(RuntimeError):
    """Rules failed more rows than their error threshold allows (or a table lost rows)."""


def with_rule_failures(
    rows: DataFrame,
    table: str,
    rules: Sequence[Mapping[str, Any]],
    references: Mapping[str, DataFrame] | None = None,
    run_date: dt.date | None = None,
) -> DataFrame:
    """The rows unchanged plus `_dq_failures`: one (rule, check_type, reason) per rule the row
    fails, empty when it passes them all."""
    columns = rows.columns
    checked = rows
    failures = []
    for index, rule in enumerate(rules):
        _validate(table, rule)
        checked, failed, reason = _CHECKERS[rule["check"]](
            checked, rule, f"_dq_{index}", references or {}, run_date
        )
        failures.append(
            F.when(
                failed,
                F.struct(
                    F.lit(rule["rule"]).alias("rule"),
                    F.lit(rule["check"]).alias("check_type"),
                    reason.alias("reason"),
                ),
            )
        )
    if not failures:
        empty = F.array().cast("array<struct<rule:string,check_type:string,reason:string>>")
        return rows.withColumn(FAILURES, empty)
    flagged = F.filter(F.array(*failures), lambda failure: failure.isNotNull())
    return checked.select(*columns, flagged.alias(FAILURES))


def passing_rows(flagged: DataFrame) -> DataFrame:
    """The rows of a with_rule_failures output that failed no rule, without `_dq_failures`."""
    return flagged.filter(F.size(FAILURES) == 0).drop(FAILURES)


def quarantined_rows(flagged: DataFrame, table: str, run_date: dt.date, batch_id: str) -> DataFrame:
    """Quarantine rows (QUARANTINE_SCHEMA): one per failed rule of each failing row, with the
    row as JSON; source_batch is the row's `_batch_id` when it carries one, else batch_id."""
    columns = [c for c in flagged.columns if c != FAILURES]
    source_batch = F.lit(batch_id).cast("string")
    if "_batch_id" in columns:
        source_batch = F.coalesce(F.col("_batch_id").cast("string"), source_batch)
    # Null fields are often the very reason a row is here, so they stay in the JSON.
    values = F.to_json(F.struct(*columns), {"ignoreNullFields": "false"})
    return (
        flagged.filter(F.size(FAILURES) > 0)
        .select(
            values.alias("offending_values"),
            source_batch.alias("source_batch"),
            F.explode(FAILURES).alias("failure"),
        )
        .select(
            F.lit(run_date).cast("date").alias("run_date"),
            F.lit(batch_id).cast("string").alias("batch_id"),
            F.lit(table).alias("table_name"),
            "failure.rule",
            "failure.check_type",
            "failure.reason",
            "offending_values",
            "source_batch",
        )
    )


def split_by_rules(
    rows: DataFrame,
    table: str,
    rules: Sequence[Mapping[str, Any]],
    *,
    run_date: dt.date,
    batch_id: str,
    references: Mapping[str, DataFrame] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """(rows passing every rule, their quarantine rows): together they hold every input row."""
    flagged = with_rule_failures(rows, table, rules, references, run_date)
    return passing_rows(flagged), quarantined_rows(flagged, table, run_date, batch_id)


def rule_results(
    flagged: DataFrame, table: str, rules: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One record per rule of the table: checked and failed rows, the failed fraction, the
    error threshold and status 'pass' or 'fail' (failed fraction above the threshold)."""
    counts = flagged.agg(
        F.count(F.lit(1)).alias("checked"),
        *[
            F.sum(F.exists(FAILURES, _is_rule(rule["rule"])).cast("long")).alias(f"failed_{index}")
            for index, rule in enumerate(rules)
        ],
    ).first()
    results = []
    for index, rule in enumerate(rules):
        checked, failed = int(counts["checked"]), int(counts[f"failed_{index}"] or 0)
        fraction = failed / checked if checked else 0.0
        threshold = float(rule["error_threshold"])
        results.append(
            {
                "table_name": table,
                "rule": rule["rule"],
                "check_type": rule["check"],
                "checked": checked,
                "failed": failed,
                "failed_fraction": fraction,
                "error_threshold": threshold,
                "status": "fail" if fraction > threshold else "pass",
            }
        )
    return results


def outcome_counts(flagged: DataFrame) -> tuple[int, int]:
    """(rows passing every rule, rows failing at least one) of a with_rule_failures output."""
    row = flagged.agg(
        F.count_if(F.size(FAILURES) == 0).alias("passing"),
        F.count_if(F.size(FAILURES) > 0).alias("quarantined"),
    ).first()
    return int(row["passing"]), int(row["quarantined"])


def row_balance(
    table: str, bronze_rows: int, silver_rows: int, quarantined_rows: int, duplicates_removed: int
) -> dict[str, Any]:
    """The table's row balance as a record like rule_results': balanced when bronze rows =
    silver + quarantined + removed duplicates; `failed` counts the rows unaccounted for."""
    unaccounted = abs(bronze_rows - silver_rows - quarantined_rows - duplicates_removed)
    return {
        "table_name": table,
        "rule": BALANCE_RULE,
        "check_type": "balance",
        "checked": bronze_rows,
        "failed": unaccounted,
        "failed_fraction": unaccounted / bronze_rows if bronze_rows else float(unaccounted > 0),
        "error_threshold": 0.0,
        "status": "pass" if unaccounted == 0 else "fail",
        "bronze_rows": bronze_rows,
        "silver_rows": silver_rows,
        "quarantined_rows": quarantined_rows,
        "duplicates_removed": duplicates_removed,
        "balanced": unaccounted == 0,
    }


def data_quality_runs(
    spark: SparkSession, results: Sequence[Mapping[str, Any]], run_date: dt.date, batch_id: str
) -> DataFrame:
    """gold.data_quality_runs rows of one run: one per (table_name, rule), rule_results and
    row_balance records (balance columns null on rule rows)."""
    fields = [f.split()[0] for f in DATA_QUALITY_RUNS_SCHEMA.split(", ")]
    records = [{**r, "run_date": run_date, "batch_id": batch_id} for r in results]
    return local_rows(
        spark,
        [tuple(record.get(f) for f in fields) for record in records],
        DATA_QUALITY_RUNS_SCHEMA,
    )


def enforce_thresholds(results: Sequence[Mapping[str, Any]]) -> None:
    """Nothing when every result passes; raises DataQualityError naming each failing one."""
    failing = [r for r in results if r["status"] != "pass"]
    if not failing:
        return
    lines = []
    for r in failing:
        if r["rule"] == BALANCE_RULE:
            lines.append(
                f"{r['table_name']}: rows do not balance: {r['bronze_rows']} bronze != "
                f"{r['silver_rows']} silver + {r['quarantined_rows']} quarantined + "
                f"{r['duplicates_removed']} duplicates removed"
            )
        else:
            lines.append(
                f"{r['table_name']} rule {r['rule']} ({r['check_type']}): {r['failed']} of "
                f"{r['checked']} rows failed ({r['failed_fraction']:.2%}), above its error "
                f"threshold of {r['error_threshold']:.2%}"
            )
    raise DataQualityError(
        f"data quality: {len(failing)} check(s) over their error threshold:\n  "
        + "\n  ".join(lines)
    )


def quarantined_values(
    quarantine: DataFrame, table: str, run_date: dt.date, schema: str
) -> DataFrame:
    """The distinct values (columns of the DDL `schema`) of the rows of `table` quarantined on
    run_date, read back from their JSON: what an incremental run checks again (a row that
    failed a reference or a freshness rule may pass on a later night)."""
    parsed = F.from_json("offending_values", schema)
    names = [f.split()[0] for f in schema.split(", ")]
    return (
        quarantine.filter((F.col("table_name") == table) & (F.col("run_date") == F.lit(run_date)))
        .select(parsed.alias("_row"))
        .select(*[F.col(f"_row.{n}").alias(n) for n in names])
        .distinct()
    )


def too_old(rules: Sequence[Mapping[str, Any]], run_date: dt.date) -> Column | None:
    """Whether a row is older than a freshness rule of the table allows on run_date (the rows
    that age out of a table between two nights); None when the table has no freshness rule."""
    found = None
    for rule in rules:
        if rule.get("check") != "freshness":
            continue
        oldest = dt.datetime.combine(
            run_date - dt.timedelta(days=int(rule["max_age_days"])), dt.time()
        )
        old = F.col(rule["column"]).cast("timestamp") < F.lit(oldest)
        found = old if found is None else found | old
    return found


def freshness_moves(
    rules: Sequence[Mapping[str, Any]], before: dt.date, after: dt.date
) -> Column | None:
    """Whether a row's freshness rules judge it otherwise on run date `after` than on `before`
    (its time lies between the two nights' bounds); None when the table has no freshness
    rule. Every other check does not depend on the run date."""
    found = None
    for rule in rules:
        if rule.get("check") != "freshness":
            continue
        days = int(rule["max_age_days"])
        value = F.col(rule["column"]).cast("timestamp")
        oldest = lambda day: dt.datetime.combine(day - dt.timedelta(days=days), dt.time())  # noqa: B023, E731
        for edge in (oldest, data_end):
            low, high = sorted((edge(before), edge(after)))
            moved = (value >= F.lit(low)) & (value < F.lit(high))
            found = moved if found is None else found | moved
    return found


def rules_fingerprint(rules: Mapping[str, Any]) -> str:
    """A short hash of quality rules (conf `quality:` entries, by table): equal fingerprints,
    equal rules."""
    text = json.dumps(rules, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _validate(table: str, rule: Mapping[str, Any]) -> None:
    name = rule.get("rule", "<unnamed>")
    check = rule.get("check")
    if check not in _REQUIRED:
        known = ", ".join(CHECKS)
        raise ConfigError(f"quality rule {name!r} of {table}: unknown check {check!r} ({known})")
    missing = [k for k in ("rule", "error_threshold", *_REQUIRED[check]) if k not in rule]
    if check == "range" and "min" not in rule and "max" not in rule:
        missing.append("min or max")
    if missing:
        raise ConfigError(f"quality rule {name!r} of {table} ({check}) needs {', '.join(missing)}")


def _is_rule(name: str):
    # A one-argument lambda: Spark counts a default argument as a second lambda variable.
    return lambda failure: failure["rule"] == name


def _shown(column: str) -> Column:
    # How a value reads in a reason: its text, or 'null'.
    return F.coalesce(F.col(column).cast("string"), F.lit("null"))


def _about(column: str, quote: str, after: str | Column) -> Column:
    # A reason naming the column and its value: "<column> <quote><value><after>".
    tail = after if isinstance(after, Column) else F.lit(after)
    return F.concat(F.lit(f"{column} {quote}"), _shown(column), tail)


def _not_null(rows, rule, prefix, references, run_date):
    columns = list(rule["columns"])
    failed = F.lit(False)
    for c in columns:
        failed = failed | F.col(c).isNull()
    reason = F.concat(
        F.concat_ws(", ", *[F.when(F.col(c).isNull(), F.lit(c)) for c in columns]),
        F.lit(" is null"),
    )
    return rows, failed, reason


def _range(rows, rule, prefix, references, run_date):
    column = rule["column"]
    low, high = rule.get("min"), rule.get("max")
    below = F.col(column) < F.lit(low) if low is not None else F.lit(False)
    above = F.col(column) > F.lit(high) if high is not None else F.lit(False)
    failed = F.col(column).isNotNull() & (below | above)
    reason = _about(
        column, "", f" outside [{'' if low is None else low}, {'' if high is None else high}]"
    )
    return rows, failed, reason


def _allowed(rows, rule, prefix, references, run_date):
    column, values = rule["column"], list(rule["values"])
    failed = F.col(column).isNotNull() & ~F.col(column).isin(values)
    reason = _about(column, "'", f"' not in the allowed values ({', '.join(map(str, values))})")
    return rows, failed, reason


def _format(rows, rule, prefix, references, run_date):
    column, pattern = rule["column"], rule["pattern"]
    failed = F.col(column).isNotNull() & ~F.col(column).cast("string").rlike(pattern)
    reason = _about(column, "'", f"' does not match {pattern}")
    return rows, failed, reason


def _unique(rows, rule, prefix, references, run_date):
    columns = list(rule["columns"])
    copies = f"{prefix}_copies"
    rows = rows.withColumn(copies, F.count(F.lit(1)).over(Window.partitionBy(*columns)))
    complete = F.lit(True)
    for c in columns:
        complete = complete & F.col(c).isNotNull()
    failed = complete & (F.col(copies) > 1)
    key = F.concat_ws(", ", *[F.concat(F.lit(f"{c}="), _shown(c)) for c in columns])
    reason = F.concat(key, F.lit(" occurs "), F.col(copies).cast("string"), F.lit(" times"))
    return rows, failed, reason


def _references(rows, rule, prefix, references, run_date):
    column, table = rule["column"], rule["table"]
    if table not in references:
        raise ConfigError(
            f"quality rule {rule['rule']!r} refers to {table}, which the caller did not pass "
            f"(passed: {', '.join(sorted(references)) or 'none'})"
        )
    key, found = f"{prefix}_key", f"{prefix}_found"
    known = (
        references[table]
        .select(F.col(rule.get("ref_column", column)).alias(key))
        .distinct()
        .withColumn(found, F.lit(True))
    )
    rows = rows.join(known, F.col(column) == F.col(key), "left")
    failed = F.col(column).isNotNull() & F.col(found).isNull()
    reason = _about(column, "", f" not in {table}")
    return rows, failed, reason


def _freshness(rows, rule, prefix, references, run_date):
    if run_date is None:
        raise ConfigError(f"quality rule {rule['rule']!r} (freshness) needs the run date")
    column, days = rule["column"], int(rule["max_age_days"])
    oldest = dt.datetime.combine(run_date - dt.timedelta(days=days), dt.time())
    end = data_end(run_date)
    value = F.col(column).cast("timestamp")
    future = value >= F.lit(end)
    failed = F.col(column).isNotNull() & (future | (value < F.lit(oldest)))
    reason = _about(
        column,
        "",
        F.when(future, F.lit(f" is after the run date {run_date}")).otherwise(
            F.lit(f" is more than {days} days before the run date {run_date}")
        ),
    )
    return rows, failed, reason


_CHECKERS = {
    "not_null": _not_null,
    "range": _range,
    "allowed": _allowed,
    "format": _format,
    "unique": _unique,
    "references": _references,
    "freshness": _freshness,
}
