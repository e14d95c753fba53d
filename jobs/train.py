"""Train: implicit ALS on silver.interactions, evaluated on a time-based holdout next to a
popularity baseline, logged and registered in MLflow.

    spark-submit --py-files dist/lakehouse.zip jobs/train.py --profile cluster --date 2026-11-02

A nightly rerun on the same data and settings reuses the model it already trained (matched by
a fingerprint of the training input and hyperparameters), so reruns give identical results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sys
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.ranking import ranking_metrics
from lakehouse.recommendations import factor_scores, popularity_candidates, top_k
from lakehouse.recommender import confidence_matrix, holdout_pairs, popularity_scores, train_als
from lakehouse.runs import data_end, job_main

log = logging.getLogger("lakehouse.train")
FINGERPRINT_TAG = "lakehouse.fingerprint"


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """The registered model version used for the run date and its holdout metrics."""
    rec = cfg["recommender"]
    run_date: dt.date = cfg["run"]["date"]
    as_of = data_end(run_date)
    interactions = tables.read_table(spark, cfg, "silver.interactions")
    full = confidence_matrix(interactions, as_of).cache()
    fingerprint = training_fingerprint(full, rec["als"], rec["holdout_days"], rec["k"], run_date)

    client = mlflow_client(cfg)
    existing = _run_with_fingerprint(client, rec["experiment"], fingerprint)
    if existing is not None:
        version = _registered_version(client, rec["registered_model"], existing.info.run_id)
        if version is not None:
            log.info("reusing model version %s trained on identical input", version)
            client.set_registered_model_alias(rec["registered_model"], "champion", version)
            full.unpersist()
            return {"model_version": version, "reused": True, **existing.data.metrics}

    metrics = evaluate_on_holdout(interactions, as_of, rec)
    model = train_als(full, rec["als"])
    version = log_model(cfg, model, metrics, fingerprint, full)
    full.unpersist()
    return {"model_version": version, "reused": False, **metrics}


def evaluate_on_holdout(
    interactions: DataFrame, as_of: dt.datetime, rec: dict[str, Any]
) -> dict[str, float]:
    """Ranking metrics of ALS and the popularity baseline on the holdout_days before as_of."""
    k = int(rec["k"])
    cutoff = as_of - dt.timedelta(days=int(rec["holdout_days"]))
    train = confidence_matrix(interactions, cutoff).cache()
    relevant = holdout_pairs(interactions, cutoff, as_of).cache()
    learners = relevant.select("learner_id").distinct()
    seen = train.select("learner_id", "course_id")

    model = train_als(train, rec["als"])
    als_top = top_k(factor_scores(learners, model.userFactors, model.itemFactors), seen, k)
    pop_top = top_k(popularity_candidates(learners, popularity_scores(train)), seen, k)
    metrics = {f"als_{m}": v for m, v in ranking_metrics(als_top, relevant, k).items()}
    metrics.update({f"popularity_{m}": v for m, v in ranking_metrics(pop_top, relevant, k).items()})
    metrics["train_pairs"] = float(train.count())
    metrics["holdout_pairs"] = float(relevant.count())
    train.unpersist()
    relevant.unpersist()
    return metrics


def training_fingerprint(
    confidence: DataFrame, als: dict[str, Any], holdout_days: int, k: int, run_date: dt.date
) -> str:
    """A hash of the training input's content and of every setting that shapes the model."""
    row_hash = F.xxhash64("learner_id", "course_id", "confidence", "first_ts", "events")
    content = confidence.agg(F.count(F.lit(1)).alias("n"), F.bit_xor(row_hash).alias("x")).first()
    payload = json.dumps(
        {"n": content["n"], "x": content["x"], "als": als, "holdout_days": holdout_days, "k": k,
         "run_date": run_date.isoformat()},
        sort_keys=True,
        default=str,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()


def log_model(
    cfg: dict[str, Any], model: Any, metrics: dict[str, float], fingerprint: str, full: DataFrame
) -> str:
    """The registered model version of a newly logged run (params, metrics, Spark model)."""
    rec = cfg["recommender"]
    client = mlflow_client(cfg)
    experiment_id = _experiment_id(client, cfg)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"nightly {cfg['run']['date']}"
    ) as run:
        mlflow.log_params({f"als_{k}": v for k, v in rec["als"].items()})
        mlflow.log_params({"holdout_days": rec["holdout_days"], "k": rec["k"]})
        mlflow.log_metrics(metrics)
        mlflow.log_metric("learners", full.select("learner_id").distinct().count())
        mlflow.set_tags(
            {
                FINGERPRINT_TAG: fingerprint,
                "lakehouse.run_date": cfg["run"]["date"].isoformat(),
                "lakehouse.batch_id": cfg["run"]["batch_id"],
                "lakehouse.profile": cfg["profile"],
            }
        )
        info = mlflow.spark.log_model(
            PipelineModel(stages=[model]),
            artifact_path="model",
            registered_model_name=rec["registered_model"],
            pip_requirements=["pyspark==4.1.1"],
        )
    version = _registered_version(client, rec["registered_model"], run.info.run_id)
    if version is None:
        raise RuntimeError(f"model of run {run.info.run_id} was not registered ({info.model_uri})")
    # Until the promotion gate exists (a later issue) the newest model serves.
    client.set_registered_model_alias(rec["registered_model"], "champion", version)
    return version


def mlflow_client(cfg: dict[str, Any]) -> MlflowClient:
    """An MLflow client on the profile's tracking store and model registry."""
    mlflow.set_tracking_uri(cfg["tracking"]["tracking_uri"])
    mlflow.set_registry_uri(cfg["tracking"]["tracking_uri"])
    return MlflowClient()


def _experiment_id(client: MlflowClient, cfg: dict[str, Any]) -> str:
    name = cfg["recommender"]["experiment"]
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=cfg["tracking"]["artifact_location"])


def _run_with_fingerprint(client: MlflowClient, experiment: str, fingerprint: str):
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=(
            f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _registered_version(client: MlflowClient, name: str, run_id: str) -> str | None:
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return max((v.version for v in versions), key=int, default=None)


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "train", argv)


if __name__ == "__main__":
    sys.exit(main())
