"""Train: implicit ALS on silver.interactions, evaluated on a time-based holdout next to a
popularity and an item-similarity baseline and, per segment, logged to MLflow with the Spark
flavour, registered with the alias `challenger`, and promoted to `champion` only if it beats the
champion on the same holdout by the configured margin.

    spark-submit --py-files dist/lakehouse.zip jobs/train.py --profile cluster --date 2026-11-02

A nightly rerun on the same data and settings reuses the model it already trained (matched by
a fingerprint of the training input and recipe) and leaves the aliases alone, so reruns give
identical results.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import sys
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import tables
from lakehouse.evaluation import (
    ALL,
    learner_segments,
    popularity_percentiles,
    promotion_decision,
    segment_metrics,
)
from lakehouse.recommendations import blocked_top_k, popularity_candidates, top_k
from lakehouse.recommender import (
    confidence_matrix,
    holdout_pairs,
    item_neighbour_scores,
    item_similarities,
    popularity_scores,
    train_als,
)
from lakehouse.runs import data_end, job_main

log = logging.getLogger("lakehouse.train")
FINGERPRINT_TAG = "lakehouse.fingerprint"
RECIPE_TAG = "lakehouse.recipe"
CHAMPION = "champion"
CHALLENGER = "challenger"


def run(spark: SparkSession, cfg: dict[str, Any]) -> dict[str, Any]:
    """The model version trained for the run date, whether it was promoted and why, the champion
    version after the gate, and the holdout metrics of every model compared."""
    rec = cfg["recommender"]
    name = rec["registered_model"]
    run_date: dt.date = cfg["run"]["date"]
    as_of = data_end(run_date)
    recipe = model_recipe(cfg)
    interactions = tables.read_table(spark, cfg, "silver.interactions")
    full = recipe_confidence(interactions, as_of, recipe).cache()
    fingerprint = training_fingerprint(full, recipe, rec["holdout_days"], rec["k"], run_date)

    client = mlflow_client(cfg)
    existing = _run_with_fingerprint(client, rec["experiment"], fingerprint)
    if existing is not None:
        version = _registered_version(client, name, existing.info.run_id)
        if version is not None:
            log.info("reusing model version %s trained on identical input", version)
            full.unpersist()
            tags = existing.data.tags
            return {
                "model_version": version,
                "reused": True,
                "promoted": tags.get("lakehouse.promoted") == "true",
                "promotion_reason": tags.get("lakehouse.promotion_reason", ""),
                "champion_version": _alias_version(client, name, CHAMPION),
                **{k: v for k, v in existing.data.metrics.items() if "/" not in k},
            }

    champion = _alias_version(client, name, CHAMPION)
    champion_recipe = _recipe_of_version(client, name, champion) if champion else None
    same_recipe = champion_recipe == recipe
    metrics, segments = evaluate_on_holdout(
        interactions,
        tables.read_table(spark, cfg, "silver.learners"),
        tables.read_table(spark, cfg, "silver.courses"),
        as_of,
        rec,
        recipe,
        None if champion is None or same_recipe else champion_recipe,
    )
    model = train_als(full, recipe["als"])
    k = int(rec["k"])
    promote, reason = promotion_decision(
        metrics[f"als_ndcg_at_{k}"],
        metrics.get(f"champion_ndcg_at_{k}"),
        float(rec["promotion_margin"]),
        metric=f"NDCG@{k}",
        same_recipe=champion is not None and same_recipe,
    )
    version = log_model(cfg, model, metrics, segments, fingerprint, recipe, full, promote, reason)
    full.unpersist()
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    log.info("model version %s %s: %s", version, "promoted" if promote else "not promoted", reason)
    return {
        "model_version": version,
        "reused": False,
        "promoted": promote,
        "promotion_reason": reason,
        "champion_version": version if promote else champion,
        **metrics,
    }


def model_recipe(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every setting that shapes a model from silver.interactions: ALS hyperparameters and the
    confidence's time decay and completion weight."""
    inter = cfg["interactions"]
    half_life = inter.get("half_life_days")
    return {
        "als": dict(cfg["recommender"]["als"]),
        "half_life_days": float(half_life) if half_life else None,
        "completion_weight": float(inter.get("completion_weight") or 0.0),
    }


def recipe_confidence(
    interactions: DataFrame, before: dt.datetime, recipe: dict[str, Any]
) -> DataFrame:
    """The confidence_matrix of the interactions before `before` with the recipe's settings."""
    return confidence_matrix(
        interactions, before, recipe["half_life_days"], recipe["completion_weight"]
    )


def holdout_split(
    interactions: DataFrame, as_of: dt.datetime, holdout_days: int, recipe: dict[str, Any]
) -> tuple[dt.datetime, DataFrame, DataFrame]:
    """(cut-off, training confidence before it, held-out pairs first engaged in
    [cut-off, as_of)), both DataFrames cached."""
    cutoff = as_of - dt.timedelta(days=int(holdout_days))
    train = recipe_confidence(interactions, cutoff, recipe).cache()
    relevant = holdout_pairs(interactions, cutoff, as_of).cache()
    return cutoff, train, relevant


def als_top_k(train: DataFrame, learners: DataFrame, params: dict[str, Any], k: int) -> DataFrame:
    """The top k unseen courses (learner_id, rank) of each learner by an ALS model fitted on
    the training confidence with `params`."""
    model = train_als(train, params)
    seen = train.select("learner_id", "course_id")
    return blocked_top_k(learners, model.userFactors, model.itemFactors, seen, k)


def evaluate_on_holdout(
    interactions: DataFrame,
    learners: DataFrame,
    courses: DataFrame,
    as_of: dt.datetime,
    rec: dict[str, Any],
    recipe: dict[str, Any],
    champion_recipe: dict[str, Any] | None,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """(overall metrics keyed '<model>_<metric>', one dict per model, segment type, segment and
    metric) of the challenger ALS ('als'), the popularity and item-similarity baselines and,
    when given, the champion's recipe ('champion') on the holdout_days before as_of."""
    k = int(rec["k"])
    evaluation = rec.get("evaluation") or {}
    cutoff, train, relevant = holdout_split(interactions, as_of, rec["holdout_days"], recipe)
    evaluated = relevant.select("learner_id").distinct().cache()
    seen = train.select("learner_id", "course_id")
    segments = learner_segments(
        evaluated, learners, train, cutoff, int(evaluation.get("new_learner_days", 30))
    ).cache()
    percentiles = popularity_percentiles(courses, popularity_scores(train)).cache()

    tops = {
        "als": als_top_k(train, evaluated, recipe["als"], k),
        "popularity": top_k(popularity_candidates(evaluated, popularity_scores(train)), seen, k),
        # Neighbours only of the courses the evaluated learners engaged with: all it scores.
        "item_similarity": top_k(
            item_neighbour_scores(
                evaluated,
                train,
                item_similarities(
                    train,
                    int(evaluation.get("neighbours", 20)),
                    seen.join(evaluated, "learner_id", "left_semi"),
                ),
            ),
            seen,
            k,
        ),
    }
    if champion_recipe is not None:
        # The champion's recipe refitted on this split: the served model itself was trained
        # on data that overlaps this holdout, so scoring it here would flatter it.
        champion_train = recipe_confidence(interactions, cutoff, champion_recipe)
        tops["champion"] = als_top_k(champion_train, evaluated, champion_recipe["als"], k)

    rows: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}
    for model_name, top in tops.items():
        for row in segment_metrics(top, relevant, segments, percentiles, k).collect():
            rows.append({"model": model_name, **row.asDict()})
            if row["segment_type"] == ALL:
                metrics[f"{model_name}_{row['metric']}"] = row["value"]
    if not metrics:
        raise ValueError("no learner has held-out courses: nothing to evaluate")
    metrics["train_pairs"] = float(train.count())
    metrics["holdout_pairs"] = float(relevant.count())
    for df in (train, relevant, evaluated, segments, percentiles):
        df.unpersist()
    return metrics, rows


def training_fingerprint(
    confidence: DataFrame, recipe: dict[str, Any], holdout_days: int, k: int, run_date: dt.date
) -> str:
    """A hash of the training input's content and of every setting that shapes the model."""
    row_hash = F.xxhash64("learner_id", "course_id", "confidence", "first_ts", "events")
    content = confidence.agg(F.count(F.lit(1)).alias("n"), F.bit_xor(row_hash).alias("x")).first()
    payload = json.dumps(
        {"n": content["n"], "x": content["x"], "recipe": recipe, "holdout_days": holdout_days,
         "k": k, "run_date": run_date.isoformat()},
        sort_keys=True,
        default=str,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()


def segment_metric_name(row: dict[str, Any]) -> str:
    """The MLflow metric name of one segment metric row, e.g. 'als_ndcg_at_10/tenure/new'."""
    segment = re.sub(r"[^0-9A-Za-z_\-. ]", "_", str(row["segment"]))
    return f"{row['model']}_{row['metric']}/{row['segment_type']}/{segment}"


def log_model(
    cfg: dict[str, Any],
    model: Any,
    metrics: dict[str, float],
    segments: list[dict[str, Any]],
    fingerprint: str,
    recipe: dict[str, Any],
    full: DataFrame,
    promote: bool,
    reason: str,
) -> str:
    """The registered model version (alias `challenger`) of a newly logged run: params, metrics,
    segment metrics, the gate's decision and the Spark model."""
    rec = cfg["recommender"]
    client = mlflow_client(cfg)
    with mlflow.start_run(
        experiment_id=experiment_id(client, cfg), run_name=f"nightly {cfg['run']['date']}"
    ) as run:
        mlflow.log_params({f"als_{k}": v for k, v in recipe["als"].items()})
        mlflow.log_params(
            {
                "half_life_days": recipe["half_life_days"],
                "completion_weight": recipe["completion_weight"],
                "holdout_days": rec["holdout_days"],
                "k": rec["k"],
                "promotion_margin": rec["promotion_margin"],
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.log_metrics(
            {segment_metric_name(r): r["value"] for r in segments if r["segment_type"] != ALL}
        )
        mlflow.log_dict({"rows": segments}, "evaluation/segments.json")
        mlflow.log_metric("learners", full.select("learner_id").distinct().count())
        mlflow.set_tags(
            {
                FINGERPRINT_TAG: fingerprint,
                RECIPE_TAG: json.dumps(recipe, sort_keys=True),
                "lakehouse.run_date": cfg["run"]["date"].isoformat(),
                "lakehouse.batch_id": cfg["run"]["batch_id"],
                "lakehouse.profile": cfg["profile"],
                "lakehouse.promoted": str(promote).lower(),
                "lakehouse.promotion_reason": reason,
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
    client.set_registered_model_alias(rec["registered_model"], CHALLENGER, version)
    return version


def mlflow_client(cfg: dict[str, Any]) -> MlflowClient:
    """An MLflow client on the profile's tracking store and model registry."""
    mlflow.set_tracking_uri(cfg["tracking"]["tracking_uri"])
    mlflow.set_registry_uri(cfg["tracking"]["tracking_uri"])
    return MlflowClient()


def experiment_id(client: MlflowClient, cfg: dict[str, Any]) -> str:
    """The id of the profile's MLflow experiment, created on first use."""
    name = cfg["recommender"]["experiment"]
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=cfg["tracking"]["artifact_location"])


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _recipe_of_version(client: MlflowClient, name: str, version: str) -> dict[str, Any]:
    run = client.get_run(client.get_model_version(name, version).run_id)
    if RECIPE_TAG in run.data.tags:
        return json.loads(run.data.tags[RECIPE_TAG])
    # Versions logged before recipes were recorded: their ALS params, no decay or completion.
    als = {k.removeprefix("als_"): v for k, v in run.data.params.items() if k.startswith("als_")}
    return {"als": als, "half_life_days": None, "completion_weight": 0.0}


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
    # MLflow hands versions out as int or str depending on the store: always str here.
    return max((str(v.version) for v in versions), key=int, default=None)


def main(argv: list[str] | None = None) -> int:
    return job_main(run, "train", argv)


if __name__ == "__main__":
    sys.exit(main())
