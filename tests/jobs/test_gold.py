"""jobs/gold.py: dimension history across nights, facts keyed to it, identical reruns, and
incremental nights equal to a full rebuild."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import gold, ingest, refine
from lakehouse import tables
from lakehouse.config import with_run

T = dt.datetime
LEARNERS = (
    "learner_id bigint, name string, department string, job_role string, country string, "
    "hired_at timestamp, updated_at timestamp"
)
COURSES = (
    "course_id bigint, course_code string, title string, provider string, category string, "
    "level string, duration_hours int, description string, skills array<string>, "
    "prerequisites array<string>, catalog_url string, in_catalog boolean, "
    "catalog_content_hash string, updated_at timestamp, item_type string, "
    "parent_course_id bigint"
)
ENROLLMENTS = (
    "learner_id bigint, course_id bigint, enrolled_at timestamp, completed_at timestamp, "
    "score double, status string"
)
INTERACTIONS = (
    "interaction_id string, learner_id bigint, course_id bigint, event_type string, "
    "event_ts timestamp, event_date date, value double, weight double, source string"
)


@pytest.fixture
def cfg(tmp_path, profile):
    """A profile whose lakehouse lives in tmp_path."""
    return profile(
        "local",
        {
            "paths.root": str(tmp_path / "root"),
        },
    )


def write_silver(spark, cfg, department, courses):
    """Silver as the refine job would leave it: learner 1 in `department`, the given courses."""
    silver = {
        "silver.learners": spark.createDataFrame(
            [
                (1, "Ada", department, "Engineer", "GB", None, None),
                (2, "Bob", "Ops", "SRE", "US", None, None),
            ],
            LEARNERS,
        ),
        "silver.courses": spark.createDataFrame(
            [
                (
                    c,
                    f"C-{c}",
                    f"Course {c}",
                    "Acme",
                    "Data",
                    None,
                    2,
                    None,
                    [f"s{c}"],
                    [],
                    None,
                    True,
                    None,
                    None,
                    "course",
                    None,
                )
                for c in courses
            ],
            COURSES,
        ),  # fmt: skip
        "silver.enrollments": spark.createDataFrame(
            [(1, 10, T(2026, 10, 1), T(2026, 11, 2, 8), 90.0, "completed")], ENROLLMENTS
        ),
        "silver.interactions": spark.createDataFrame(
            [
                (f"e{i}", 1, 10, "view", ts, ts.date(), 5.0, 1.0, "lms")
                for i, ts in enumerate([T(2026, 11, 1, 9), T(2026, 11, 2, 9)])
            ],
            INTERACTIONS,
        ),
    }
    for name, df in silver.items():
        tables.overwrite_table(df, cfg, name)


def night(spark, cfg, date):
    return gold.run(spark, with_run(cfg, date=date, batch_id=f"gold-{date}"))


def test_history_across_nights_and_identical_rerun(spark, cfg):
    write_silver(spark, cfg, "Data", [10, 11])
    night(spark, cfg, "2026-11-01")
    # Learner 1 moves to Ops; course 11 is deleted at the source.
    write_silver(spark, cfg, "Ops", [10])
    counts = night(spark, cfg, "2026-11-02")
    versions = {name: tables.table_version(spark, cfg, name) for name in counts if "." in name}

    counts_again = night(spark, cfg, "2026-11-02")

    # The rerun recomputes the same activity groups, and finds nothing to change in them.
    assert counts_again == counts
    assert counts["activity_mode"] == "incremental"
    for name, version in versions.items():
        before = tables.read_table(spark, cfg, name, version=version)
        # Merged tables find nothing to change, and the summaries the next night folds onto
        # are left as they are when they already hold the rerun's rows; the others are
        # written again.
        kept = (
            "gold.fact_learning_activity",
            "gold.learner_activity_days",
            "gold.fact_enrollment",
            "gold.course_learner_starts",
        )
        assert (tables.table_version(spark, cfg, name) > version) == (name not in kept), name
        assert_df_equality(tables.read_table(spark, cfg, name), before, ignore_row_order=True)

    read = lambda name: tables.read_table(spark, cfg, name)  # noqa: E731
    learner_1 = read("gold.dim_learner").filter("learner_id = 1")
    assert_df_equality(
        learner_1.select("department", "valid_from", "valid_to", "is_current", "is_deleted"),
        spark.createDataFrame(
            [
                ("Data", T(1900, 1, 1), T(2026, 11, 3), False, False),
                ("Ops", T(2026, 11, 3), None, True, False),
            ],
            "department string, valid_from timestamp, valid_to timestamp, is_current boolean, "
            "is_deleted boolean",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    deleted = read("gold.dim_course").filter("course_id = 11")
    assert deleted.select("is_current", "is_deleted", "valid_to").collect() == [
        (False, True, T(2026, 11, 3))
    ]
    # Both days' activity happened before the change was seen (end of 2026-11-02).
    keyed = read("gold.fact_learning_activity").join(
        learner_1.select("learner_key", "department"), "learner_key"
    )
    assert_df_equality(
        keyed.select("activity_date", "department"),
        spark.createDataFrame(
            [(dt.date(2026, 11, 1), "Data"), (dt.date(2026, 11, 2), "Data")],
            "activity_date date, department string",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert read("gold.course_stats").select("course_id").collect() == [(10,)]
    assert read("gold.fact_enrollment").filter(F.col("days_to_complete") == 32).count() == 1


def test_tables_built_from_unchanged_silver_snapshots_are_left_as_they_are(spark, cfg):
    write_silver(spark, cfg, "Data", [10, 11])
    first = night(spark, cfg, "2026-11-01")
    left = ("gold.dim_learner", "gold.dim_course", "gold.skill_coverage")
    versions = {name: tables.table_version(spark, cfg, name) for name in left}

    quiet = night(spark, cfg, "2026-11-02")
    quiet_versions = {name: tables.table_version(spark, cfg, name) for name in left}
    learners = tables.read_table(spark, cfg, "silver.learners")
    tables.overwrite_table(
        learners.withColumn(
            "department", F.when(F.col("learner_id") == 1, "Ops").otherwise(F.col("department"))
        ),
        cfg,
        "silver.learners",
    )
    moved = night(spark, cfg, "2026-11-03")

    assert first["unchanged_inputs"] == []
    assert quiet["unchanged_inputs"] == ["silver.courses", "silver.enrollments", "silver.learners"]
    assert quiet_versions == versions
    assert {name: quiet[name] for name in left} == {name: first[name] for name in left}
    assert moved["unchanged_inputs"] == ["silver.courses", "silver.enrollments"]
    assert tables.table_version(spark, cfg, "gold.dim_course") == versions["gold.dim_course"]
    for name in ("gold.dim_learner", "gold.skill_coverage"):
        assert tables.table_version(spark, cfg, name) > versions[name], name
    assert_df_equality(
        tables.read_table(spark, cfg, "gold.dim_learner")
        .filter("learner_id = 1")
        .select("department", "valid_from", "is_current"),
        spark.createDataFrame(
            [("Data", T(1900, 1, 1), False), ("Ops", T(2026, 11, 4), True)],
            "department string, valid_from timestamp, is_current boolean",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


COMPARED = (
    "silver.learners",
    "silver.courses",
    "silver.enrollments",
    "silver.interactions",
    "silver.quarantine",
    "gold.dim_learner",
    "gold.dim_course",
    "gold.dim_date",
    "gold.fact_learning_activity",
    "gold.fact_enrollment",
    "gold.course_stats",
    "gold.learner_activity_days",
    "gold.course_learner_starts",
    "gold.learner_engagement",
    "gold.skill_coverage",
)


def assert_same_as_at(spark, cfg, versions):
    """Each table's rows now equal those of its version in `versions`."""
    for name, version in versions.items():
        assert_df_equality(
            tables.read_table(spark, cfg, name),
            tables.read_table(spark, cfg, name, version=version),
            ignore_row_order=True,
            ignore_nullable=True,
        )


def refine_and_gold(spark, cfg, date, **run):
    night_cfg = with_run(cfg, date=date, batch_id=f"night-{date}", **run)
    return refine.run(spark, night_cfg), gold.run(spark, night_cfg)


def test_incremental_nights_equal_a_full_rebuild_of_the_final_state(spark, nights, append_events):
    cfg, dates, load_night = nights
    modes, starts = [], []
    for date in dates:
        load_night(date)
        refined, built = refine_and_gold(spark, cfg, date)
        modes.append((refined["interactions_mode"], built["activity_mode"]))
        modes.append((built["activity_days"], built["enrollment_activity"]))
        starts.append(built["course_learner_starts"])
    # A night of new events only: a new day of learner 1, and learner 3 on a day it was active.
    append_events(
        cfg,
        "2026-10-14",
        [
            (12, 1, 10, "view", "2026-10-14 08:00:00", 3.0),
            (13, 3, 10, "view", "2026-10-12 09:00:00", 1.0),
        ],
    )
    built = refine_and_gold(spark, cfg, "2026-10-14")[1]
    modes.append((built["activity_days"], built["enrollment_activity"]))
    starts.append(built["course_learner_starts"])
    incremental = {name: tables.table_version(spark, cfg, name) for name in COMPARED}
    rerun = refine_and_gold(spark, cfg, "2026-10-14")[1]
    # The rerun built the summaries as the night did, so it left them (and their versions,
    # which control.offsets records for the next night) as they were.
    summaries = ("gold.learner_activity_days", "gold.fact_enrollment", "gold.course_learner_starts")
    after_rerun = {name: tables.table_version(spark, cfg, name) for name in summaries}

    refine_and_gold(spark, cfg, "2026-10-14", full_rebuild=True)

    # Night 2 brings a late event (a changed fact) and a learner: the starts are rebuilt; the
    # night of new events alone folds them into both summaries.
    assert modes == [
        ("full", "full"),
        ("full", "full"),
        ("incremental", "incremental"),
        ("changes", "full"),
        ("incremental", "incremental"),
        ("changes", "full"),
        ("changes", "changes"),
    ]
    assert (rerun["activity_days"], rerun["enrollment_activity"]) == ("changes", "changes")
    # The course x learner starts fold the changes of nights that delete no fact: nights 2
    # (a deleted event) and 3 (a deleted learner) rebuild them.
    assert starts == ["full", "full", "full", "changes"]
    assert rerun["course_learner_starts"] == "changes"
    assert after_rerun == {name: incremental[name] for name in summaries}
    assert_same_as_at(spark, cfg, incremental)
    # The full rebuild recomputed every interaction and fact and found nothing to change.
    for name in ("silver.interactions", "gold.fact_learning_activity"):
        assert tables.table_version(spark, cfg, name) == incremental[name], name
    learner_1 = tables.read_table(spark, cfg, "gold.learner_activity_days").filter("learner_id = 1")
    assert [d["activity_date"] for d in learner_1.first()["days"]][-1] == dt.date(2026, 10, 14)
    started = tables.read_table(spark, cfg, "gold.fact_enrollment").filter(
        "learner_id = 1 AND course_id = 10"
    )
    assert started.select("started_at", "events").collect() == [(T(2026, 10, 5, 8), 5)]
    # What the nights say: the late event in its day, a repeated delivery once, the deleted
    # event gone, both ratings (each is a rate event), the quarantined event of learner 9 in
    # once 9 arrived, the future event in once due, the deleted learner's event out, the new
    # night's events in.
    events = tables.read_table(spark, cfg, "silver.interactions").select(
        "learner_id", "course_id", "event_type", "event_ts", "value"
    )
    assert_df_equality(
        events,
        spark.createDataFrame(
            [
                (1, 10, "view", T(2026, 10, 5, 8), 5.0),
                (1, 10, "view", T(2026, 10, 5, 9), 3.0),
                (1, 10, "view", T(2026, 10, 5, 10), 2.0),
                (3, 10, "view", T(2026, 10, 7, 10), 2.0),
                (9, 10, "view", T(2026, 10, 8, 10), 1.0),
                (3, 11, "rate", T(2026, 10, 7, 12), 4.0),
                (3, 11, "rate", T(2026, 10, 11, 12), 2.0),
                (1, 11, "view", T(2026, 10, 13, 8), 4.0),
                (1, 10, "complete", T(2026, 10, 12, 18), 1.0),
                (3, 11, "view", T(2026, 10, 12, 7), 6.0),
                (1, 10, "view", T(2026, 10, 14, 8), 3.0),
                (3, 10, "view", T(2026, 10, 12, 9), 1.0),
            ],
            "learner_id bigint, course_id bigint, event_type string, event_ts timestamp, "
            "value double",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    day = tables.read_table(spark, cfg, "gold.fact_learning_activity").filter(
        "learner_id = 1 AND course_id = 10 AND date_key = 20261005"
    )
    assert day.select("events", "minutes_viewed").collect() == [(3, 10.0)]
    assert (
        tables.read_table(spark, cfg, "gold.fact_learning_activity")
        .filter("learner_id = 2 AND date_key = 20261006")
        .count()
        == 0
    )


# A tiny OULAD drop in the published layout: module AAA's 2013J (from 2013-10-01, 120 days) and
# 2014B (from 2014-02-01) presentations, three students, three VLE materials, their clicks.
OULAD_DROP = {
    "courses.csv": ["code_module,code_presentation,module_presentation_length", "AAA,2013J,120"]
    + ["AAA,2014B,240"],
    "assessments.csv": [
        "code_module,code_presentation,id_assessment,assessment_type,date,weight",
        "AAA,2013J,1,TMA,19,10",
    ],
    "vle.csv": [
        "id_site,code_module,code_presentation,activity_type,week_from,week_to",
        "100,AAA,2013J,resource,?,?",
        "101,AAA,2013J,oucontent,1,2",
        "200,AAA,2014B,resource,?,?",
    ],
    "studentInfo.csv": [
        "code_module,code_presentation,id_student,gender,region,highest_education,imd_band,"
        "age_band,num_of_prev_attempts,studied_credits,disability,final_result",
        "AAA,2013J,1,F,Scotland,HE Qualification,90-100%,35-55,0,60,N,Pass",
        "AAA,2013J,2,M,Wales,A Level or Equivalent,?,0-35,1,120,N,Fail",
        "AAA,2014B,3,F,London Region,Lower Than A Level,20-30%,0-35,0,60,Y,Withdrawn",
    ],
    "studentRegistration.csv": [
        "code_module,code_presentation,id_student,date_registration,date_unregistration",
        "AAA,2013J,1,-30,?",
        "AAA,2013J,2,-10,?",
        "AAA,2014B,3,-5,20",
    ],
    "studentAssessment.csv": [
        "id_assessment,id_student,date_submitted,is_banked,score",
        "1,1,18,0,78",
    ],
    "studentVle.csv": [
        "code_module,code_presentation,id_student,id_site,date,sum_click",
        "AAA,2013J,1,100,0,3",
        "AAA,2013J,1,101,1,2",
        "AAA,2013J,2,100,0,1",
        "AAA,2014B,3,200,5,4",
    ],
}
# Night 2's file: a click of the night's own day, one more on a day already summed (its
# interaction changes), one on a new day of an old presentation.
OULAD_NIGHT_2 = [
    "code_module,code_presentation,id_student,id_site,date,sum_click",
    "AAA,2014B,3,200,10,2",
    "AAA,2013J,1,100,0,5",
    "AAA,2013J,2,101,3,1",
]


def test_oulad_nights_of_new_clicks_equal_a_full_rebuild(spark, tmp_path, profile):
    drop = tmp_path / "oulad"
    drop.mkdir()
    for name, lines in OULAD_DROP.items():
        (drop / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = profile("oulad", {"paths.root": str(tmp_path / "root"), "paths.oulad": str(drop)})

    def night_of(date, **run):
        night_cfg = with_run(cfg, date=date, batch_id=f"oulad-{date}", **run)
        if not run:  # the full rebuild of night 2 has nothing new to load
            ingest.run(spark, night_cfg)
        return refine.run(spark, night_cfg), gold.run(spark, night_cfg)

    night_of("2014-02-10")
    (drop / "studentVle.csv.night-2.csv").write_text(
        "\n".join(OULAD_NIGHT_2) + "\n", encoding="utf-8"
    )
    refined, built = night_of("2014-02-11")
    incremental = {name: tables.table_version(spark, cfg, name) for name in COMPARED}

    night_of("2014-02-11", full_rebuild=True)

    assert (refined["interactions_mode"], refined["snapshots_kept"]) == ("incremental", True)
    assert (built["activity_mode"], built["activity_days"]) == ("incremental", "changes")
    assert built["course_learner_starts"] == "changes"
    assert_same_as_at(spark, cfg, incremental)
    clicks = tables.read_table(spark, cfg, "silver.interactions").select(
        "learner_id", "course_id", "event_date", "value"
    )
    assert_df_equality(
        clicks,
        spark.createDataFrame(
            [
                (1, 100, dt.date(2013, 10, 1), 8.0),
                (1, 101, dt.date(2013, 10, 2), 2.0),
                (2, 100, dt.date(2013, 10, 1), 1.0),
                (2, 101, dt.date(2013, 10, 4), 1.0),
                (3, 200, dt.date(2014, 2, 6), 4.0),
                (3, 200, dt.date(2014, 2, 11), 2.0),
            ],
            "learner_id bigint, course_id bigint, event_date date, value double",
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
