"""Course content features: TF-IDF vectors of each course's text (Spark ML) and learner content
profiles, the weighted mean of the vectors of the courses a learner engaged with."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.ml import Pipeline
from pyspark.ml.feature import IDF, HashingTF, Normalizer, RegexTokenizer, StopWordsRemover
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# (id, features): the shape blocked_top_k takes, so content scores reuse its numpy scoring.
VECTORS_SCHEMA = "id bigint, features array<float>"
# Profile weight of a course a learner completed, added to that of engaging with it: finishing
# says more about what a learner wants than opening.
COMPLETED_WEIGHT = 2.0


def course_text(courses: DataFrame) -> DataFrame:
    """One row per course_id: `text`, its title, description, skills, category and item_type
    joined (missing parts skipped: OULAD items have only a title, module and type)."""
    skills = F.when(F.size("skills") > 0, F.array_join("skills", " "))
    # The level stays out: a shared "beginner" made unrelated courses look alike (and named them
    # as reasons); learning paths order by level instead.
    return courses.select(
        F.col("course_id").cast("bigint").alias("course_id"),
        F.concat_ws(" ", "title", "description", skills, "category", "item_type").alias("text"),
    )


def course_vectors(courses: DataFrame, num_features: int) -> DataFrame:
    """One row per course (id = course_id): `features`, the L2-normalised TF-IDF vector of its
    text (course_text) over `num_features` hashed terms, as an array of floats."""
    text = course_text(courses)
    pipeline = Pipeline(
        stages=[
            RegexTokenizer(inputCol="text", outputCol="tokens", pattern=r"[^\p{L}\p{N}+#]+"),
            StopWordsRemover(inputCol="tokens", outputCol="words"),
            # Hashing, unlike a fitted vocabulary, gives every run the same term indices.
            HashingTF(inputCol="words", outputCol="tf", numFeatures=int(num_features)),
            IDF(inputCol="tf", outputCol="tfidf"),
            Normalizer(inputCol="tfidf", outputCol="unit", p=2.0),
        ]
    )
    model = pipeline.fit(text)
    return model.transform(text).select(
        F.col("course_id").alias("id"), vector_to_array("unit", "float32").alias("features")
    )


def learner_course_weights(engagement: DataFrame, completed: DataFrame) -> DataFrame:
    """One row per (learner_id, course_id) a learner engaged with (engagement: any rows with
    those keys, e.g. events or enrolments): `weight`, 1 plus COMPLETED_WEIGHT once completed."""
    engaged = engagement.select(
        F.col("learner_id").cast("bigint"), F.col("course_id").cast("bigint")
    ).distinct()
    done = (
        completed.select(F.col("learner_id").cast("bigint"), F.col("course_id").cast("bigint"))
        .distinct()
        .withColumn("done", F.lit(True))
    )
    return (
        engaged.unionByName(done.select("learner_id", "course_id"))
        .distinct()
        .join(done, ["learner_id", "course_id"], "left")
        .select(
            "learner_id",
            "course_id",
            (F.lit(1.0) + F.when(F.col("done"), COMPLETED_WEIGHT).otherwise(0.0)).alias("weight"),
        )
    )


def learner_profiles(weights: DataFrame, vectors: DataFrame) -> DataFrame:
    """One row per learner with a weighted course that has a vector (id = learner_id):
    `features`, the L2-normalised weighted mean of those courses' vectors (a zero vector when
    they share no term), so that a dot product with a course vector is their cosine."""
    return _with_course_matrix(
        _weighted_history(weights, vectors), vectors, _profile_batch, VECTORS_SCHEMA
    )


def most_similar_engaged(
    recommended: DataFrame, weights: DataFrame, vectors: DataFrame
) -> DataFrame:
    """One row per recommended (learner_id, course_id) whose learner has another weighted course
    with a vector sharing a term with it: `similar_id`, the one of them whose vector is most
    similar (cosine) to the recommended course's, ties to the heavier weight, then the lower
    course_id."""
    known = vectors.select(F.col("id").cast("bigint").alias("course_id"))
    history = _weighted_history(weights, vectors)
    asked = (
        recommended.select(F.col("learner_id").cast("bigint"), F.col("course_id").cast("bigint"))
        .join(known, "course_id", "left_semi")
        .groupBy("learner_id")
        .agg(F.sort_array(F.collect_set("course_id")).alias("recommended"))
        .join(history, "learner_id")
    )
    schema = "learner_id bigint, course_id bigint, similar_id bigint"
    return _with_course_matrix(asked, vectors, _similar_batch, schema)


def _similar_batch(
    batch: pa.RecordBatch, course_ids: np.ndarray, matrix: np.ndarray
) -> pa.RecordBatch:
    """most_similar_engaged's rows for one Arrow batch of (learner_id, recommended, history_ids,
    history_weights)."""
    learners, courses, similar = [], [], []
    for row in batch.to_pylist():
        history = np.array(row["history_ids"], dtype=np.int64)
        weights = np.array(row["history_weights"], dtype=np.float64)
        seen = matrix[np.searchsorted(course_ids, history)].astype(np.float64)
        for course_id in row["recommended"]:
            target = matrix[np.searchsorted(course_ids, course_id)].astype(np.float64)
            # Never "similar to" itself: ALS may recommend a course the learner has started.
            # A course sharing no term is no reason: the caller falls back to a general one.
            cosine = np.where(history == course_id, 0.0, np.round(seen @ target, 9))
            if not (cosine > 0).any():
                continue
            # lexsort sorts by its last key first: similarity, then weight, then course_id.
            best = np.lexsort((history, -weights, -cosine))[0]
            learners.append(row["learner_id"])
            courses.append(course_id)
            similar.append(int(history[best]))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(learners, pa.int64()),
            pa.array(courses, pa.int64()),
            pa.array(similar, pa.int64()),
        ],
        names=["learner_id", "course_id", "similar_id"],
    )


def _course_matrix(vectors: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The sorted course ids of vectors (id, features) and the float32 matrix of their rows."""
    items = (
        vectors.select(F.col("id").cast("bigint").alias("course_id"), "features")
        .orderBy("course_id")
        .toArrow()
    )
    course_ids = items.column("course_id").to_numpy()
    return course_ids, _vector_matrix(items.column("features").combine_chunks(), len(course_ids))


def _weighted_history(weights: DataFrame, vectors: DataFrame) -> DataFrame:
    """One row per learner with a weighted course that has a vector: `history_ids` and
    `history_weights`, those courses and their weights in course_id order."""
    known = vectors.select(F.col("id").cast("bigint").alias("course_id"))
    course = F.struct(F.col("course_id").cast("bigint").alias("course_id"), "weight")
    return (
        weights.join(known, "course_id", "left_semi")
        .groupBy("learner_id")
        .agg(F.sort_array(F.collect_list(course)).alias("history"))
        .select(
            "learner_id",
            F.col("history.course_id").alias("history_ids"),
            F.col("history.weight").alias("history_weights"),
        )
    )


def _with_course_matrix(df: DataFrame, vectors: DataFrame, per_batch, schema: str) -> DataFrame:
    """per_batch(batch, course_ids, matrix) applied to every Arrow batch of df, with the course
    vectors as a sorted id array and a float32 matrix (courses are few: they travel to every
    task with the function)."""
    course_ids, matrix = _course_matrix(vectors)

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield per_batch(batch, course_ids, matrix)

    return df.mapInArrow(apply, schema)


def _vector_matrix(features: pa.Array, rows: int) -> np.ndarray:
    """The rows x dimensions float32 matrix of an array<float> column of equal-length vectors."""
    values = features.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return values.reshape(rows, len(values) // rows) if rows else values.reshape(0, 0)


def _profile_batch(
    batch: pa.RecordBatch, course_ids: np.ndarray, matrix: np.ndarray
) -> pa.RecordBatch:
    """The learner profiles of one Arrow batch of (learner_id, history_ids, history_weights)."""
    ids = batch.column("history_ids")
    weights = batch.column("history_weights").flatten().to_numpy(zero_copy_only=False)
    rows = pc.list_parent_indices(ids).to_numpy(zero_copy_only=False)
    cols = np.searchsorted(course_ids, ids.flatten().to_numpy(zero_copy_only=False))
    profiles = np.zeros((batch.num_rows, matrix.shape[1]), dtype=np.float64)
    np.add.at(profiles, rows, matrix[cols].astype(np.float64) * weights[:, None])
    norms = np.sqrt((profiles**2).sum(axis=1))
    profiles /= np.where(norms > 0, norms, 1.0)[:, None]
    dims = profiles.shape[1]
    flat = pa.array(profiles.astype(np.float32).ravel(), pa.float32())
    offsets = pa.array(np.arange(batch.num_rows + 1, dtype=np.int32) * dims, pa.int32())
    return pa.RecordBatch.from_arrays(
        [batch.column("learner_id").cast(pa.int64()), pa.ListArray.from_arrays(offsets, flat)],
        names=["id", "features"],
    )
