"""Top-K course recommendations per learner, and the rows of gold.recommendations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.course_content import (
    course_vectors,
    learner_course_weights,
    learner_profiles,
    most_similar_engaged,
)
from lakehouse.recommender import task_slots

RECOMMENDATION_COLUMNS = (
    "run_date",
    "learner_id",
    "rank",
    "course_id",
    "score",
    "model_name",
    "model_version",
    "strategy",
    "reason",
)
# What produced a row of gold.recommendations (its `strategy`).
ALS_STRATEGY = "als"
CONTENT_STRATEGY = "content"
DEPARTMENT_STRATEGY = "popular_in_department"
POPULAR_STRATEGY = "popular"
# Reasons of rows whose learner has no engaged course to name.
ALS_FALLBACK_REASON = "liked by learners whose activity is like yours"
CONTENT_FALLBACK_REASON = "like the courses you engaged with"
ROLE_REASON = "popular with learners in your role"
CATALOG_REASON = "popular across the catalog"
RANKED_SCHEMA = (
    "learner_id bigint, rank int, course_id bigint, score double, strategy string, reason string"
)
TOP_K_SCHEMA = "learner_id bigint, rank int not null, course_id bigint, score double"
# Scores of one block of learners held at once: block rows x courses doubles (32 MiB).
BLOCK_CELLS = 2**22


def factor_scores(
    learners: DataFrame, learner_factors: DataFrame, course_factors: DataFrame
) -> DataFrame:
    """One row per (learner_id, course_id) for the given learners and every course with factors:
    the ALS preference score, the dot product of their factors."""
    users = (
        learners.select("learner_id")
        .distinct()
        .join(
            learner_factors.select(
                F.col("id").cast("bigint").alias("learner_id"), F.col("features").alias("uf")
            ),
            "learner_id",
        )
    )
    items = course_factors.select(
        F.col("id").cast("bigint").alias("course_id"), F.col("features").alias("cf")
    )
    dot = F.aggregate(
        F.zip_with("uf", "cf", lambda x, y: x * y), F.lit(0.0), lambda acc, v: acc + v
    )
    # Course factors are few (hundreds to thousands): broadcasting them keeps the
    # cross join local to each partition of learners.
    return users.crossJoin(F.broadcast(items)).select("learner_id", "course_id", dot.alias("score"))


def popularity_candidates(learners: DataFrame, popularity: DataFrame) -> DataFrame:
    """One row per (learner_id, course_id) for the given learners and every scored course,
    scored by the course's popularity."""
    return (
        learners.select("learner_id")
        .distinct()
        .crossJoin(F.broadcast(popularity))
        .select("learner_id", "course_id", "score")
    )


def top_k(candidates: DataFrame, exclude: DataFrame, k: int) -> DataFrame:
    """One row per learner and rank 1..k (learner_id, rank): the highest-scoring candidate
    courses not in `exclude`, ties broken by course_id."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    kept = candidates.join(
        exclude.select("learner_id", "course_id").distinct(),
        ["learner_id", "course_id"],
        "left_anti",
    )
    window = Window.partitionBy("learner_id").orderBy(
        F.col("score").desc(), F.col("course_id").asc()
    )
    ranked = kept.withColumn("rank", F.row_number().over(window))
    return ranked.filter(F.col("rank") <= k).select("learner_id", "rank", "course_id", "score")


def blocked_top_k(
    learners: DataFrame | None,
    learner_factors: DataFrame,
    course_factors: DataFrame,
    exclude: DataFrame | None,
    k: int,
    block_cells: int = BLOCK_CELLS,
) -> DataFrame:
    """One row per learner with factors and rank 1..k (learner_id, rank): exactly what
    top_k(factor_scores(learners, learner_factors, course_factors), exclude, k) returns (None
    excludes nothing; None learners asks for every learner with factors, once), computed by
    multiplying blocks of learner factors with the course factor matrix (numpy float32 BLAS) and
    rescoring only the few courses that may make the top k."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    # Course factors are few (hundreds to thousands of rows): they travel to every task with
    # the function, sorted by course_id so that a lower index breaks a tie (sorted here:
    # Spark's sort would cost a sampling job and a shuffle).
    items = course_factors.select(F.col("id").cast("bigint").alias("course_id"), "features")
    # One task: they are few, and each task of a tiny job costs more than its rows.
    table = items.coalesce(1).toArrow()
    course_ids = table.column("course_id").to_numpy()
    order = np.argsort(course_ids, kind="stable")
    course_ids = course_ids[order]
    factors = _factor_matrix(table.column("features").combine_chunks(), len(order))[order]
    users = learner_factors.select(F.col("id").cast("bigint").alias("learner_id"), "features")
    asked = None
    if learners is not None:
        # The asked learners are ids only: broadcast, they pick the factor rows where those
        # lie, without a shuffle of the factors (and without a job collecting them when every
        # learner is asked for).
        asked = F.broadcast(learners.select(F.col("learner_id").cast("bigint")))
        users = users.join(asked, "learner_id", "left_semi")
    excluded = _excluded_cells(exclude, asked, course_ids)
    # Each task costs a fixed ~60 ms (Arrow stream and Python worker round trip) while a
    # block's arithmetic takes milliseconds: no more partitions than tasks run at once.
    # (coalesce never adds partitions.)
    users = users.coalesce(task_slots(users.sparkSession))

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from _top_k_blocks(batch, course_ids, factors, excluded, k, block_cells)

    return users.mapInArrow(score, TOP_K_SCHEMA)


def _excluded_cells(
    exclude: DataFrame | None, asked: DataFrame | None, course_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(learner ids, course columns) of the excluded pairs of asked learners (None: any) and
    courses with factors, sorted by learner: the sparse mask every task applies to its blocks."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if exclude is None or len(course_ids) == 0:
        return empty
    # A learner's excluded courses are about as many as its training pairs: sent once with
    # the function (Spark broadcasts a large one), they spare joining them to the factors,
    # which would shuffle both.
    pairs = exclude.select(F.col("learner_id").cast("bigint"), F.col("course_id").cast("bigint"))
    if asked is not None:
        pairs = pairs.join(asked, "learner_id", "left_semi")
    pairs = pairs.toArrow()
    learner_ids = pairs.column("learner_id").to_numpy()
    seen_ids = pairs.column("course_id").to_numpy()
    cols = np.minimum(np.searchsorted(course_ids, seen_ids), len(course_ids) - 1)
    known = course_ids[cols] == seen_ids
    learner_ids, cols = learner_ids[known], cols[known]
    order = np.argsort(learner_ids, kind="stable")
    return learner_ids[order], cols[order]


def _factor_matrix(features: pa.Array, rows: int) -> np.ndarray:
    """The rows x rank float32 matrix of an array<float> column of equal-length factors."""
    values = features.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    if rows == 0:
        return values.reshape(0, 0)
    if len(values) % rows:
        raise ValueError("factor arrays differ in length")
    return values.reshape(rows, len(values) // rows)


def _top_k_blocks(
    batch: pa.RecordBatch,
    course_ids: np.ndarray,
    factors: np.ndarray,
    excluded: tuple[np.ndarray, np.ndarray],
    k: int,
    block_cells: int,
) -> Iterator[pa.RecordBatch]:
    """The top_k rows of one Arrow batch of (learner_id, features), block by block."""
    n, m = batch.num_rows, len(course_ids)
    if n == 0 or m == 0:
        return
    learner_ids = batch.column("learner_id").to_numpy(zero_copy_only=False)
    users = _factor_matrix(batch.column("features"), n)
    seen_rows, seen_cols = _batch_cells(learner_ids, *excluded)
    item_norm = float(np.sqrt((factors.astype(np.float64) ** 2).sum(axis=1)).max())
    step = max(1, block_cells // m)
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = users[start:stop]
        scores = block @ factors.T
        in_block = (seen_rows >= start) & (seen_rows < stop)
        scores[seen_rows[in_block] - start, seen_cols[in_block]] = -np.inf
        rows, cols, exact = _candidates(block, factors, scores, item_norm, k)
        order = np.lexsort((cols, -exact, rows))
        rows, cols, exact = rows[order], cols[order], exact[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows) + 1
        keep = rank <= k
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(learner_ids[start:stop][rows[keep]], pa.int64()),
                pa.array(rank[keep], pa.int32()),
                pa.array(course_ids[cols[keep]], pa.int64()),
                pa.array(exact[keep], pa.float64()),
            ],
            names=["learner_id", "rank", "course_id", "score"],
        )


def _batch_cells(
    learner_ids: np.ndarray, excluded_learners: np.ndarray, excluded_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(row in the batch, course column) of every excluded cell of the batch's learners."""
    first = np.searchsorted(excluded_learners, learner_ids, "left")
    counts = np.searchsorted(excluded_learners, learner_ids, "right") - first
    rows = np.repeat(np.arange(len(learner_ids)), counts)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, excluded_cols[np.repeat(first, counts) + offsets]


def _candidates(
    users: np.ndarray, items: np.ndarray, scores: np.ndarray, item_norm: float, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, score) of every not excluded course that may be in a learner's top k,
    scored exactly as factor_scores does."""
    m, rank = scores.shape[1], users.shape[1]
    kth = min(k, m)
    threshold = np.partition(scores, m - kth, axis=1)[:, m - kth].astype(np.float64)
    # The float32 product differs from factor_scores' (float products summed in double) by
    # less than (rank + 1) * 2**-24 * |u| * |v| in any summation order: anything within twice
    # that of the k-th best float32 score may still make the exact top k.
    user_norm = np.sqrt((users.astype(np.float64) ** 2).sum(axis=1))
    low = threshold - (rank + 1) * 2.0**-23 * user_norm * item_norm
    # Compared in float32 (a float64 bound would convert the whole block): rounded down so that
    # no candidate is lost, and above -inf so that excluded cells never pass.
    bound = low.astype(np.float32)
    bound = np.where(bound > low, np.nextafter(bound, np.float32(-np.inf)), bound)
    bound = np.maximum(bound, np.finfo(np.float32).min)
    # flatnonzero of the flat mask is several times faster than a 2-D nonzero.
    rows, cols = np.divmod(np.flatnonzero(scores >= bound[:, None]), m)
    products = users[rows] * items[cols]
    exact = np.zeros(len(rows))
    for j in range(products.shape[1]):
        exact += products[:, j]
    return rows, cols, exact


def recommendation_rows(
    top: DataFrame, run_date: dt.date, model_name: str, model_version: str
) -> DataFrame:
    """gold.recommendations rows for one run date: (run_date, learner_id, rank) key, scores
    rounded so that reruns compare equal, the registered model (name, version) of the run, and
    each row's strategy and reason."""
    return top.select(
        F.lit(run_date).cast("date").alias("run_date"),
        F.col("learner_id").cast("bigint").alias("learner_id"),
        F.col("rank").cast("int").alias("rank"),
        F.col("course_id").cast("bigint").alias("course_id"),
        F.round(F.col("score").cast("double"), 6).alias("score"),
        F.lit(model_name).cast("string").alias("model_name"),
        F.lit(model_version).cast("string").alias("model_version"),
        F.col("strategy").cast("string").alias("strategy"),
        F.col("reason").cast("string").alias("reason"),
    )


def with_strategy(top: DataFrame, strategy: str) -> DataFrame:
    """The ranked rows of top (learner_id, rank key) labelled with `strategy`, reason still null."""
    return top.select(
        F.col("learner_id").cast("bigint"),
        F.col("rank").cast("int"),
        F.col("course_id").cast("bigint"),
        F.col("score").cast("double"),
        F.lit(strategy).alias("strategy"),
        F.lit(None).cast("string").alias("reason"),
    )


def segment_popularity(engagement: DataFrame, people: DataFrame, segment: str) -> DataFrame:
    """One row per (segment value, course_id), `segment` a column of people (learner_id,
    department, job_role): `score`, the distinct learners of that value who engaged with it."""
    return (
        engagement.select("learner_id", "course_id")
        .join(people.select("learner_id", segment).filter(F.col(segment).isNotNull()), "learner_id")
        .groupBy(segment, "course_id")
        .agg(F.countDistinct("learner_id").cast("double").alias("score"))
    )


def popular_in_department(
    learners: DataFrame, people: DataFrame, engagement: DataFrame, exclude: DataFrame, k: int
) -> DataFrame:
    """One row per given learner and rank 1..k (learner_id, rank): the courses most engaged with
    (engagement: learner_id, course_id pairs) by learners of their department, then of their job
    role, then of anyone (people: learner_id, department, job_role), not in `exclude`; each row's
    strategy and reason name the tier it came from, ties go to the lower course_id."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    asked = learners.select("learner_id").distinct().join(people, "learner_id", "left")
    department_reason = F.concat(F.lit("popular with "), "department", F.lit(" learners"))
    by_department = _popularity_tier(
        asked.join(segment_popularity(engagement, people, "department"), "department"),
        1,
        DEPARTMENT_STRATEGY,
        department_reason,
    )
    by_role = _popularity_tier(
        asked.join(segment_popularity(engagement, people, "job_role"), "job_role"),
        2,
        DEPARTMENT_STRATEGY,
        F.lit(ROLE_REASON),
    )
    overall = engagement.groupBy("course_id").agg(
        F.countDistinct("learner_id").cast("double").alias("score")
    )
    everywhere = _popularity_tier(
        asked.select("learner_id").crossJoin(F.broadcast(overall)),
        3,
        POPULAR_STRATEGY,
        F.lit(CATALOG_REASON),
    )
    candidates = (
        by_department.unionByName(by_role)
        .unionByName(everywhere)
        .join(
            exclude.select("learner_id", "course_id").distinct(),
            ["learner_id", "course_id"],
            "left_anti",
        )
    )
    best_tier = Window.partitionBy("learner_id", "course_id").orderBy("tier")
    ranking = Window.partitionBy("learner_id").orderBy(
        "tier", F.col("score").desc(), F.col("course_id").asc()
    )
    return (
        candidates.withColumn("n", F.row_number().over(best_tier))
        .filter(F.col("n") == 1)
        .withColumn("rank", F.row_number().over(ranking))
        .filter(F.col("rank") <= k)
        .select(
            F.col("learner_id").cast("bigint"),
            F.col("rank").cast("int"),
            F.col("course_id").cast("bigint"),
            "score",
            "strategy",
            "reason",
        )
    )


def _popularity_tier(candidates: DataFrame, tier: int, strategy: str, reason) -> DataFrame:
    """The (learner_id, course_id, score) candidates of one popular_in_department tier, labelled."""
    return candidates.select(
        "learner_id",
        "course_id",
        "score",
        F.lit(tier).alias("tier"),
        F.lit(strategy).alias("strategy"),
        reason.alias("reason"),
    )


def blended_recommendations(
    als: DataFrame, new_courses: DataFrame, content: DataFrame, popular: DataFrame, k: int
) -> DataFrame:
    """One row per learner and rank 1..k (learner_id, rank), from ranked strategy rows
    (learner_id, rank, course_id, score, strategy, reason): a learner with als rows gets their
    best k minus as many new_courses rows as they have (ranked after them), else content rows,
    else popular rows."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    columns = ["learner_id", "course_id", "score", "strategy", "reason"]
    als_learners = als.select("learner_id").distinct()
    fresh = new_courses.join(als_learners, "learner_id", "left_semi").filter(F.col("rank") <= k)
    slots = fresh.groupBy("learner_id").agg(F.count(F.lit(1)).alias("taken"))
    kept_als = (
        als.join(slots, "learner_id", "left")
        .filter(F.col("rank") <= F.lit(k) - F.coalesce("taken", F.lit(0)))
        .select(*columns, F.lit(1).alias("part"), "rank")
    )
    content_rows = content.join(als_learners, "learner_id", "left_anti")
    popular_rows = popular.join(als_learners, "learner_id", "left_anti").join(
        content_rows.select("learner_id").distinct(), "learner_id", "left_anti"
    )
    parts = (
        kept_als.unionByName(fresh.select(*columns, F.lit(2).alias("part"), "rank"))
        .unionByName(content_rows.select(*columns, F.lit(1).alias("part"), "rank"))
        .unionByName(popular_rows.select(*columns, F.lit(1).alias("part"), "rank"))
    )
    order = Window.partitionBy("learner_id").orderBy("part", "rank", "course_id")
    return (
        parts.withColumn("rank", F.row_number().over(order))
        .filter(F.col("rank") <= k)
        .select(
            F.col("learner_id").cast("bigint"),
            F.col("rank").cast("int"),
            F.col("course_id").cast("bigint"),
            F.col("score").cast("double"),
            "strategy",
            "reason",
        )
    )


def with_reasons(ranked: DataFrame, similar: DataFrame, titles: DataFrame) -> DataFrame:
    """The ranked rows (learner_id, rank key) with `reason` filled where it is null: "similar to
    <title>" of the engaged course in similar (learner_id, course_id, similar_id) and titles
    (course_id, title), else the strategy's fallback."""
    named = similar.join(
        titles.select(F.col("course_id").alias("similar_id"), "title"), "similar_id"
    ).select("learner_id", "course_id", "title")
    fallback = F.when(F.col("strategy") == ALS_STRATEGY, F.lit(ALS_FALLBACK_REASON)).otherwise(
        F.lit(CONTENT_FALLBACK_REASON)
    )
    return ranked.join(named, ["learner_id", "course_id"], "left").select(
        "learner_id",
        "rank",
        "course_id",
        "score",
        "strategy",
        F.coalesce(
            "reason",
            F.when(F.col("title").isNotNull(), F.concat(F.lit("similar to "), "title")),
            fallback,
        ).alias("reason"),
    )


def hybrid_recommendations(
    learners: DataFrame,
    people: DataFrame,
    engagement: DataFrame,
    completed: DataFrame,
    courses: DataFrame,
    learner_factors: DataFrame,
    course_factors: DataFrame,
    k: int,
    new_course_slots: int,
    min_similarity: float,
    num_features: int,
) -> DataFrame:
    """One row per given learner and rank 1..k (learner_id, rank): course_id, score, strategy and
    reason, blended by blended_recommendations from the ALS factors (id, features) of learners
    and courses, content matches (course_vectors of courses, the learner profiles of engagement
    and completed) of the courses without factors, content matches of every course, and
    popular_in_department (people: learner_id, department, job_role); completed courses never,
    and content never recommends what the learner already engaged with."""
    vectors = course_vectors(courses, num_features)
    weights = learner_course_weights(engagement, completed)
    profiles = learner_profiles(weights, vectors)
    seen = weights.select("learner_id", "course_id")
    factored = course_factors.select(F.col("id").cast("bigint").alias("id"))
    with_factors = learners.join(
        learner_factors.select(F.col("id").cast("bigint").alias("learner_id")), "learner_id"
    )
    als = blocked_top_k(learners, learner_factors, course_factors, completed, k)
    if new_course_slots > 0:
        new_vectors = vectors.join(factored, "id", "left_anti")
        new_courses = blocked_top_k(with_factors, profiles, new_vectors, seen, new_course_slots)
        new_courses = new_courses.filter(F.col("score") > float(min_similarity))
    else:
        new_courses = als.limit(0)
    content = blocked_top_k(learners, profiles, vectors, seen, k)
    # blended_recommendations uses popularity only for learners with neither ALS nor content
    # rows: ranking the catalog three ways (department, role, everyone) for every other learner
    # would be thrown away (on OULAD, thousands of learners x 6,000 materials per tier).
    uncovered = learners.join(als.select("learner_id"), "learner_id", "left_anti").join(
        content.select("learner_id"), "learner_id", "left_anti"
    )
    popular = popular_in_department(uncovered, people, engagement, completed, k)
    blended = blended_recommendations(
        with_strategy(als, ALS_STRATEGY),
        with_strategy(new_courses, CONTENT_STRATEGY),
        with_strategy(content, CONTENT_STRATEGY),
        popular,
        k,
    )
    similar = most_similar_engaged(blended.filter(F.col("reason").isNull()), weights, vectors)
    return with_reasons(blended, similar, courses.select("course_id", "title"))
