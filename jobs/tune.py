"""Tune: an Optuna search over the ALS settings of conf `recommender.tuning.space`, one nested
MLflow run per trial under a parent run that carries the best settings.

Trials are chosen on a validation window, the `holdout_days` just before the nightly's holdout
(trained on what came before it), so the holdout the train job and the benchmarks report stays
unseen by the search. The best settings and the profile's own are then both fitted before the
holdout and scored on it, so the run shows whether the choice carries over before anyone copies
it into conf.

    spark-submit --py-files dist/lakehouse.zip jobs/tune.py --profile cluster --date 2026-11-02

The nightly keeps training conf `recommender.als`: copy the printed best settings there (the
parent run's tag `lakehouse.best_als` holds them too); the promotion gate then decides whether
the model they give replaces the champion.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

import mlflow
import optuna
from pyspark.sql import DataFrame, SparkSession

from jobs.train import als_top_k, experiment_id, holdout_split, mlflow_client, model_recipe
from lakehouse import tables
from lakehouse.ranking import learner_ranking_metrics
from lakehouse.runs import data_end, job_main

log = logging.getLogger("lakehouse.tune")
BEST_TAG = "lakehouse.best_als"


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """The best ALS settings found with their validation NDCG@k, the holdout NDCG@k of those
    settings and of the profile's (`holdout_<metric>`, `profile_holdout_<metric>`), the
    validation window, the number of trials and the parent MLflow run id."""
    rec = cfg["recommender"]
    tuning = rec["tuning"]
    k = int(rec["k"])
    run_date: dt.date = cfg["run"]["date"]
    recipe = model_recipe(cfg)
    interactions = tables.read_table(spark, cfg, "silver.interactions")
    holdout_end = data_end(run_date)
    validation_end = holdout_end - dt.timedelta(days=int(rec["holdout_days"]))
    validation_start, train, relevant = holdout_split(
        interactions, validation_end, rec["holdout_days"], recipe
    )
    learners = relevant.select("learner_id").distinct().cache()
    if learners.isEmpty():
        raise ValueError(
            f"no learner engaged with a new course in the validation window [{validation_start}, "
            f"{validation_end}), the {rec['holdout_days']} days before the holdout: nothing to "
            "tune on (a later --date or a longer history)"
        )

    client = mlflow_client(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=int(tuning["seed"]))
    )
    metric = f"ndcg_at_{k}"
    with mlflow.start_run(
        experiment_id=experiment_id(client, cfg), run_name=f"tune {run_date}"
    ) as parent:
        mlflow.log_params({"trials": tuning["trials"], "holdout_days": rec["holdout_days"], "k": k})
        mlflow.set_tag("lakehouse.space", json.dumps(tuning["space"], sort_keys=True))

        def objective(trial: optuna.Trial) -> float:
            params = {**recipe["als"], **trial_settings(trial, tuning["space"])}
            top = als_top_k(train, learners, params, k)
            score = holdout_ndcg(top, relevant, k)
            # Nested runs default to the active experiment, not the parent's: name it.
            with mlflow.start_run(
                experiment_id=parent.info.experiment_id,
                run_name=f"trial {trial.number}",
                nested=True,
            ):
                mlflow.log_params({f"als_{name}": v for name, v in params.items()})
                mlflow.log_metric(metric, score)
            log.info("trial %d: %s=%.4f %s", trial.number, metric, score, params)
            return score

        study.optimize(objective, n_trials=int(tuning["trials"]))
        for df in (train, relevant, learners):
            df.unpersist()
        best = {**recipe["als"], **study.best_params}
        holdout = holdout_scores(
            interactions, holdout_end, rec["holdout_days"], recipe,
            {"holdout": best, "profile_holdout": recipe["als"]}, k,
        )  # fmt: skip
        mlflow.log_params({f"best_als_{name}": v for name, v in best.items()})
        mlflow.log_params({"validation_start": validation_start, "validation_end": validation_end})
        mlflow.log_metric(f"best_{metric}", study.best_value)
        mlflow.log_metrics({f"{name}_{metric}": v for name, v in holdout.items()})
        mlflow.set_tag(BEST_TAG, json.dumps(best, sort_keys=True))
    return {
        "best_als": best,
        f"best_{metric}": study.best_value,
        **{f"{name}_{metric}": v for name, v in holdout.items()},
        "validation_window": f"[{validation_start}, {validation_end})",
        "trials": len(study.trials),
        "run_id": parent.info.run_id,
    }


def holdout_scores(
    interactions: DataFrame,
    as_of: dt.datetime,
    holdout_days: int,
    recipe: dict[str, Any],
    settings: dict[str, dict[str, Any]],
    k: int,
) -> dict[str, float]:
    """NDCG@k on the holdout before `as_of` of ALS fitted before it with each named group of
    settings, by name."""
    _, train, relevant = holdout_split(interactions, as_of, holdout_days, recipe)
    learners = relevant.select("learner_id").distinct().cache()
    try:
        return {
            name: holdout_ndcg(als_top_k(train, learners, params, k), relevant, k)
            for name, params in settings.items()
        }
    finally:
        for df in (train, relevant, learners):
            df.unpersist()


def trial_settings(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One value per setting of the search space, drawn by the trial."""
    settings: dict[str, Any] = {}
    for name, spec in sorted(space.items()):
        if "choices" in spec:
            settings[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            settings[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=bool(spec.get("log"))
            )
        else:
            settings[name] = trial.suggest_float(
                name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
            )
    return settings


def holdout_ndcg(recommended: DataFrame, relevant: DataFrame, k: int) -> float:
    """Mean NDCG@k of the recommendations over the learners with held-out courses."""
    per_learner = learner_ranking_metrics(recommended, relevant, k)
    return float(per_learner.agg({"ndcg": "avg"}).first()[0] or 0.0)


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "tune", argv)


if __name__ == "__main__":
    sys.exit(main())
