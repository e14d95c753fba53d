"""lakehouse.recommender: confidence, time split, ALS parameters and training, popularity."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.ml.recommendation import ALS
from pyspark.sql import functions as F

from lakehouse.recommender import (
    MAX_ALS_ID,
    als_blocks,
    als_params,
    checkpoint_interval,
    confidence_matrix,
    holdout_pairs,
    item_neighbour_scores,
    item_similarities,
    popularity_scores,
    task_slots,
    train_als,
)

EVENTS = "learner_id bigint, course_id bigint, event_type string, event_ts timestamp, weight double"
CONFIDENCE = "learner_id bigint, course_id bigint, confidence double"
CUTOFF = dt.datetime(2026, 10, 10)
UNTIL = dt.datetime(2026, 10, 20)
SMALL_ALS = {
    "rank": 4,
    "max_iter": 6,
    "reg_param": 1.0,
    "alpha": 10.0,
    "seed": 7,
    "num_blocks": 2,
}


def ts(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour)


def test_confidence_matrix_sums_weights_before_the_cutoff_and_drops_zero_confidence(spark):
    interactions = spark.createDataFrame(
        [
            (1, 10, "view", ts(1, 9), 1.0),
            (1, 10, "progress", ts(3), 2.0),
            (1, 10, "complete", ts(10), 6.0),  # at the cut-off: excluded
            (1, 11, "share", ts(5), 0.0),  # zero confidence only: no pair
            (2, 10, "view", ts(11), 1.0),  # after the cut-off only: no pair
            (2, 11, "share", ts(2), 0.0),
            (2, 11, "view", ts(4), 1.0),
        ],
        EVENTS,
    )

    out = confidence_matrix(interactions, CUTOFF)

    expected = spark.createDataFrame(
        # zero-weight events neither start a pair nor count: (2, 11) starts at its view
        [(1, 10, 3.0, ts(1, 9), 2), (2, 11, 1.0, ts(4), 1)],
        CONFIDENCE + ", first_ts timestamp, events bigint",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_confidence_matrix_halves_weights_per_half_life_before_the_cutoff(spark):
    interactions = spark.createDataFrame(
        [
            (1, 10, "complete", ts(10) - dt.timedelta(days=20), 8.0),  # two half-lives old
            (1, 10, "view", ts(10) - dt.timedelta(days=10), 2.0),  # one half-life old
            (1, 10, "view", ts(10) - dt.timedelta(hours=12), 1.0),  # 0.05 half-lives old
            (2, 11, "view", ts(10), 1.0),  # at the cut-off: excluded
        ],
        EVENTS,
    )

    out = confidence_matrix(interactions, CUTOFF, half_life_days=10)

    expected = spark.createDataFrame(
        [(1, 10, 8.0 / 4 + 2.0 / 2 + 0.5**0.05, ts(10) - dt.timedelta(days=20), 3)],
        CONFIDENCE + ", first_ts timestamp, events bigint",
    )
    assert_approx_df_equality(out, expected, 1e-9, ignore_nullable=True)


def test_confidence_matrix_adds_the_completion_weight_times_the_share_completed(spark):
    interactions = spark.createDataFrame(
        [
            (1, 10, "progress", ts(1), 0.25, 2.0),
            (1, 10, "progress", ts(2), 0.75, 2.0),  # the highest progress counts
            (2, 10, "progress", ts(1), 0.5, 2.0),
            (2, 10, "complete", ts(3), 1.0, 6.0),  # completed: share 1
            (3, 11, "view", ts(1), 0.0, 1.0),  # neither progress nor completion: share 0
            (4, 11, "progress", ts(2), 1.7, 2.0),  # values above 1 count as 1
        ],
        "learner_id bigint, course_id bigint, event_type string, event_ts timestamp, "
        "value double, weight double",
    )

    out = confidence_matrix(interactions, CUTOFF, completion_weight=4.0)

    expected = spark.createDataFrame(
        [
            (1, 10, 4.0 + 4.0 * 0.75, ts(1), 2),
            (2, 10, 8.0 + 4.0, ts(1), 2),
            (3, 11, 1.0, ts(1), 1),
            (4, 11, 2.0 + 4.0, ts(2), 1),
        ],
        CONFIDENCE + ", first_ts timestamp, events bigint",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_holdout_pairs_are_pairs_first_seen_in_the_holdout_window(spark):
    interactions = spark.createDataFrame(
        [
            (1, 10, "view", ts(1), 1.0),  # seen before the cut-off ...
            (1, 10, "view", ts(12), 1.0),  # ... so not new in the window
            (1, 11, "view", ts(10), 1.0),  # exactly at the cut-off: new
            (1, 12, "quiz", ts(15), 3.0),  # inside the window: new
            (1, 12, "view", ts(16), 1.0),
            (1, 13, "view", ts(20), 1.0),  # exactly at `until`: outside
            (2, 10, "share", ts(19), 0.0),  # no positive event
            (2, 11, "view", ts(25), 1.0),  # after the window
        ],
        EVENTS,
    )

    out = holdout_pairs(interactions, CUTOFF, UNTIL)

    expected = spark.createDataFrame([(1, 11), (1, 12)], "learner_id bigint, course_id bigint")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_holdout_pairs_ignore_zero_weight_events_before_the_cutoff(spark):
    interactions = spark.createDataFrame(
        [
            (3, 10, "share", ts(5), 0.0),  # weighs 0: no engagement before the cut-off
            (3, 10, "view", ts(12), 1.0),  # first positive event, inside the window
        ],
        EVENTS,
    )

    assert confidence_matrix(interactions, CUTOFF).count() == 0  # not a training pair
    out = holdout_pairs(interactions, CUTOFF, UNTIL)

    expected = spark.createDataFrame([(3, 10)], "learner_id bigint, course_id bigint")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_popularity_scores_count_distinct_learners_per_course(spark):
    confidence = spark.createDataFrame(
        [(1, 10, 3.0), (2, 10, 0.5), (2, 10, 1.0), (3, 10, 9.0), (1, 11, 1.0)], CONFIDENCE
    )

    out = popularity_scores(confidence)

    expected = spark.createDataFrame([(10, 3.0), (11, 1.0)], "course_id bigint, score double")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_als_params_maps_settings_with_defaults(spark):
    params = als_params({"rank": "8", "max_iter": 5, "reg_param": "0.1", "alpha": 2})

    assert params == {
        "rank": 8,
        "maxIter": 5,
        "regParam": 0.1,
        "alpha": 2.0,
        "seed": 42,
        "numUserBlocks": 4,
        "numItemBlocks": 4,
        "checkpointInterval": -1,  # 5 iterations: too short to checkpoint
        "implicitPrefs": True,
        "nonnegative": False,
        "coldStartStrategy": "drop",
        "userCol": "learner_id",
        "itemCol": "course_id",
        "ratingCol": "confidence",
    }
    assert isinstance(params["regParam"], float) and isinstance(params["alpha"], float)


def test_als_params_explicit_settings_are_accepted_by_pyspark_als(spark):
    params = als_params({**SMALL_ALS, "nonnegative": True})

    assert (params["rank"], params["maxIter"], params["seed"]) == (4, 6, 7)
    assert (params["numUserBlocks"], params["numItemBlocks"], params["nonnegative"]) == (
        2,
        2,
        True,
    )
    als = ALS(**params)
    assert als.getRank() == 4 and als.getImplicitPrefs() and als.getNonnegative()


def test_train_als_learns_the_block_structure(spark):
    # two groups of learners, each engaged with its own courses; learner 1 has not seen
    # course 12 of its group, learner 7 has not seen course 22 of its group
    group_a, courses_a = [1, 2, 3, 4, 5, 6], [10, 11, 12, 13]
    group_b, courses_b = [7, 8, 9, 10, 11, 12], [20, 21, 22, 23]
    rows = [(u, c, 5.0) for u in group_a for c in courses_a if (u, c) != (1, 12)]
    rows += [(u, c, 5.0) for u in group_b for c in courses_b if (u, c) != (7, 22)]
    confidence = spark.createDataFrame(rows, CONFIDENCE)

    model = train_als(confidence, SMALL_ALS)

    users = {r.id: r.features for r in model.userFactors.collect()}
    items = {r.id: r.features for r in model.itemFactors.collect()}
    assert set(users) == set(group_a + group_b) and set(items) == set(courses_a + courses_b)
    assert {len(f) for f in (*users.values(), *items.values())} == {SMALL_ALS["rank"]}

    def score(u, c):
        return sum(x * y for x, y in zip(users[u], items[c], strict=True))

    # the unseen course of the learner's own group clearly beats every course of the other
    assert score(1, 12) > max(score(1, c) for c in courses_b) + 0.5
    assert score(7, 22) > max(score(7, c) for c in courses_a) + 0.5


@pytest.mark.parametrize(
    ("learner_id", "course_id", "message"),
    [
        (MAX_ALS_ID + 1, 10, "max_learner"),
        (1, MAX_ALS_ID + 1, "max_course"),
        (-1, 10, "non-negative"),
    ],
)
def test_train_als_rejects_ids_outside_the_32_bit_range(spark, learner_id, course_id, message):
    confidence = spark.createDataFrame([(2, 11, 1.0), (learner_id, course_id, 1.0)], CONFIDENCE)

    with pytest.raises(ValueError, match=message):
        train_als(confidence, SMALL_ALS)


def test_train_als_rejects_empty_input(spark):
    confidence = spark.createDataFrame([], CONFIDENCE)

    with pytest.raises(ValueError, match="no interactions"):
        train_als(confidence, SMALL_ALS)


@pytest.mark.parametrize(
    ("pairs", "parallelism", "blocks"),
    [
        (0, 8, 1),  # nothing to spread
        (4_000, 8, 1),  # tiny: one block, no shuffle worth it
        (19_000, 8, 4),  # a block per 5k ratings, fewer than the cores
        (19_000, 2, 2),  # one per core
        (2_000_000, 2, 4),  # large: at most 500k ratings a block, more blocks than cores
    ],
)
def test_als_blocks_spread_over_cores_within_block_size_bounds(pairs, parallelism, blocks):
    assert als_blocks(pairs, parallelism) == blocks


@pytest.mark.parametrize(
    ("max_iter", "interval", "expected"),
    [
        (8, 10, -1),
        (10, 10, -1),
        (12, 10, 10),
        (16, 10, 10),
        (50, 10, 10),
        (50, 0, -1),
        (50, -1, -1),
    ],
)
def test_checkpoint_interval_only_for_fits_longer_than_one_interval(max_iter, interval, expected):
    assert checkpoint_interval(max_iter, interval) == expected


def test_als_params_checkpoint_long_fits(spark):
    params = als_params({**SMALL_ALS, "max_iter": 30, "checkpoint_interval": 10})

    assert params["checkpointInterval"] == 10


@pytest.mark.parametrize(
    ("master", "slots"), [("local", 1), ("local[3]", 3), ("local[5,2]", 5), ("local[*]", None)]
)
def test_task_slots_of_local_masters_count_cores_not_default_parallelism(master, slots):
    class Context:
        defaultParallelism = 8

    Context.master = master

    class Session:
        sparkContext = Context

    assert task_slots(Session) == (slots if slots is not None else os.cpu_count())


def test_task_slots_of_a_cluster_is_its_default_parallelism():
    class Context:
        master, defaultParallelism = "spark://master:7077", 12

    class Session:
        sparkContext = Context

    assert task_slots(Session) == 12


def test_als_params_auto_blocks_use_the_computed_count(spark):
    assert als_params({**SMALL_ALS, "num_blocks": "auto"}, blocks=3)["numUserBlocks"] == 3
    assert als_params({**SMALL_ALS, "num_blocks": 5}, blocks=3)["numItemBlocks"] == 5


def test_item_similarities_keep_each_courses_top_cosine_neighbours(spark):
    confidence = spark.createDataFrame(
        [
            (1, 10, 1.0),
            (1, 11, 1.0),
            (2, 10, 2.0),
            (2, 11, 2.0),
            (2, 12, 1.0),
            (3, 12, 3.0),
            (3, 13, 4.0),
        ],
        CONFIDENCE,
    )

    out = item_similarities(confidence, neighbours=1)

    # vectors over learners 1..3: c10 = c11 = (1, 2, 0), c12 = (0, 1, 3), c13 = (0, 0, 4)
    norm10, norm12 = 5**0.5, 10**0.5
    expected = spark.createDataFrame(
        [
            (10, 11, 1.0),  # identical vectors beat c12 (2 / (sqrt5 sqrt10))
            (11, 10, 1.0),
            (12, 13, 12 / (norm12 * 4)),  # 0.949 beats c10 and c11 (0.283)
            (13, 12, 12 / (norm12 * 4)),
        ],
        "course_id bigint, neighbour_id bigint, similarity double",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)
    assert 2 / (norm10 * norm12) < 12 / (norm12 * 4)


def test_item_similarities_of_some_courses_equal_those_rows_of_all_courses(spark):
    confidence = spark.createDataFrame(
        [(1, 10, 1.0), (1, 11, 2.0), (1, 12, 1.0), (2, 10, 2.0), (2, 12, 3.0), (3, 11, 1.0),
         (3, 13, 4.0), (4, 12, 1.0), (4, 13, 2.0), (4, 10, 5.0)],
        CONFIDENCE,
    )  # fmt: skip
    asked = spark.createDataFrame([(11,), (13,), (13,), (99,)], "course_id bigint")

    out = item_similarities(confidence, neighbours=2, courses=asked)

    expected = item_similarities(confidence, neighbours=2).filter(F.col("course_id").isin(11, 13))
    assert expected.count() == 4
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_item_neighbour_scores_sum_similarities_to_the_learners_courses(spark):
    confidence = spark.createDataFrame([(1, 10, 5.0), (1, 11, 1.0), (2, 12, 1.0)], CONFIDENCE)
    similarities = spark.createDataFrame(
        [(10, 20, 0.5), (11, 20, 0.25), (11, 21, 0.1), (12, 22, 0.9)],
        "course_id bigint, neighbour_id bigint, similarity double",
    )
    learners = spark.createDataFrame([(1,)], "learner_id bigint")  # learner 2 is not asked for

    out = item_neighbour_scores(learners, confidence, similarities)

    expected = spark.createDataFrame(
        [(1, 20, 0.75), (1, 21, 0.1)], "learner_id bigint, course_id bigint, score double"
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
