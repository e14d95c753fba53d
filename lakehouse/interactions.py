"""silver.interactions: one row per learner, course and event, with a confidence weight."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import without_deleted

INTERACTION_COLUMNS = (
    "interaction_id",
    "learner_id",
    "course_id",
    "event_type",
    "event_ts",
    "event_date",
    "value",
    "weight",
    "source",
)
EVENT_TYPES = ("view", "progress", "quiz", "complete")
# The group an interaction belongs to in incremental runs (lakehouse.changes): every silver and
# fact row derived from an event depends only on the events of its learner, course and day.
INTERACTION_SCOPE = ("learner_id", "course_id", "event_date")


def lms_interaction_scope(time_column: str) -> dict[str, Column]:
    """The INTERACTION_SCOPE of an LMS bronze row (activity event or rating) as columns, computed
    as activity_events_as_interactions, ratings_as_interactions and dedupe_interactions do."""
    return {
        "learner_id": F.col("learner_id").cast("bigint"),
        "course_id": F.col("course_id").cast("bigint"),
        "event_date": F.to_date(F.to_timestamp(time_column)),
    }


def activity_events_as_interactions(lms_events: DataFrame) -> DataFrame:
    """One row per LMS activity event row of an event not deleted in the LMS (source id dropped),
    event type normalised, time typed."""
    return without_deleted(lms_events, ["id"]).select(
        F.col("learner_id").cast("bigint").alias("learner_id"),
        F.col("course_id").cast("bigint").alias("course_id"),
        F.lower(F.trim("event_type")).alias("event_type"),
        F.to_timestamp("ts").alias("event_ts"),
        F.col("value").cast("double").alias("value"),
        F.lit("lms.activity_events").alias("source"),
    )


def ratings_as_interactions(lms_ratings: DataFrame) -> DataFrame:
    """One 'rate' event per LMS rating row of a rating not deleted in the LMS, its value the
    number of stars."""
    return without_deleted(lms_ratings, ["learner_id", "course_id"]).select(
        F.col("learner_id").cast("bigint").alias("learner_id"),
        F.col("course_id").cast("bigint").alias("course_id"),
        F.lit("rate").alias("event_type"),
        F.to_timestamp("ts").alias("event_ts"),
        F.col("stars").cast("double").alias("value"),
        F.lit("lms.ratings").alias("source"),
    )


def dedupe_interactions(events: DataFrame) -> DataFrame:
    """One row per distinct (learner, course, event type, time, value), keyed by interaction_id."""
    natural = ["learner_id", "course_id", "event_type", "event_ts", "value"]
    # The same event delivered twice (or in two bronze batches) keeps one row;
    # the id is a hash of the event's content so reruns produce the same ids.
    return (
        events.dropDuplicates(natural)
        .withColumn(
            "interaction_id",
            F.substring(
                F.sha2(
                    F.concat_ws(
                        "|", *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in natural]
                    ),
                    256,
                ),
                1,
                32,
            ),
        )
        .withColumn("event_date", F.to_date("event_ts"))
    )


def with_confidence(
    events: DataFrame, event_weights: dict[str, float], rate_weight_per_star: float
) -> DataFrame:
    """The events plus `weight`: the event type's configured confidence, or stars times the
    per-star weight for ratings; events of unknown types weigh 0."""
    weight = F.lit(0.0)
    for event_type, w in sorted(event_weights.items()):
        weight = F.when(F.col("event_type") == event_type, F.lit(float(w))).otherwise(weight)
    weight = F.when(
        F.col("event_type") == "rate", F.col("value") * F.lit(float(rate_weight_per_star))
    ).otherwise(weight)
    return events.withColumn("weight", weight.cast("double"))


def conform_interactions(interactions: DataFrame) -> DataFrame:
    """silver.interactions rows in the published column order, one per input row: events missing
    a key or their time stay, for the quality rules to quarantine (nothing is dropped here)."""
    return interactions.select(*INTERACTION_COLUMNS)
