"""lakehouse.oulad: bronze.oulad_* rows in the silver model."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from chispa import assert_df_equality
from pyspark.errors import PySparkException

from lakehouse.enrollments import ENROLLMENT_STATUSES
from lakehouse.oulad import (
    FINAL_RESULT_STATUS,
    MAX_ALS_ID,
    PRESENTATION_ID_OFFSET,
    oulad_courses,
    oulad_enrollments,
    oulad_interactions,
    oulad_learners,
    presentation_id,
    presentation_id_col,
    presentation_start,
    presentation_start_col,
    student_vle_days_between,
    student_vle_scope,
)
from lakehouse.sources.oulad import OULAD_SCHEMAS

AAA13J, AAA14B, BBB13J = 2_000_000_347, 2_000_000_365, 2_001_828_147
SILVER_COURSES = (
    "course_id bigint, course_code string, title string, provider string, category string, "
    "level string, duration_hours int, description string, skills array<string>, "
    "prerequisites array<string>, catalog_url string, in_catalog boolean, "
    "catalog_content_hash string, updated_at timestamp, item_type string, parent_course_id bigint"
)
SILVER_LEARNERS = (
    "learner_id bigint, name string, department string, job_role string, country string, "
    "hired_at timestamp, updated_at timestamp"
)
SILVER_ENROLLMENTS = (
    "learner_id bigint, course_id bigint, enrolled_at timestamp, completed_at timestamp, "
    "score double, status string"
)
SILVER_INTERACTIONS = (
    "interaction_id string, learner_id bigint, course_id bigint, event_type string, "
    "event_ts timestamp, event_date date, value double, weight double, source string"
)
OU = "The Open University"


def _ts(*args):
    return dt.datetime(*args)


def _interaction_id(learner, site, ts, value):
    """lakehouse.interactions.dedupe_interactions's id of a click, as Spark renders the key."""
    key = f"{learner}|{site}|click|{ts:%Y-%m-%d %H:%M:%S}|{value}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def test_presentation_start_b_is_february_and_j_october():
    assert presentation_start("2013J") == dt.date(2013, 10, 1)
    assert presentation_start("2014B") == dt.date(2014, 2, 1)
    assert presentation_start("2014b", {"B": 3}) == dt.date(2014, 3, 1)
    with pytest.raises(ValueError, match="no start month for presentation letter 'K'"):
        presentation_start("2014K")
    with pytest.raises(ValueError, match="not an OULAD presentation code"):
        presentation_start("J2014")


def test_presentation_start_col_matches_the_python_function(spark):
    df = spark.createDataFrame([("2013J",), ("2014B",), (" 2013b",)], "p string")
    out = [r[0] for r in df.select(presentation_start_col("p")).collect()]
    assert out == [dt.date(2013, 10, 1), dt.date(2014, 2, 1), dt.date(2013, 2, 1)]
    with pytest.raises(PySparkException, match="no start date for OULAD presentation 2014K"):
        spark.createDataFrame([("2014K",)], "p string").select(
            presentation_start_col("p")
        ).collect()


def test_presentation_ids_cannot_collide_with_sites_and_fit_als():
    assert presentation_id("AAA", "2013J") == AAA13J
    assert presentation_id("BBB", "2013J") == BBB13J
    smallest, largest = presentation_id("AAA", "2000A"), presentation_id("ZZZ", "2099Z")
    assert smallest == PRESENTATION_ID_OFFSET
    assert largest < MAX_ALS_ID
    # Every code pair has its own id (the encoding is a bijection onto a block of integers).
    ids = {
        presentation_id(m, f"20{yy:02d}{letter}")
        for m in ("AAA", "AAB", "ABA", "BAA", "ZZZ")
        for yy in range(100)
        for letter in "ABJZ"
    }
    assert len(ids) == 5 * 100 * 4
    with pytest.raises(ValueError, match="not an OULAD module presentation"):
        presentation_id("AAAA", "2013J")


def test_presentation_id_col_matches_the_python_function(spark):
    pairs = [("AAA", "2013J"), ("BBB", "2014B"), ("GGG", "2014J"), ("ZZZ", "2099Z")]
    df = spark.createDataFrame(pairs, "m string, p string")
    out = [r[0] for r in df.select(presentation_id_col("m", "p")).collect()]
    assert out == [presentation_id(m, p) for m, p in pairs]
    with pytest.raises(PySparkException, match="not an OULAD module presentation: AAA 13J"):
        spark.createDataFrame([("AAA", "13J")], "m string, p string").select(
            presentation_id_col("m", "p")
        ).collect()


def test_oulad_courses_presentations_and_their_materials(spark):
    courses = spark.createDataFrame(
        [("AAA", "2013J", 268), ("AAA", "2014B", 240), ("AAA", "2013J", 268)],
        OULAD_SCHEMAS["courses"],
    )
    vle = spark.createDataFrame(
        [
            (546614, "AAA", "2013J", "oucontent", None, None),
            (546943, "AAA", "2014B", "quiz", 1, 2),
        ],
        OULAD_SCHEMAS["vle"],
    )

    out = oulad_courses(courses, vle)

    empty: list[str] = []
    expected = spark.createDataFrame(
        [
            (AAA13J, "AAA-2013J", "AAA 2013J", OU, "AAA", None, None, None, empty, empty, None,
             False, None, None, "module_presentation", None),
            (AAA14B, "AAA-2014B", "AAA 2014B", OU, "AAA", None, None, None, empty, empty, None,
             False, None, None, "module_presentation", None),
            (546614, "AAA-2013J-546614", "AAA 2013J oucontent 546614", OU, "AAA", None, None,
             None, empty, empty, None, False, None, None, "oucontent", AAA13J),
            (546943, "AAA-2014B-546943", "AAA 2014B quiz 546943", OU, "AAA", None, None, None,
             empty, empty, None, False, None, None, "quiz", AAA14B),
        ],
        SILVER_COURSES,
    )  # fmt: skip
    assert_df_equality(
        out, expected, ignore_row_order=True, ignore_nullable=True, ignore_column_order=False
    )


def test_oulad_courses_refuses_a_site_id_in_the_presentation_range(spark):
    courses = spark.createDataFrame([], OULAD_SCHEMAS["courses"])
    vle = spark.createDataFrame(
        [(PRESENTATION_ID_OFFSET, "AAA", "2013J", "quiz", None, None)], OULAD_SCHEMAS["vle"]
    )
    with pytest.raises(PySparkException, match="id_site too large"):
        oulad_courses(courses, vle).collect()


def test_oulad_learners_one_row_per_student_from_the_latest_presentation(spark):
    info = spark.createDataFrame(
        [
            ("AAA", "2013J", 11391, "M", "East Anglian Region", "HE Qualification", "90-100%",
             "55<=", 0, 240, "N", "Pass"),
            ("BBB", "2014B", 11391, "M", "Scotland", "A Level or Equivalent", None, "55<=", 0,
             60, "N", "Fail"),
            ("AAA", "2013J", 28400, "F", "Wales", "Lower Than A Level", None, "35-55", 1, 60,
             "N", "Withdrawn"),
        ],
        OULAD_SCHEMAS["student_info"],
    )  # fmt: skip

    out = oulad_learners(info)

    expected = spark.createDataFrame(
        [
            (11391, "Student 11391", "Scotland", "A Level or Equivalent", "GB", None, None),
            (28400, "Student 28400", "Wales", "Lower Than A Level", "GB", None, None),
        ],
        SILVER_LEARNERS,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_oulad_interactions_daily_clicks_dated_from_the_presentation_start(spark):
    student_vle = spark.createDataFrame(
        [
            # two rows of the same student, site and day: one interaction of 5 clicks
            ("AAA", "2013J", 28400, 546652, -10, 4),
            ("AAA", "2013J", 28400, 546652, -10, 1),
            ("AAA", "2013J", 28400, 546652, 3, 2),
            ("AAA", "2014B", 11391, 546943, 0, 7),
        ],
        OULAD_SCHEMAS["student_vle"],
    )

    out = oulad_interactions(student_vle, click_weight=0.5)

    rows = [
        (28400, 546652, _ts(2013, 9, 21), 5.0),
        (28400, 546652, _ts(2013, 10, 4), 2.0),
        (11391, 546943, _ts(2014, 2, 1), 7.0),
    ]
    expected = spark.createDataFrame(
        [
            (_interaction_id(learner, site, ts, value), learner, site, "click", ts, ts.date(),
             value, 0.5, "oulad.studentVle")
            for learner, site, ts, value in rows
        ],
        SILVER_INTERACTIONS,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_student_vle_days_between_keeps_the_rows_of_those_days_and_unknown_codes(spark):
    student_vle = spark.createDataFrame(
        [
            ("AAA", "2013J", 1, 10, 3, 1),  # 2013-10-04
            ("AAA", "2013J", 2, 10, 4, 1),  # 2013-10-05
            ("AAA", "2013J", 3, 10, 5, 1),  # 2013-10-06: after the range
            ("AAA", "2014B", 4, 10, -120, 1),  # 2013-10-04, from a later presentation
            ("AAA", "2014B", 5, 10, 0, 1),  # 2014-02-01
            ("AAA", " 2013j", 6, 10, 3, 1),  # raw code spelled otherwise: its own bounds
            ("AAA", "2013Q", 7, 10, 900, 1),  # no start month for Q: kept, unbounded
            ("AAA", "2013B", 8, 10, 1, 1),  # a code not listed: kept
        ],
        OULAD_SCHEMAS["student_vle"],
    )
    listed = ["2013J", "2014B", " 2013j", "2013Q"]

    out = student_vle.filter(
        student_vle_days_between(listed, dt.date(2013, 10, 4), dt.date(2013, 10, 5))
    )

    assert sorted(r["id_student"] for r in out.collect()) == [1, 2, 4, 6, 7, 8]
    # Every row of the range is kept: the condition only spares work.
    day = student_vle_scope()["event_date"]
    known = student_vle.filter("code_presentation NOT IN ('2013Q')")
    in_range = known.filter(day.between(dt.date(2013, 10, 4), dt.date(2013, 10, 5)))
    assert_df_equality(
        in_range, in_range.filter(student_vle_days_between(listed, dt.date(2013, 10, 4),
                                                           dt.date(2013, 10, 5))),
        ignore_row_order=True,
    )  # fmt: skip


def test_oulad_enrollments_dates_and_status_mapping(spark):
    courses = spark.createDataFrame(
        [("AAA", "2013J", 268), ("BBB", "2013J", 250)], OULAD_SCHEMAS["courses"]
    )
    registrations = spark.createDataFrame(
        [
            ("AAA", "2013J", 1, -159, None),  # Pass
            ("AAA", "2013J", 2, -53, None),  # Distinction
            ("AAA", "2013J", 3, -92, 12),  # Withdrawn, unregistered on day 12
            ("AAA", "2013J", 4, None, None),  # Fail, registration date unknown ('?')
            ("BBB", "2013J", 1, 10, 30),  # unregistered though no result says so
            ("BBB", "2013J", 5, 0, None),  # no result yet
        ],
        OULAD_SCHEMAS["student_registration"],
    )
    info = spark.createDataFrame(
        [
            ("AAA", "2013J", 1, "Pass"),
            ("AAA", "2013J", 2, "Distinction"),
            ("AAA", "2013J", 3, "Withdrawn"),
            ("AAA", "2013J", 4, "Fail"),
            ("BBB", "2013J", 1, "Pass"),
        ],
        "code_module string, code_presentation string, id_student int, final_result string",
    )

    out = oulad_enrollments(registrations, info, courses)

    aaa_end = _ts(2013, 10, 1) + dt.timedelta(days=268)
    expected = spark.createDataFrame(
        [
            (1, AAA13J, _ts(2013, 4, 25), aaa_end, None, "completed"),
            (2, AAA13J, _ts(2013, 8, 9), aaa_end, None, "completed"),
            (3, AAA13J, _ts(2013, 7, 1), None, None, "dropped"),
            (4, AAA13J, None, None, None, "dropped"),
            (1, BBB13J, _ts(2013, 10, 11), None, None, "dropped"),
            (5, BBB13J, _ts(2013, 10, 1), None, None, "in_progress"),
        ],
        SILVER_ENROLLMENTS,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    assert set(FINAL_RESULT_STATUS.values()) <= set(ENROLLMENT_STATUSES)
