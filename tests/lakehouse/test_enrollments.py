"""lakehouse.enrollments: silver.enrollments from the LMS enrollments in bronze."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from lakehouse.enrollments import ENROLLMENT_STATUSES, conform_enrollments

BRONZE = (
    "learner_id bigint, course_id bigint, enrolled_at string, completed_at string, "
    "score double, status string, _ingested_at timestamp, _source string, _batch_id string"
)
SILVER = (
    "learner_id bigint, course_id bigint, enrolled_at timestamp, completed_at timestamp, "
    "score double, status string"
)
T0 = dt.datetime(2026, 10, 31, 2, 0)
T1 = dt.datetime(2026, 11, 1, 2, 0)


def test_conform_enrollments_latest_load_per_pair_with_normalised_status(spark):
    bronze = spark.createDataFrame(
        [
            # (1, 10): enrolled yesterday, completed in today's load
            (1, 10, "2026-09-01 08:00:00", None, None, "in_progress", T0, "lms:enrollments", "b-1"),
            (1, 10, "2026-09-01 08:00:00", "2026-10-31 17:45:00", 88.5, " Completed ", T1,
             "lms:enrollments", "b-2"),
            # (1, 11) and (2, 10): other pairs are separate rows
            (1, 11, "2026-10-01 00:00:00", None, None, "ENROLLED", T0, "lms:enrollments", "b-1"),
            (2, 10, "2026-08-15 12:00:00", None, None, "dropped", T1, "lms:enrollments", "b-2"),
        ],
        BRONZE,
    )  # fmt: skip

    out = conform_enrollments(bronze)

    expected = spark.createDataFrame(
        [
            (1, 10, dt.datetime(2026, 9, 1, 8), dt.datetime(2026, 10, 31, 17, 45), 88.5,
             "completed"),
            (1, 11, dt.datetime(2026, 10, 1), None, None, "enrolled"),
            (2, 10, dt.datetime(2026, 8, 15, 12), None, None, "dropped"),
        ],
        SILVER,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    assert {r.status for r in out.collect()} <= set(ENROLLMENT_STATUSES)


def test_conform_enrollments_same_load_time_greater_batch_wins(spark):
    bronze = spark.createDataFrame(
        [
            (3, 30, "2026-01-01 00:00:00", None, None, "enrolled", T1, "lms:enrollments", "b-1"),
            (3, 30, "2026-01-01 00:00:00", None, None, "in_progress", T1, "lms:enrollments",
             "b-2"),
        ],
        BRONZE,
    )  # fmt: skip

    out = conform_enrollments(bronze)

    expected = spark.createDataFrame(
        [(3, 30, dt.datetime(2026, 1, 1), None, None, "in_progress")], SILVER
    )
    assert_df_equality(out, expected, ignore_nullable=True)
