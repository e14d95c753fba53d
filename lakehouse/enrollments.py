"""silver.enrollments: one row per learner and course enrolment, typed and current."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import live_rows

ENROLLMENT_STATUSES = ("enrolled", "in_progress", "completed", "dropped")


def conform_enrollments(lms_enrollments: DataFrame) -> DataFrame:
    """One row per (learner_id, course_id) not deleted in the LMS: the latest version, status
    normalised, dates typed."""
    latest = live_rows(lms_enrollments, ["learner_id", "course_id"], ["_ingested_at"])
    return latest.select(
        F.col("learner_id").cast("bigint").alias("learner_id"),
        F.col("course_id").cast("bigint").alias("course_id"),
        F.to_timestamp("enrolled_at").alias("enrolled_at"),
        F.to_timestamp("completed_at").alias("completed_at"),
        F.col("score").cast("double").alias("score"),
        F.lower(F.trim("status")).alias("status"),
    )
