"""Benchmark: this project's Spark ALS and scorer side by side with the `implicit` library.

    pip install -e '.[dev,bench]'   # the `bench` extra brings implicit
    .venv/bin/python benchmarks/recommender.py --dataset demo-large [--root /tmp/bench]
    .venv/bin/python benchmarks/recommender.py --dataset oulad

On the same interactions (silver.interactions rows built in-process with the project's refine
transforms) and the project's time split (the conf's holdout_days before the day after the
last event):

a. fit time and ranking quality on the holdout of lakehouse.recommender.train_als (the conf's
   ALS params) and of implicit.cpu.als.AlternatingLeastSquares with the same factors,
   iterations, regularization and alpha on the same confidence matrix; both models' top 10
   come from the same scorer (blocked_top_k, seen courses excluded) and ranking_metrics;
b. the time (best of --repeat runs) to score every learner of the Spark model (top 10,
   nothing excluded): blocked_top_k, ALSModel.recommendForAllUsers and implicit's batch
   `recommend` on the same factors, and how often their top 10 agree.

Prints the figures with rich and as Markdown for benchmarks/RESULTS.md. The demo data are
generated into --root (default: a temp dir, removed); OULAD is read from --oulad-dir.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASETS = ("demo-large", "oulad")
OULAD_DIR = "/work/shared/data/oulad/csv"
K = 10


def demo_interactions(spark, cfg: dict[str, Any], size: str):
    """silver.interactions rows of a generated demo LMS (activity events and ratings)."""
    from lakehouse.demo.lms import DEMO_SIZES, generate_world, write_lms_database
    from lakehouse.interactions import (
        activity_events_as_interactions,
        conform_interactions,
        dedupe_interactions,
        ratings_as_interactions,
        with_confidence,
    )

    demo = cfg["demo"]
    world = generate_world(
        int(demo["seed"]),
        DEMO_SIZES[size],
        dt.date.fromisoformat(str(demo["start"])),
        dt.date.fromisoformat(str(demo["end"])),
    )
    db = Path(cfg["paths"]["demo"]) / "lms.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    write_lms_database(world, db)
    with sqlite3.connect(db) as conn:
        events = pd.read_sql("SELECT learner_id, course_id, event_type, ts, value "
                             "FROM activity_events", conn)  # fmt: skip
        ratings = pd.read_sql("SELECT learner_id, course_id, stars, ts FROM ratings", conn)
    weights = cfg["interactions"]
    rows = activity_events_as_interactions(spark.createDataFrame(events)).unionByName(
        ratings_as_interactions(spark.createDataFrame(ratings))
    )
    return (
        rows.transform(dedupe_interactions)
        .transform(with_confidence, weights["event_weights"], weights["rate_weight_per_star"])
        .transform(conform_interactions)
    )


def oulad_interactions_from_csv(spark, path: str):
    """silver.interactions rows of the OULAD's studentVle clicks."""
    from lakehouse.oulad import oulad_interactions
    from lakehouse.sources.files import read_drop
    from lakehouse.sources.oulad import OULAD_FILES

    return oulad_interactions(read_drop(spark, OULAD_FILES["student_vle"], path))


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def best_of(runs: int, fn, *args, **kwargs) -> tuple[Any, float]:
    """The result and the shortest wall time of `runs` calls (the first warms workers up)."""
    results = [timed(fn, *args, **kwargs) for _ in range(runs)]
    return results[-1][0], min(seconds for _, seconds in results)


def run_noop(df) -> None:
    """Computes every row of a DataFrame without keeping it."""
    df.write.format("noop").mode("overwrite").save()


def implicit_fit(train: pd.DataFrame, als: dict[str, Any]):
    """An implicit ALS model fitted on the confidence rows, with its user and item id arrays."""
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix

    users, user_index = np.unique(train["learner_id"].to_numpy(), return_inverse=True)
    items, item_index = np.unique(train["course_id"].to_numpy(), return_inverse=True)
    matrix = csr_matrix(
        (train["confidence"].to_numpy(np.float32), (user_index, item_index)),
        shape=(len(users), len(items)),
    )
    model = AlternatingLeastSquares(
        factors=int(als["rank"]),
        regularization=float(als["reg_param"]),
        alpha=float(als["alpha"]),
        iterations=int(als["max_iter"]),
        random_state=int(als.get("seed", 42)),
        num_threads=0,
    )
    _, seconds = timed(model.fit, matrix, show_progress=False)
    return model, users, items, seconds


def factors_frame(spark, ids: np.ndarray, factors: np.ndarray):
    """(id int, features array<float>) rows as ALSModel.userFactors has them."""
    frame = pd.DataFrame({"id": ids.astype(np.int32), "features": list(factors.astype(np.float32))})
    return spark.createDataFrame(frame, "id int, features array<float>")


def factor_arrays(factors_df) -> tuple[np.ndarray, np.ndarray]:
    """The ids (sorted) and the float32 factor matrix of an ALS factor DataFrame."""
    table = factors_df.orderBy("id").toArrow()
    ids = table.column("id").to_numpy()
    values = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return ids, values.astype(np.float32).reshape(len(ids), -1)


def top_lists(df, learner_col="learner_id", course_col="course_id") -> dict[int, list[int]]:
    """learner -> recommended course ids in rank order, of (learner_id, rank, course_id) rows."""
    frame = df.select(learner_col, "rank", course_col).toPandas()
    frame = frame.sort_values([learner_col, "rank"])
    return {int(k): v.tolist() for k, v in frame.groupby(learner_col)[course_col]}


def agreement(a: dict[int, list[int]], b: dict[int, list[int]]) -> tuple[float, float]:
    """Over the learners of `a`: the share whose top lists are equal (same order), and the mean
    share of `a`'s courses that `b` also recommends."""
    same = overlap = 0.0
    for learner, courses in a.items():
        other = b.get(learner, [])
        same += courses == other
        overlap += len(set(courses) & set(other)) / max(1, len(courses))
    return same / max(1, len(a)), overlap / max(1, len(a))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="demo-large")
    parser.add_argument("--root", default=None, help="scratch root (default: a temp dir, removed)")
    parser.add_argument("--oulad-dir", default=OULAD_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="scoring runs, best kept")
    parser.add_argument("--num-blocks", type=int, default=None, help="override als.num_blocks")
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Spark setting for the session (repeatable)",
    )
    args = parser.parse_args()

    root = Path(args.root or tempfile.mkdtemp(prefix="lakehouse-bench-rec-"))
    # implicit wants single-threaded BLAS (it parallelises itself): load the BLAS libraries
    # before limiting them, or the limit misses them.
    import implicit.cpu.als  # noqa: F401
    import scipy.sparse  # noqa: F401
    from threadpoolctl import threadpool_limits

    from lakehouse.config import load_config
    from lakehouse.ranking import ranking_metrics
    from lakehouse.recommendations import blocked_top_k
    from lakehouse.recommender import confidence_matrix, holdout_pairs, train_als
    from lakehouse.spark import build_session

    overrides: dict[str, Any] = {"paths.root": str(root)}
    for item in args.spark_conf:
        key, _, value = item.partition("=")
        overrides[f"spark.conf.{key}"] = value
    cfg = load_config("local", overrides=overrides)
    rec = cfg["recommender"]
    als = dict(rec["als"])
    if args.num_blocks:
        als["num_blocks"] = args.num_blocks
    spark = build_session(cfg, app_name=f"benchmark recommender {args.dataset}")
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    from pyspark.sql import functions as F

    try:
        started = time.perf_counter()
        if args.dataset == "demo-large":
            interactions = demo_interactions(spark, cfg, "large")
        else:
            interactions = oulad_interactions_from_csv(spark, args.oulad_dir)
        interactions = interactions.select("learner_id", "course_id", "event_ts", "weight")
        interactions = interactions.cache()
        events = interactions.count()
        prep_s = time.perf_counter() - started
        last = interactions.agg(F.max("event_ts")).first()[0]
        as_of = dt.datetime.combine(last.date() + dt.timedelta(days=1), dt.time())
        cutoff = as_of - dt.timedelta(days=int(rec["holdout_days"]))
        train = confidence_matrix(interactions, cutoff).cache()
        relevant = holdout_pairs(interactions, cutoff, as_of).cache()
        train_pairs, holdout = train.count(), relevant.count()
        learners = relevant.select("learner_id").distinct()
        seen = train.select("learner_id", "course_id")
        print(f"{events:,} interactions, {train_pairs:,} training pairs, {holdout:,} holdout "
              f"pairs; as_of {as_of}, cutoff {cutoff}")  # fmt: skip

        # a. fit and quality
        spark_model, spark_fit_s = timed(train_als, train, als)
        spark_top = blocked_top_k(
            learners, spark_model.userFactors, spark_model.itemFactors, seen, K
        )
        spark_metrics = ranking_metrics(spark_top, relevant, K)

        train_pd = train.select("learner_id", "course_id", "confidence").toPandas()
        with threadpool_limits(limits=1, user_api="blas"):
            imp_model, imp_users, imp_items, imp_fit_s = implicit_fit(train_pd, als)
        imp_top = blocked_top_k(
            learners,
            factors_frame(spark, imp_users, imp_model.user_factors),
            factors_frame(spark, imp_items, imp_model.item_factors),
            seen,
            K,
        )
        imp_metrics = ranking_metrics(imp_top, relevant, K)

        # b. scoring every learner of the Spark model, nothing excluded
        user_factors = spark_model.userFactors.cache()
        item_factors = spark_model.itemFactors.cache()
        n_users, n_items = user_factors.count(), item_factors.count()
        everyone = user_factors.select(F.col("id").cast("bigint").alias("learner_id"))
        nothing = spark.createDataFrame([], "learner_id bigint, course_id bigint")
        blocked = blocked_top_k(everyone, user_factors, item_factors, nothing, K)
        _, blocked_s = best_of(args.repeat, run_noop, blocked)
        blocked_seen = blocked_top_k(everyone, user_factors, item_factors, seen, K)
        _, blocked_seen_s = best_of(args.repeat, run_noop, blocked_seen)
        _, als_all_s = best_of(args.repeat, run_noop, spark_model.recommendForAllUsers(K))

        u_ids, u = factor_arrays(user_factors)
        i_ids, v = factor_arrays(item_factors)
        imp_model.user_factors, imp_model.item_factors = u, v
        with threadpool_limits(limits=1, user_api="blas"):
            (ids, _), imp_rec_s = best_of(
                args.repeat,
                imp_model.recommend,
                np.arange(len(u_ids)),
                None,
                N=K,
                filter_already_liked_items=False,
            )

        blocked_lists = top_lists(blocked)
        als_lists = top_lists(
            spark_model.recommendForAllUsers(K)
            .select("learner_id", F.posexplode("recommendations").alias("pos", "r"))
            .select("learner_id", (F.col("pos") + 1).alias("rank"), "r.course_id")
        )
        imp_lists = {int(u_ids[r]): [int(i_ids[c]) for c in ids[r]] for r in range(len(u_ids))}
        same_als, overlap_als = agreement(blocked_lists, als_lists)
        same_imp, overlap_imp = agreement(blocked_lists, imp_lists)
    finally:
        spark.stop()
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)

    params = (f"rank {als['rank']}, {als['max_iter']} iterations, reg {als['reg_param']}, "
              f"alpha {als['alpha']}, Spark num_blocks {als.get('num_blocks', 4)}")  # fmt: skip
    fit_rows = [
        ("ALS fit, s", f"{spark_fit_s:.1f}", f"{imp_fit_s:.1f}",
         f"{spark_fit_s / imp_fit_s:.1f}x"),
        *[(f"{m}@{K}", f"{spark_metrics[f'{m}_at_{K}']:.4f}", f"{imp_metrics[f'{m}_at_{K}']:.4f}",
           f"{spark_metrics[f'{m}_at_{K}'] / max(imp_metrics[f'{m}_at_{K}'], 1e-12):.2f}")
          for m in ("precision", "recall", "ndcg", "map")],
    ]  # fmt: skip
    score_rows = [
        ("blocked_top_k (mapInArrow, numpy BLAS)", f"{blocked_s:.1f}", "1.0x", "-"),
        ("blocked_top_k, seen courses excluded", f"{blocked_seen_s:.1f}",
         f"{blocked_seen_s / blocked_s:.1f}x", "-"),
        ("ALSModel.recommendForAllUsers", f"{als_all_s:.1f}", f"{als_all_s / blocked_s:.1f}x",
         f"{same_als:.1%} equal, {overlap_als:.1%} overlap"),
        ("implicit recommend (batch, same factors)", f"{imp_rec_s:.1f}",
         f"{imp_rec_s / blocked_s:.2f}x", f"{same_imp:.1%} equal, {overlap_imp:.1%} overlap"),
    ]  # fmt: skip

    from rich.console import Console
    from rich.table import Table

    console = Console()
    fit_table = Table(title=f"{args.dataset}: fit and holdout quality ({params})")
    for col in ("", "Spark ALS (train_als)", "implicit ALS", "Spark / implicit"):
        fit_table.add_column(col)
    for row in fit_rows:
        fit_table.add_row(*row)
    score_table = Table(title=f"{args.dataset}: top {K} for all {n_users:,} learners x {n_items:,}")
    for col in ("scorer", "s", "vs blocked", "top 10 vs blocked_top_k"):
        score_table.add_column(col)
    for row in score_rows:
        score_table.add_row(*row)
    console.print(fit_table, score_table)

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} cores, {memory:.0f} GiB, load "
        f"average now {os.getloadavg()[0]:.1f}; Spark {cfg['spark']['master']}, driver memory "
        f"{cfg['spark']['conf'].get('spark.driver.memory')}, extra conf {args.spark_conf}"
    )
    print(f"data: {events:,} interactions, {train_pairs:,} training pairs ({n_users:,} learners x "
          f"{n_items:,} courses with factors), {holdout:,} holdout pairs of "
          f"{int(spark_metrics['evaluated_learners']):,} learners; interactions built in "
          f"{prep_s:.0f} s\n")  # fmt: skip
    print("| | Spark ALS (train_als) | implicit ALS | Spark / implicit |")
    print("|---|---:|---:|---:|")
    for row in fit_rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n| scorer (top {K}, all learners) | s | vs blocked_top_k | top {K} vs blocked_top_k |")
    print("|---|---:|---:|---|")
    for row in score_rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
