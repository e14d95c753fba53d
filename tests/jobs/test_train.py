"""jobs.train: the champion/challenger gate on a throwaway MLflow store and lakehouse."""

from __future__ import annotations

import datetime as dt

import mlflow
import pytest
from pyspark.ml.recommendation import ALSModel

from jobs import train
from lakehouse import tables
from lakehouse.config import with_run

GOOD = {"rank": 8, "max_iter": 10, "reg_param": 0.05, "alpha": 10.0, "seed": 1}
# One latent factor cannot tell four groups of courses apart.
BAD = {"rank": 1, "max_iter": 1, "reg_param": 0.05, "alpha": 10.0, "seed": 1}
WORSE = {**BAD, "max_iter": 2}
GROUPS, LEARNERS_PER_GROUP, COURSES_PER_GROUP = 4, 10, 6


def group_interactions() -> list[tuple]:
    """Four groups of learners, each engaged with four of its group's six courses before the
    holdout and with a fifth inside it (the last 21 days before 2026-11-02)."""
    rows = []
    for g in range(GROUPS):
        for i in range(LEARNERS_PER_GROUP):
            learner = 100 * (g + 1) + i
            courses = [10 * (g + 1) + (i + j) % COURSES_PER_GROUP for j in range(5)]
            for j, course in enumerate(courses[:4]):
                when = dt.datetime(2026, 9, 1 + j, 10)
                rows.append((learner, course, "view", when, 0.0, 1.0))
                rows.append((learner, course, "progress", when + dt.timedelta(days=1), 0.5, 2.0))
            rows.append((learner, courses[4], "view", dt.datetime(2026, 10, 20 + g), 0.0, 1.0))
    return rows


@pytest.fixture(scope="module")
def lakehouse(spark, profile, tmp_path_factory):
    """A profile on its own root whose silver tables hold the group data."""
    root = tmp_path_factory.mktemp("train-gate")
    cfg = profile(
        "local",
        {"paths.root": str(root)},
    )
    cfg = with_run(cfg, date="2026-11-01", batch_id="gate")
    interactions = spark.createDataFrame(
        group_interactions(),
        "learner_id bigint, course_id bigint, event_type string, event_ts timestamp, "
        "value double, weight double",
    )
    learners = spark.createDataFrame(
        [
            (100 * (g + 1) + i, f"dept-{g}")
            for g in range(GROUPS)
            for i in range(LEARNERS_PER_GROUP)
        ],
        "learner_id bigint, department string",
    )
    courses = spark.createDataFrame(
        [(10 * (g + 1) + j,) for g in range(GROUPS) for j in range(COURSES_PER_GROUP)],
        "course_id bigint",
    )
    tables.overwrite_table(interactions, cfg, "silver.interactions")
    tables.overwrite_table(learners, cfg, "silver.learners")
    tables.overwrite_table(courses, cfg, "silver.courses")
    return cfg


def with_als(cfg: dict, als: dict) -> dict:
    out = with_run(cfg)
    out["recommender"] = {**cfg["recommender"], "als": {**als, "num_blocks": 1}}
    return out


def aliases(cfg: dict) -> dict[str, str]:
    client = train.mlflow_client(cfg)
    model = client.get_registered_model(cfg["recommender"]["registered_model"])
    return {alias: str(version) for alias, version in model.aliases.items()}


@pytest.fixture(scope="module")
def gate(spark, lakehouse):
    """Training results, in order: a bad first model, a good one, a worse one, a rerun of the
    worse one on identical input; and the registered model's aliases after each."""
    results, seen_aliases = [], []
    for als in (BAD, GOOD, WORSE, WORSE):
        results.append(train.run(spark, with_als(lakehouse, als)))
        seen_aliases.append(aliases(lakehouse))
    return results, seen_aliases


def test_the_first_model_becomes_champion(gate):
    (first, *_), (first_aliases, *_) = gate
    assert (first["model_version"], first["promoted"]) == ("1", True)
    assert first["promotion_reason"] == (
        f"no champion yet: challenger NDCG@10 {first['als_ndcg_at_10']:.4f} promoted"
    )
    assert first_aliases == {"champion": "1", "challenger": "1"}


def test_a_better_model_beating_the_margin_is_promoted(gate):
    (first, better, *_), (_, better_aliases, *_) = gate
    assert better["als_ndcg_at_10"] > 0.6 > better["popularity_ndcg_at_10"]
    # the champion's recipe refitted on the same split scores what it scored as challenger
    assert better["champion_ndcg_at_10"] == pytest.approx(first["als_ndcg_at_10"])
    assert (better["model_version"], better["promoted"]) == ("2", True)
    assert better["promotion_reason"] == (
        f"challenger NDCG@10 {better['als_ndcg_at_10']:.4f} >= "
        f"champion {better['champion_ndcg_at_10']:.4f} x 1.02"
    )
    assert better_aliases == {"champion": "2", "challenger": "2"}


def test_a_worse_model_is_registered_as_challenger_but_not_promoted(gate, lakehouse):
    (_, better, worse, _), (_, _, worse_aliases, _) = gate
    assert worse["champion_ndcg_at_10"] == pytest.approx(better["als_ndcg_at_10"])
    assert worse["als_ndcg_at_10"] < worse["champion_ndcg_at_10"] * 1.02
    assert (worse["model_version"], worse["promoted"], worse["champion_version"]) == (
        "3",
        False,
        "2",
    )
    assert worse["promotion_reason"] == (
        f"challenger NDCG@10 {worse['als_ndcg_at_10']:.4f} < champion "
        f"{worse['champion_ndcg_at_10']:.4f} x 1.02: the champion keeps scoring"
    )
    assert worse_aliases == {"champion": "2", "challenger": "3"}
    client = train.mlflow_client(lakehouse)
    run = client.get_run(client.get_model_version("course_recommender", "3").run_id)
    assert run.data.tags["lakehouse.promoted"] == "false"
    assert run.data.tags["lakehouse.promotion_reason"] == worse["promotion_reason"]


def test_a_rerun_on_identical_input_reuses_the_model_and_leaves_the_aliases(gate):
    (*_, worse, again), (*_, rerun_aliases) = gate
    assert (again["model_version"], again["reused"], again["promoted"]) == ("3", True, False)
    assert again["promotion_reason"] == worse["promotion_reason"]
    assert again["champion_version"] == "2"
    assert rerun_aliases == {"champion": "2", "challenger": "3"}


def test_the_champion_is_a_spark_flavour_model_of_the_promoted_recipe(gate, lakehouse):
    train.mlflow_client(lakehouse)
    uri = "models:/course_recommender@champion"
    assert "spark" in mlflow.models.get_model_info(uri).flavors
    model = mlflow.spark.load_model(uri).stages[0]
    assert isinstance(model, ALSModel) and model.rank == GOOD["rank"]


def test_baseline_and_segment_metrics_are_logged_with_the_run(gate, lakehouse):
    client = train.mlflow_client(lakehouse)
    metrics = client.get_run(
        client.get_model_version("course_recommender", "2").run_id
    ).data.metrics

    for model in ("als", "champion", "popularity", "item_similarity"):
        for metric in ("ndcg_at_10", "catalog_coverage", "popularity_percentile"):
            assert f"{model}_{metric}" in metrics
    assert metrics["als_evaluated_learners/department/dept-0"] == LEARNERS_PER_GROUP
    assert metrics["als_evaluated_learners/tenure/established"] == GROUPS * LEARNERS_PER_GROUP
    # within its group, the item-similarity baseline finds the held-out course too
    assert metrics["item_similarity_ndcg_at_10"] > metrics["popularity_ndcg_at_10"]
