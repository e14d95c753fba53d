"""Ranking quality of top-K recommendations against held-out engagements."""

from __future__ import annotations

from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

METRICS = {
    "precision": "precisionAtK",
    "recall": "recallAtK",
    "ndcg": "ndcgAtK",
    "map": "meanAveragePrecisionAtK",
}


def ranking_frame(recommended: DataFrame, relevant: DataFrame) -> DataFrame:
    """One row per learner with held-out courses: `prediction` (recommended course ids in rank
    order, possibly empty) and `label` (the held-out course ids)."""
    labels = relevant.groupBy("learner_id").agg(
        F.array_sort(F.collect_set(F.col("course_id").cast("double"))).alias("label")
    )
    preds = recommended.groupBy("learner_id").agg(
        F.transform(
            F.array_sort(
                F.collect_list(F.struct("rank", F.col("course_id").cast("double").alias("c")))
            ),
            lambda s: s["c"],
        ).alias("prediction")
    )
    return labels.join(preds, "learner_id", "left").select(
        "learner_id",
        F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"),
        "label",
    )


def ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> dict[str, float]:
    """precision@k, recall@k, NDCG@k and MAP@k of the recommendations, averaged over the learners
    that have held-out courses; keys like 'ndcg_at_10'."""
    frame = ranking_frame(recommended, relevant).cache()
    try:
        if frame.limit(1).count() == 0:
            raise ValueError("no learner has held-out courses: nothing to evaluate")
        out = {}
        for name, metric in METRICS.items():
            evaluator = RankingEvaluator(
                metricName=metric, k=k, predictionCol="prediction", labelCol="label"
            )
            out[f"{name}_at_{k}"] = float(evaluator.evaluate(frame))
        out["evaluated_learners"] = float(frame.count())
        return out
    finally:
        frame.unpersist()


def learner_ranking_metrics(recommended: DataFrame, relevant: DataFrame, k: int) -> DataFrame:
    """One row per learner with held-out courses (learner_id): precision, recall, ndcg and
    average_precision of its top k, defined as RankingEvaluator defines them (binary relevance,
    DCG over log2(rank + 1), AP over min(held-out courses, k))."""
    top = F.slice("prediction", 1, k)

    def hit(course):
        return F.array_contains("label", course)

    gains = F.transform(top, lambda c, i: F.when(hit(c), 1.0 / F.log2(i + 2.0)).otherwise(0.0))
    ideal = F.transform(
        F.sequence(F.lit(0), F.least(F.size("label"), F.lit(k)) - 1),
        lambda i: 1.0 / F.log2(i + 2.0),
    )
    # Precision at each hit: the hits among the first i + 1 recommendations, over i + 1.
    precision_at_hits = F.transform(
        top,
        lambda c, i: F.when(
            hit(c), F.size(F.filter(F.slice(top, 1, i + 1), hit)) / (i + 1.0)
        ).otherwise(0.0),
    )
    hits = F.size(F.filter(top, hit)).cast("double")

    def total(values):
        return F.aggregate(values, F.lit(0.0), lambda acc, v: acc + v)

    return ranking_frame(recommended, relevant).select(
        "learner_id",
        (hits / k).alias("precision"),
        (hits / F.size("label")).alias("recall"),
        (total(gains) / total(ideal)).alias("ndcg"),
        (total(precision_at_hits) / F.least(F.size("label"), F.lit(k))).alias("average_precision"),
    )
