"""Gold star schema: learner, course and date dimensions, the daily activity fact, course stats."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def learner_key(learner_id: Column | str) -> Column:
    """The surrogate key of a learner: a stable hash of its natural key."""
    return F.xxhash64(
        F.lit("learner"), F.col(learner_id) if isinstance(learner_id, str) else learner_id
    )


def course_key(course_id: Column | str) -> Column:
    """The surrogate key of a course: a stable hash of its natural key."""
    return F.xxhash64(
        F.lit("course"), F.col(course_id) if isinstance(course_id, str) else course_id
    )


def learner_dimension(learners: DataFrame) -> DataFrame:
    """gold.dim_learner: one row per learner, keyed by learner_key."""
    return learners.select(
        learner_key("learner_id").alias("learner_key"),
        "learner_id",
        "name",
        "department",
        "job_role",
        "country",
        "hired_at",
    )


def course_dimension(courses: DataFrame) -> DataFrame:
    """gold.dim_course: one row per course, keyed by course_key."""
    return courses.select(
        course_key("course_id").alias("course_key"),
        "course_id",
        "course_code",
        "title",
        "provider",
        "category",
        "level",
        "duration_hours",
        "skills",
        "prerequisites",
        "description",
        "catalog_url",
        "in_catalog",
    )


def date_dimension(dates: DataFrame, date_column: str = "event_date") -> DataFrame:
    """gold.dim_date: one row per calendar day from the first to the last date in `dates`,
    keyed by date_key (yyyymmdd)."""
    bounds = dates.agg(F.min(date_column).alias("lo"), F.max(date_column).alias("hi"))
    days = bounds.filter(F.col("lo").isNotNull()).select(
        F.explode(F.sequence("lo", "hi", F.expr("INTERVAL 1 DAY"))).alias("date")
    )
    return days.select(
        F.date_format("date", "yyyyMMdd").cast("int").alias("date_key"),
        "date",
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.dayofmonth("date").alias("day_of_month"),
        # ISO weekday: Monday = 1 ... Sunday = 7.
        (((F.dayofweek("date") + 5) % 7) + 1).alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.weekofyear("date").alias("iso_week"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )


def learning_activity_facts(interactions: DataFrame) -> DataFrame:
    """gold.fact_learning_activity: one row per learner, course and day (learner_key, course_key,
    date_key) with event counts, minutes viewed, progress, quiz scores and confidence."""
    is_type = lambda t: F.col("event_type") == t  # noqa: E731
    daily = interactions.groupBy("learner_id", "course_id", "event_date").agg(
        F.count(F.lit(1)).alias("events"),
        F.count(F.when(is_type("view"), 1)).alias("views"),
        F.sum(F.when(is_type("view"), F.col("value")).otherwise(0.0)).alias("minutes_viewed"),
        F.count(F.when(is_type("progress"), 1)).alias("progress_events"),
        F.max(F.when(is_type("progress"), F.col("value"))).alias("max_progress"),
        F.count(F.when(is_type("quiz"), 1)).alias("quizzes"),
        F.avg(F.when(is_type("quiz"), F.col("value"))).alias("avg_quiz_score"),
        F.count(F.when(is_type("complete"), 1)).alias("completions"),
        F.count(F.when(is_type("rate"), 1)).alias("ratings"),
        F.sum("weight").alias("confidence"),
    )
    return daily.select(
        learner_key("learner_id").alias("learner_key"),
        course_key("course_id").alias("course_key"),
        F.date_format("event_date", "yyyyMMdd").cast("int").alias("date_key"),
        "learner_id",
        "course_id",
        F.col("event_date").alias("activity_date"),
        "events",
        "views",
        "minutes_viewed",
        "progress_events",
        "max_progress",
        "quizzes",
        "avg_quiz_score",
        "completions",
        "ratings",
        "confidence",
    )


def course_statistics(
    courses: DataFrame, enrollments: DataFrame, interactions: DataFrame
) -> DataFrame:
    """gold.course_stats: one row per course (course_id) with enrollments, completion rate,
    average score, average rating and distinct active learners."""
    enrolled = enrollments.groupBy("course_id").agg(
        F.count(F.lit(1)).alias("enrollments"),
        F.count(F.when(F.col("status") == "completed", 1)).alias("completions"),
        F.avg(F.when(F.col("status") == "completed", F.col("score"))).alias("avg_score"),
    )
    rated = interactions.groupBy("course_id").agg(
        F.count(F.when(F.col("event_type") == "rate", 1)).alias("ratings"),
        F.avg(F.when(F.col("event_type") == "rate", F.col("value"))).alias("avg_rating"),
        F.countDistinct("learner_id").alias("active_learners"),
    )
    stats = (
        courses.select("course_id", "course_code", "title")
        .join(enrolled, "course_id", "left")
        .join(rated, "course_id", "left")
        .fillna(0, subset=["enrollments", "completions", "ratings", "active_learners"])
    )
    return stats.select(
        course_key("course_id").alias("course_key"),
        "course_id",
        "course_code",
        "title",
        F.col("enrollments").cast("bigint").alias("enrollments"),
        F.col("completions").cast("bigint").alias("completions"),
        F.when(
            F.col("enrollments") > 0, F.round(F.col("completions") / F.col("enrollments"), 4)
        ).alias("completion_rate"),
        F.round("avg_score", 2).alias("avg_score"),
        F.col("ratings").cast("bigint").alias("ratings"),
        F.round("avg_rating", 2).alias("avg_rating"),
        F.col("active_learners").cast("bigint").alias("active_learners"),
    )
