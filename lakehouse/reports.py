"""What a run produced, for people: table counts, model quality, a learner's top 5."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession
from rich.console import Console
from rich.table import Table

from lakehouse import tables

METRIC_NAMES = ("precision_at_{k}", "recall_at_{k}", "ndcg_at_{k}", "map_at_{k}")


def demo_report(
    spark: SparkSession, cfg: dict[str, Any], results: dict[str, Any], console: Console
) -> None:
    """Prints row counts per table, ALS against popularity, and one learner's top-5 with titles."""
    counts = Table("table", "rows", title="Lakehouse tables")
    for name in cfg["tables"]:
        if tables.table_exists(spark, cfg, name):
            counts.add_row(name, f"{tables.read_table(spark, cfg, name).count():,}")
    console.print(counts)

    trained = results.get("train") or {}
    k = int(cfg["recommender"]["k"])
    quality = Table(
        "metric",
        "ALS (implicit)",
        "popularity",
        "item similarity",
        "lift vs popularity",
        title=f"Holdout ranking quality (k={k})",
    )
    for pattern in METRIC_NAMES:
        metric = pattern.format(k=k)
        als, pop = trained.get(f"als_{metric}"), trained.get(f"popularity_{metric}")
        if als is None or pop is None:
            continue
        items = trained.get(f"item_similarity_{metric}")
        lift = f"{als / pop:.2f}x" if pop else "-"
        quality.add_row(
            metric, f"{als:.4f}", f"{pop:.4f}", "-" if items is None else f"{items:.4f}", lift
        )
    console.print(quality)
    if trained:
        reused = " (reused: same input as an earlier run)" if trained.get("reused") else ""
        console.print(f"model version {trained.get('model_version')}{reused}")
        if "promotion_reason" in trained:
            verdict = "promoted to champion" if trained.get("promoted") else "not promoted"
            console.print(
                f"{verdict}: {trained['promotion_reason']} "
                f"(champion: version {trained.get('champion_version')})"
            )

    run_date = cfg["run"]["date"].isoformat()
    learner = spark.sql(
        f"SELECT min(learner_id) AS id FROM gold.recommendations WHERE run_date = DATE'{run_date}'"
    ).first()["id"]
    if learner is None:
        console.print("no recommendations for this run date")
        return
    top = spark.sql(
        f"""
        SELECT r.rank, c.course_code, c.title, c.category, c.level, round(r.score, 4) AS score
        FROM gold.recommendations r
        JOIN gold.dim_course c ON c.course_id = r.course_id AND c.is_current
        WHERE r.run_date = DATE'{run_date}' AND r.learner_id = {int(learner)} AND r.rank <= 5
        ORDER BY r.rank
        """
    ).collect()
    who = spark.sql(
        "SELECT name, job_role, department FROM gold.dim_learner "
        f"WHERE learner_id = {int(learner)} AND is_current"
    ).first()
    title = f"Top 5 for learner {learner}"
    if who:
        title += f": {who['name']}, {who['job_role']} ({who['department']})"
    picks = Table("rank", "code", "title", "category", "level", "score", title=title)
    for row in top:
        picks.add_row(*(str(v) for v in row))
    console.print(picks)
