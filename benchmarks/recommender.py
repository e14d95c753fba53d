"""Benchmark: this project's Spark ALS and scorer side by side with the `implicit` library.

    pip install -e '.[dev,bench]'   # the `bench` extra brings implicit
    .venv/bin/python benchmarks/recommender.py --dataset demo-large [--root /tmp/bench]
    .venv/bin/python benchmarks/recommender.py --dataset oulad   # OULAD_CSV_DIR: the CSVs

On the same interactions (silver.interactions rows built in-process with the project's refine
transforms: the generated demo LMS, or OULAD's studentVle clicks read straight from the CSV drop
with lakehouse.sources.oulad's schema and lakehouse.oulad's transform) and the project's time
split (the profile's holdout_days before the run's data end: the day after the last demo event,
or the oulad profile's run date), with the profile's recipe (ALS settings, half-life,
completion weight; `local` for the demo, `oulad` for OULAD):

a. fit time (first fit in the JVM, and the best of --fit-repeat) of
   lakehouse.recommender.train_als and of implicit.cpu.als.AlternatingLeastSquares with the same
   factors, iterations, regularization and alpha on the same confidence matrix, and the holdout
   quality of both next to the project's popularity and item-similarity baselines; the ALS
   models' top 10 come from the same scorer (blocked_top_k, seen courses excluded), every
   model's metrics from ranking_metrics;
b. the time (best of --repeat runs, building the query included) to score every learner of the
   Spark model (top 10): blocked_top_k with nothing and with the training pairs excluded,
   ALSModel.recommendForAllUsers and implicit's batch `recommend` on the same factors, and how
   often their top 10 agree.

Prints the figures with rich and as Markdown for benchmarks/RESULTS.md, with the load average
(the machine may be shared). The demo data are generated into --root (default: a temp dir,
removed); --cache keeps the built interactions as Parquet for the next run.
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
OULAD_DIR = os.environ.get("OULAD_CSV_DIR", "/work/shared/data/oulad/csv")
PROFILES = {"demo-large": "local", "oulad": "oulad"}
INTERACTION_COLUMNS = ("learner_id", "course_id", "event_type", "event_ts", "value", "weight")
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


def oulad_interactions_from_csv(spark, cfg: dict[str, Any], path: str):
    """silver.interactions rows of the OULAD's studentVle clicks."""
    from lakehouse.oulad import oulad_interactions
    from lakehouse.sources.files import read_drop
    from lakehouse.sources.oulad import OULAD_FILES

    oulad = cfg.get("oulad") or {}
    return oulad_interactions(
        read_drop(spark, OULAD_FILES["student_vle"], path),
        oulad.get("start_months"),
        float(oulad.get("click_weight", 1.0)),
    )


def benchmark_interactions(spark, cfg: dict[str, Any], args):
    """The dataset's interactions (INTERACTION_COLUMNS), from the --cache Parquet when there."""
    cached = Path(args.cache) / f"{args.dataset}-interactions" if args.cache else None
    if cached is not None and cached.exists():
        return spark.read.parquet(str(cached))
    if args.dataset == "demo-large":
        rows = demo_interactions(spark, cfg, "large")
    else:
        rows = oulad_interactions_from_csv(spark, cfg, args.oulad_dir)
    rows = rows.select(*INTERACTION_COLUMNS)
    if cached is None:
        return rows
    rows.write.mode("overwrite").parquet(str(cached))
    return spark.read.parquet(str(cached))


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


def implicit_fit(train: pd.DataFrame, als: dict[str, Any], use_cg: bool = True):
    """An implicit ALS model fitted on the confidence rows, with its user and item id arrays
    and fit seconds; use_cg=False takes implicit's exact (Cholesky) solver, Spark's method."""
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
        use_cg=use_cg,
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
    parser.add_argument("--cache", default=None, help="folder keeping the built interactions")
    parser.add_argument("--repeat", type=int, default=3, help="scoring runs, best kept")
    parser.add_argument("--fit-repeat", type=int, default=1, help="fits of each library")
    parser.add_argument("--num-blocks", type=int, default=None, help="override als.num_blocks")
    parser.add_argument(
        "--no-item-similarity", action="store_true", help="skip the item-similarity baseline"
    )
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

    from jobs.train import model_recipe, recipe_confidence
    from lakehouse import recommender as lr
    from lakehouse.config import load_config
    from lakehouse.ranking import ranking_metrics
    from lakehouse.recommendations import blocked_top_k, popularity_candidates, top_k
    from lakehouse.runs import data_end
    from lakehouse.spark import build_session

    overrides: dict[str, Any] = {"paths.root": str(root)}
    for item in args.spark_conf:
        key, _, value = item.partition("=")
        overrides[f"spark.conf.{key}"] = value
    cfg = load_config(PROFILES[args.dataset], overrides=overrides)
    rec = cfg["recommender"]
    recipe = model_recipe(cfg)
    als = recipe["als"]
    if args.num_blocks:
        als["num_blocks"] = args.num_blocks
    spark = build_session(cfg, app_name=f"benchmark recommender {args.dataset}")
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    from pyspark.sql import functions as F

    loads: dict[str, str] = {}

    def load(label: str) -> None:
        loads[label] = " / ".join(f"{x:.1f}" for x in os.getloadavg())

    try:
        started = time.perf_counter()
        interactions = benchmark_interactions(spark, cfg, args).cache()
        events = interactions.count()
        prep_s = time.perf_counter() - started
        if args.dataset == "oulad":
            as_of = data_end(dt.date.fromisoformat(str(cfg["run"]["date"])))
        else:
            last = interactions.agg(F.max("event_ts")).first()[0]
            as_of = data_end(last.date())
        cutoff = as_of - dt.timedelta(days=int(rec["holdout_days"]))
        train = recipe_confidence(interactions, cutoff, recipe).cache()
        relevant = lr.holdout_pairs(interactions, cutoff, as_of).cache()
        train_pairs, holdout = train.count(), relevant.count()
        interactions.unpersist()
        learners = relevant.select("learner_id").distinct().cache()
        seen = train.select("learner_id", "course_id")
        blocks = lr.als_blocks(train_pairs, lr.task_slots(spark))
        print(f"{events:,} interactions, {train_pairs:,} training pairs, {holdout:,} holdout "
              f"pairs; as_of {as_of}, cutoff {cutoff}, ALS blocks {blocks}")  # fmt: skip

        # a. fit and quality
        spark_fits = [timed(lr.train_als, train, als) for _ in range(args.fit_repeat)]
        load("Spark ALS fit")
        spark_model = spark_fits[-1][0]
        tops = {
            "Spark ALS (train_als)": blocked_top_k(
                learners, spark_model.userFactors, spark_model.itemFactors, seen, K
            )
        }
        train_pd = train.select("learner_id", "course_id", "confidence").toPandas()
        with threadpool_limits(limits=1, user_api="blas"):
            imp_fits = [implicit_fit(train_pd, als) for _ in range(args.fit_repeat)]
            # The same arithmetic as Spark's (a Cholesky solve per row), for the record.
            exact_s = min(
                implicit_fit(train_pd, als, use_cg=False)[3] for _ in range(args.fit_repeat)
            )
        load("implicit fit")
        imp_model, imp_users, imp_items, _ = imp_fits[-1]
        tops["implicit ALS"] = blocked_top_k(
            learners,
            factors_frame(spark, imp_users, imp_model.user_factors),
            factors_frame(spark, imp_items, imp_model.item_factors),
            seen,
            K,
        )
        tops["popularity"] = top_k(
            popularity_candidates(learners, lr.popularity_scores(train)), seen, K
        )
        if not args.no_item_similarity:
            neighbours = int((rec.get("evaluation") or {}).get("neighbours", 20))
            tops["item similarity"] = top_k(
                lr.item_neighbour_scores(
                    learners,
                    train,
                    # As the train job does: only the rows the evaluated learners' courses use.
                    lr.item_similarities(
                        train, neighbours, seen.join(learners, "learner_id", "left_semi")
                    ),
                ),
                seen,
                K,
            )
        quality = {}
        for name, top in tops.items():
            quality[name], seconds = timed(ranking_metrics, top, relevant, K)
            print(f"{name}: NDCG@{K} {quality[name][f'ndcg_at_{K}']:.4f} ({seconds:.0f} s)")

        # b. scoring every learner of the Spark model
        user_factors = spark_model.userFactors.cache()
        item_factors = spark_model.itemFactors.cache()
        n_users, n_items = user_factors.count(), item_factors.count()

        def blocked(exclude):
            return run_noop(blocked_top_k(None, user_factors, item_factors, exclude, K))

        _, blocked_s = best_of(args.repeat, blocked, None)
        load("blocked_top_k")
        _, blocked_seen_s = best_of(args.repeat, blocked, seen)
        _, als_all_s = best_of(args.repeat, lambda: run_noop(spark_model.recommendForAllUsers(K)))
        load("recommendForAllUsers")

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
        load("implicit recommend")

        blocked_lists = top_lists(blocked_top_k(None, user_factors, item_factors, None, K))
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

    spark_first, spark_best = spark_fits[0][1], min(s for _, s in spark_fits)
    imp_first, imp_best = imp_fits[0][3], min(f[3] for f in imp_fits)
    params = (f"rank {als['rank']}, {als['max_iter']} iterations, reg {als['reg_param']}, "
              f"alpha {als['alpha']}, half-life {recipe['half_life_days']} d, completion weight "
              f"{recipe['completion_weight']}, Spark ALS blocks {blocks}")  # fmt: skip
    fit_rows = [
        ("first fit in the process, s", f"{spark_first:.1f}", f"{imp_first:.1f}",
         f"{spark_first / imp_first:.1f}x"),
        (f"best of {args.fit_repeat} fits, s", f"{spark_best:.1f}", f"{imp_best:.1f}",
         f"{spark_best / imp_best:.1f}x"),
        (f"best of {args.fit_repeat}, implicit with use_cg=False (exact solver), s",
         f"{spark_best:.1f}", f"{exact_s:.1f}", f"{spark_best / exact_s:.1f}x"),
    ]  # fmt: skip
    names = list(quality)
    quality_rows = [
        (f"{m}@{K}", *[f"{quality[n][f'{m}_at_{K}']:.4f}" for n in names])
        for m in ("precision", "recall", "ndcg", "map")
    ]
    popularity_ndcg = quality["popularity"][f"ndcg_at_{K}"]
    als_ndcg = quality[names[0]][f"ndcg_at_{K}"]
    lift = f"{als_ndcg / popularity_ndcg:.2f}x" if popularity_ndcg else "inf (popularity 0)"
    score_rows = [
        ("blocked_top_k (mapInArrow, numpy float32 BLAS)", f"{blocked_s:.1f}", "1.0x", "-"),
        ("blocked_top_k, training pairs excluded", f"{blocked_seen_s:.1f}",
         f"{blocked_seen_s / blocked_s:.1f}x", "-"),
        ("ALSModel.recommendForAllUsers", f"{als_all_s:.1f}", f"{als_all_s / blocked_s:.1f}x",
         f"{same_als:.1%} equal, {overlap_als:.1%} overlap"),
        ("implicit recommend (batch, same factors)", f"{imp_rec_s:.1f}",
         f"{imp_rec_s / blocked_s:.2f}x", f"{same_imp:.1%} equal, {overlap_imp:.1%} overlap"),
    ]  # fmt: skip

    from rich.console import Console
    from rich.table import Table

    console = Console()
    fit_table = Table(title=f"{args.dataset}: fit ({params})")
    for col in ("", "Spark ALS (train_als)", "implicit ALS", "Spark / implicit"):
        fit_table.add_column(col)
    for row in fit_rows:
        fit_table.add_row(*row)
    quality_table = Table(title=f"{args.dataset}: holdout quality (ALS / popularity NDCG {lift})")
    for col in ("", *names):
        quality_table.add_column(col)
    for row in quality_rows:
        quality_table.add_row(*row)
    score_table = Table(title=f"{args.dataset}: top {K} for all {n_users:,} learners x {n_items:,}")
    for col in ("scorer", "s", "vs blocked", "top 10 vs blocked_top_k"):
        score_table.add_column(col)
    for row in score_rows:
        score_table.add_row(*row)
    console.print(fit_table, quality_table, score_table)

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} cores, {memory:.0f} GiB; Spark "
        f"{cfg['spark']['master']}, driver memory {cfg['spark']['conf'].get('spark.driver.memory')}"
        f", extra conf {args.spark_conf}"
    )
    print("load average (1 / 5 / 15 min) after each step: "
          + "; ".join(f"{k} {v}" for k, v in loads.items()))  # fmt: skip
    print(f"data: {events:,} interactions, {train_pairs:,} training pairs ({n_users:,} learners x "
          f"{n_items:,} courses with factors), {holdout:,} holdout pairs of "
          f"{int(quality[names[0]]['evaluated_learners']):,} learners; as_of {as_of}, cutoff "
          f"{cutoff}; interactions ready in {prep_s:.0f} s\n{params}\n")  # fmt: skip
    print("| ALS fit | Spark ALS (train_als) | implicit ALS | Spark / implicit |")
    print("|---|---:|---:|---:|")
    for row in fit_rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n| holdout (ALS / popularity NDCG@{K}: {lift}) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in quality_rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n| scorer (top {K}, all learners) | s | vs blocked_top_k | top {K} vs blocked_top_k |")
    print("|---|---:|---:|---|")
    for row in score_rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
