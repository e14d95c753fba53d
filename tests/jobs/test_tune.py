"""jobs.tune: search-space sampling and a two-trial search logged as nested MLflow runs."""

from __future__ import annotations

import datetime as dt
import json

import optuna
import pytest
from pyspark.sql import functions as F

from jobs import train, tune
from lakehouse import tables
from lakehouse.config import with_run

SPACE = {
    "rank": {"low": 2, "high": 8, "log": True},
    "reg_param": {"low": 0.01, "high": 1.0, "log": True},
    "max_iter": {"low": 2, "high": 4},
    "nonnegative": {"choices": [True, False]},
}


def test_trial_settings_draw_ints_floats_and_choices_from_the_space():
    trial = optuna.trial.FixedTrial(
        {"rank": 4, "reg_param": 0.1, "max_iter": 3, "nonnegative": True}
    )

    settings = tune.trial_settings(trial, SPACE)

    assert settings == {"rank": 4, "reg_param": 0.1, "max_iter": 3, "nonnegative": True}
    assert isinstance(settings["rank"], int) and isinstance(settings["reg_param"], float)


def tune_config(profile, root):
    """The local profile tuning two trials of the SPACE for the night of 2026-11-01, whose
    holdout is [2026-10-12, 2026-11-02) and validation window [2026-09-21, 2026-10-12)."""
    cfg = with_run(profile("local", {"paths.root": str(root)}), date="2026-11-01", batch_id="tune")
    cfg["recommender"]["tuning"] = {"trials": 2, "seed": 3, "space": SPACE}
    cfg["recommender"]["als"]["num_blocks"] = 1
    return cfg


def write_interactions(spark, cfg, rows):
    tables.overwrite_table(
        spark.createDataFrame(
            rows, "learner_id bigint, course_id bigint, event_ts timestamp, weight double"
        )
        .withColumn("event_type", F.lit("view"))
        .withColumn("value", F.lit(0.0)),
        cfg,
        "silver.interactions",
    )


@pytest.fixture(scope="module")
def tuned(spark, profile, tmp_path_factory):
    """(cfg, result) of a two-trial search on two groups of three learners, each with two
    courses in training, a third in the validation window and a fourth in the holdout."""
    cfg = tune_config(profile, tmp_path_factory.mktemp("tune"))
    rows = []
    for g, courses in enumerate(([1, 2, 3, 4], [5, 6, 7, 8])):
        for i in range(3):
            learner = 10 * (g + 1) + i
            for j in range(2):
                rows.append((learner, courses[(i + j) % 4], dt.datetime(2026, 9, 1 + j), 1.0))
            rows.append((learner, courses[(i + 2) % 4], dt.datetime(2026, 10, 1), 1.0))
            rows.append((learner, courses[(i + 3) % 4], dt.datetime(2026, 10, 25), 1.0))
    write_interactions(spark, cfg, rows)
    return cfg, tune.run(spark, cfg)


def test_each_trial_is_a_nested_run_and_the_parent_carries_the_best(tuned):
    cfg, result = tuned
    client = train.mlflow_client(cfg)
    parent = client.get_run(result["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{result['run_id']}'",
    )

    assert result["trials"] == 2 and len(children) == 2
    scores = [c.data.metrics["ndcg_at_10"] for c in children]
    assert result["best_ndcg_at_10"] == max(scores)
    best_settings = {f"als_{name}": str(result["best_als"][name]) for name in SPACE}
    assert any(
        c.data.metrics["ndcg_at_10"] == max(scores)
        and {key: c.data.params[key] for key in best_settings} == best_settings
        for c in children
    )
    assert json.loads(parent.data.tags[tune.BEST_TAG]) == result["best_als"]
    assert parent.data.metrics["best_ndcg_at_10"] == result["best_ndcg_at_10"]
    for name in ("holdout_ndcg_at_10", "profile_holdout_ndcg_at_10"):
        assert 0.0 <= result[name] <= 1.0
        assert parent.data.metrics[name] == result[name]
    # settings outside the space keep their conf value
    assert result["best_als"]["alpha"] == cfg["recommender"]["als"]["alpha"]


def test_trials_are_scored_on_the_window_before_the_holdout(tuned):
    _, result = tuned

    assert result["validation_window"] == "[2026-09-21 00:00:00, 2026-10-12 00:00:00)"


def test_a_validation_window_without_new_engagements_is_a_clear_error(spark, profile, tmp_path):
    cfg = tune_config(profile, tmp_path)
    # Training history and holdout only: nothing happens in [2026-09-21, 2026-10-12).
    write_interactions(
        spark,
        cfg,
        [
            (1, 1, dt.datetime(2026, 9, 1), 1.0),
            (1, 2, dt.datetime(2026, 10, 25), 1.0),
            (2, 2, dt.datetime(2026, 9, 1), 1.0),
            (2, 1, dt.datetime(2026, 10, 25), 1.0),
        ],
    )

    with pytest.raises(ValueError, match=r"validation window \[2026-09-21 00:00:00, 2026-10-12"):
        tune.run(spark, cfg)
