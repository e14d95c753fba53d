"""lakehouse.quality: rule checks, quarantine routing, counts, thresholds and the row balance."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from lakehouse.bronze import latest_rows
from lakehouse.config import ConfigError
from lakehouse.quality import (
    DataQualityError,
    data_quality_runs,
    enforce_thresholds,
    freshness_moves,
    outcome_counts,
    passing_rows,
    quarantined_rows,
    row_balance,
    rule_results,
    rules_fingerprint,
    split_by_rules,
    with_rule_failures,
)

RUN_DATE = dt.date(2026, 11, 1)
TS = dt.datetime(2026, 10, 30, 8)
SCHEMA = (
    "id bigint, name string, score double, status string, code string, ts timestamp, "
    "course_id bigint"
)
STATUSES = ["enrolled", "in_progress", "completed", "dropped"]
ROWS = [
    (1, "Ada", 10.0, "completed", "DATA-101", TS, 10),
    (2, None, 120.0, "done", "data-1", dt.datetime(2026, 11, 2), 10),
    (3, "Cy", -1.0, "enrolled", "SEC-20", dt.datetime(2020, 1, 1), 11),
    (4, "Di", None, None, None, None, None),
    (5, "Ed", 50.0, "dropped", "FIN-310", dt.datetime(2026, 11, 1, 23, 59, 59), 99),
    (6, "Fay", 10.0, "completed", "DATA-101", TS, 10),
]
QUARANTINE_VIEW = "id bigint, table_name string, rule string, check_type string, reason string"

CASES = {
    "not_null": (
        {"columns": ["name", "score"]},
        [(2, "name is null"), (4, "score is null")],
    ),
    "range": (
        {"column": "score", "min": 0, "max": 100},
        [(2, "score 120.0 outside [0, 100]"), (3, "score -1.0 outside [0, 100]")],
    ),
    "allowed": (
        {"column": "status", "values": STATUSES},
        [
            (
                2,
                f"status 'done' not in the allowed values ({', '.join(STATUSES)})",
            )
        ],
    ),
    "format": (
        {"column": "code", "pattern": "^[A-Z]+-[0-9]{3}$"},
        [
            (2, "code 'data-1' does not match ^[A-Z]+-[0-9]{3}$"),
            (3, "code 'SEC-20' does not match ^[A-Z]+-[0-9]{3}$"),
        ],
    ),
    "unique": (
        {"columns": ["code"]},
        [(1, "code=DATA-101 occurs 2 times"), (6, "code=DATA-101 occurs 2 times")],
    ),
    "references": (
        {"column": "course_id", "table": "silver.courses"},
        [(5, "course_id 99 not in silver.courses")],
    ),
    "freshness": (
        {"column": "ts", "max_age_days": 365},
        [
            (2, "ts 2026-11-02 00:00:00 is after the run date 2026-11-01"),
            (3, "ts 2020-01-01 00:00:00 is more than 365 days before the run date 2026-11-01"),
        ],
    ),
}


@pytest.mark.parametrize("check", sorted(CASES))
def test_each_check_routes_exactly_its_bad_rows_to_quarantine(spark, check):
    settings, bad = CASES[check]
    rule = {"rule": f"my_{check}", "check": check, "error_threshold": 0.5, **settings}
    rows = spark.createDataFrame(ROWS, SCHEMA)
    courses = spark.createDataFrame([(10,), (11,)], "course_id bigint")

    valid, quarantine = split_by_rules(
        rows,
        "silver.things",
        [rule],
        run_date=RUN_DATE,
        batch_id="b1",
        references={"silver.courses": courses},
    )

    bad_ids = {i for i, _ in bad}
    expected_valid = spark.createDataFrame([r for r in ROWS if r[0] not in bad_ids], SCHEMA)
    assert_df_equality(valid, expected_valid, ignore_row_order=True, ignore_nullable=True)
    seen = quarantine.selectExpr(
        "cast(get_json_object(offending_values, '$.id') as bigint) AS id",
        "table_name",
        "rule",
        "check_type",
        "reason",
    )
    expected = spark.createDataFrame(
        [(i, "silver.things", f"my_{check}", check, reason) for i, reason in bad],
        QUARANTINE_VIEW,
    )
    assert_df_equality(seen, expected, ignore_row_order=True, ignore_nullable=True)


def test_quarantine_rows_carry_the_row_as_json_and_its_source_batch(spark):
    rows = spark.createDataFrame(
        [(1, None, "bronze-7"), (2, "x", None)],
        "id bigint, name string, _batch_id string",
    )
    rule = {"rule": "named", "check": "not_null", "columns": ["name"], "error_threshold": 1}

    _, quarantine = split_by_rules(
        rows, "silver.people", [rule], run_date=RUN_DATE, batch_id="run-1"
    )

    expected = spark.createDataFrame(
        [
            (
                RUN_DATE,
                "run-1",
                "silver.people",
                "named",
                "not_null",
                "name is null",
                '{"id":1,"name":null,"_batch_id":"bronze-7"}',
                "bronze-7",
            )
        ],
        quarantine.schema,
    )
    assert_df_equality(quarantine, expected, ignore_nullable=True)


def test_a_source_batch_defaults_to_the_run_batch_without_a_batch_id_column(spark):
    rows = spark.createDataFrame([(1, None)], "id bigint, name string")
    rule = {"rule": "named", "check": "not_null", "columns": ["name"], "error_threshold": 1}

    _, quarantine = split_by_rules(rows, "silver.p", [rule], run_date=RUN_DATE, batch_id="run-1")

    assert [r["source_batch"] for r in quarantine.collect()] == ["run-1"]


RULES = [
    {"rule": "name_present", "check": "not_null", "columns": ["name"], "error_threshold": 0.5},
    {"rule": "score_range", "check": "range", "column": "score", "min": 0, "error_threshold": 0.1},
]


def test_rows_balance_with_duplicates_and_a_row_failing_two_rules(spark):
    bronze = spark.createDataFrame(
        [
            (1, "Ada", 5.0, 1),
            (1, "Ada", 7.0, 2),  # supersedes the version above: a removed duplicate
            (2, None, -3.0, 1),  # fails both rules: two quarantine rows, one quarantined row
            (3, "Cy", -1.0, 1),
            (4, "Di", 9.0, 1),
        ],
        "id bigint, name string, score double, version int",
    )
    conformed = latest_rows(bronze, ["id"], ["version"]).drop("version")
    flagged = with_rule_failures(conformed, "silver.t", RULES).persist()

    silver = passing_rows(flagged)
    quarantine = quarantined_rows(flagged, "silver.t", RUN_DATE, "run-1")
    passing, quarantined = outcome_counts(flagged)
    balance = row_balance(
        "silver.t", bronze.count(), silver.count(), quarantined, bronze.count() - conformed.count()
    )
    results = rule_results(flagged, "silver.t", RULES) + [balance]

    assert_df_equality(
        silver,
        spark.createDataFrame(
            [(1, "Ada", 7.0), (4, "Di", 9.0)], "id bigint, name string, score double"
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert sorted(quarantine.select("rule", "reason").collect()) == [
        ("name_present", "name is null"),
        ("score_range", "score -1.0 outside [0, ]"),
        ("score_range", "score -3.0 outside [0, ]"),
    ]
    assert (passing, quarantined) == (2, 2)
    expected_runs = spark.createDataFrame(
        [
            (RUN_DATE, "run-1", "silver.t", "name_present", "not_null", 4, 1, 0.25, 0.5, "pass",
             None, None, None, None, None),
            (RUN_DATE, "run-1", "silver.t", "score_range", "range", 4, 2, 0.5, 0.1, "fail",
             None, None, None, None, None),
            (RUN_DATE, "run-1", "silver.t", "row_balance", "balance", 5, 0, 0.0, 0.0, "pass",
             5, 2, 2, 1, True),
        ],
        "run_date date, batch_id string, table_name string, rule string, check_type string, "
        "checked bigint, failed bigint, failed_fraction double, error_threshold double, "
        "status string, bronze_rows bigint, silver_rows bigint, quarantined_rows bigint, "
        "duplicates_removed bigint, balanced boolean",
    )  # fmt: skip
    assert_df_equality(
        data_quality_runs(spark, results, RUN_DATE, "run-1"),
        expected_runs,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    flagged.unpersist()


def test_a_rule_over_its_threshold_raises_naming_every_failing_check(spark):
    rows = spark.createDataFrame(
        [(1, None, 5.0), (2, "Bo", -1.0), (3, "Cy", -2.0), (4, "Di", 1.0)],
        "id bigint, name string, score double",
    )
    flagged = with_rule_failures(rows, "silver.t", RULES)
    results = rule_results(flagged, "silver.t", RULES)
    unbalanced = row_balance("silver.t", 10, 4, 3, 1)

    with pytest.raises(DataQualityError) as raised:
        enforce_thresholds([*results, unbalanced])

    assert isinstance(raised.value, RuntimeError)  # the CLI prints it and exits non-zero
    message = str(raised.value)
    assert "2 check(s) over their error threshold" in message
    assert "silver.t rule score_range (range): 2 of 4 rows failed (50.00%)" in message
    assert "threshold of 10.00%" in message
    assert "name_present" not in message  # 25% is within its 50% threshold
    assert "10 bronze != 4 silver + 3 quarantined + 1 duplicates removed" in message


def test_failures_at_the_threshold_pass(spark):
    rows = spark.createDataFrame([(1, None), (2, "Bo")], "id bigint, name string")
    flagged = with_rule_failures(rows, "silver.t", RULES[:1])

    results = rule_results(flagged, "silver.t", RULES[:1])

    assert [(r["failed_fraction"], r["status"]) for r in results] == [(0.5, "pass")]
    enforce_thresholds(results + [row_balance("silver.t", 3, 1, 1, 1)])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"rule": "r", "check": "nearly", "error_threshold": 0}, "unknown check 'nearly'"),
        ({"rule": "r", "check": "range", "column": "x", "error_threshold": 0}, "min or max"),
        ({"rule": "r", "check": "not_null", "columns": ["x"]}, "needs error_threshold"),
        (
            {"rule": "r", "check": "references", "column": "x", "table": "silver.nope",
             "error_threshold": 0},
            "refers to silver.nope",
        ),
    ],
)  # fmt: skip
def test_malformed_rules_are_config_errors(spark, rule, message):
    rows = spark.createDataFrame([(1,)], "x bigint")

    with pytest.raises(ConfigError, match=message):
        with_rule_failures(rows, "silver.t", [rule], {}, RUN_DATE)


def test_freshness_moves_finds_the_rows_judged_otherwise_on_another_run_date(spark):
    rules = [
        {"rule": "fresh", "check": "freshness", "column": "ts", "max_age_days": 10,
         "error_threshold": 0.0},
        {"rule": "known", "check": "not_null", "columns": ["ts"], "error_threshold": 0.0},
    ]  # fmt: skip
    rows = spark.createDataFrame(
        [
            (1, dt.datetime(2026, 10, 21, 12)),  # too old on 11-01 only
            (2, dt.datetime(2026, 10, 25)),  # fresh on both nights
            (3, dt.datetime(2026, 11, 1, 9)),  # after 10-31, due on 11-01
            (4, dt.datetime(2026, 11, 3)),  # after both
            (5, None),
        ],
        "id int, ts timestamp",
    )
    before, after = dt.date(2026, 10, 31), dt.date(2026, 11, 1)

    def judged(day):
        flagged = with_rule_failures(rows, "t", rules[:1], {}, day)
        return {r["id"]: bool(r["_dq_failures"]) for r in flagged.collect()}

    moved = {r["id"] for r in rows.filter(freshness_moves(rules, before, after)).collect()}
    back = {r["id"] for r in rows.filter(freshness_moves(rules, after, before)).collect()}

    assert moved == back == {1, 3}
    assert moved == {i for i, failed in judged(before).items() if failed != judged(after)[i]}
    assert freshness_moves(rules[1:], before, after) is None
    assert rules_fingerprint({"t": rules}) == rules_fingerprint({"t": [dict(r) for r in rules]})
    assert rules_fingerprint({"t": rules}) != rules_fingerprint({"t": rules[:1]})
