"""silver.learners: one row per learner, typed and current."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import live_rows


def conform_learners(lms_learners: DataFrame) -> DataFrame:
    """One row per learner_id not deleted in the LMS: its latest version, text trimmed and
    timestamps typed."""
    return live_rows(lms_learners, ["id"], ["updated_at"]).select(
        F.col("id").cast("bigint").alias("learner_id"),
        F.trim("name").alias("name"),
        F.trim("department").alias("department"),
        F.trim("job_role").alias("job_role"),
        F.upper(F.trim("country")).alias("country"),
        F.to_timestamp("hired_at").alias("hired_at"),
        F.to_timestamp("updated_at").alias("updated_at"),
    )
