"""gold.learning_paths: each learner's recommended courses as an ordered path that respects the
catalog's prerequisites and levels."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Mapping

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Level order of a path; a course of another or no level comes after these.
LEVEL_ORDER = {"Beginner": 0, "Intermediate": 1, "Advanced": 2}
UNKNOWN_LEVEL = len(LEVEL_ORDER)
PATH_SCHEMA = (
    "run_date date, learner_id bigint, step int, course_id bigint, course_code string, "
    "title string, level string, recommendation_rank int, reason string"
)


def path_steps(
    recommended: Iterable[tuple[int, int, str]],
    catalog: Mapping[int, dict],
    completed: set[int],
) -> list[tuple[int, int | None, str]]:
    """The (course_id, recommendation_rank, reason) steps of one learner's path: the recommended
    (course_id, rank, reason) courses plus every prerequisite they lack (transitively; not
    completed, in the catalog) with rank None and reason "prerequisite of <title>", each course
    after its prerequisites in the path, else by level, rank (a prerequisite takes the best rank
    of the courses it leads to), own rank and course_code; a prerequisite cycle is broken at its
    first course in that order.

    catalog maps course_id to {course_code, title, level, prerequisites (codes)}.
    """
    by_code = {c["course_code"]: cid for cid, c in catalog.items() if c.get("course_code")}
    rank: dict[int, int] = {}
    reason: dict[int, str] = {}
    recommended_rank: dict[int, int | None] = {}
    queue = []
    for course_id, course_rank, course_reason in sorted(recommended, key=lambda r: r[1]):
        if course_id in catalog and course_id not in rank:
            rank[course_id] = course_rank
            reason[course_id] = course_reason
            recommended_rank[course_id] = course_rank
            queue.append(course_id)
    needs: dict[int, set[int]] = {}
    while queue:  # breadth first from the best rank: a prerequisite keeps its best dependant
        course_id = queue.pop(0)
        needs[course_id] = set()
        for code in catalog[course_id].get("prerequisites") or ():
            prerequisite = by_code.get(code)
            if prerequisite is None or prerequisite in completed or prerequisite == course_id:
                continue
            needs[course_id].add(prerequisite)
            if prerequisite not in rank:
                rank[prerequisite] = rank[course_id]
                reason[prerequisite] = f"prerequisite of {catalog[course_id]['title']}"
                recommended_rank[prerequisite] = None
                queue.append(prerequisite)

    # A course takes the best rank among the courses it leads to, so that what unlocks the top
    # recommendation comes early; repeated until stable, which also ends on cycles.
    changed = True
    while changed:
        changed = False
        for course_id, prerequisites in needs.items():
            for prerequisite in prerequisites:
                if rank[course_id] < rank[prerequisite]:
                    rank[prerequisite] = rank[course_id]
                    changed = True

    def key(course_id: int) -> tuple:
        level = LEVEL_ORDER.get(catalog[course_id].get("level"), UNKNOWN_LEVEL)
        own = recommended_rank[course_id]
        return (
            level,
            rank[course_id],
            own if own is not None else float("inf"),
            catalog[course_id].get("course_code") or "",
            course_id,
        )

    waiting = {course_id: set(prerequisites) for course_id, prerequisites in needs.items()}
    dependants: dict[int, list[int]] = {course_id: [] for course_id in needs}
    for course_id, prerequisites in needs.items():
        for prerequisite in prerequisites:
            dependants[prerequisite].append(course_id)
    ready = [key(c) for c, w in waiting.items() if not w]
    heapq.heapify(ready)
    placed: list[int] = []
    done: set[int] = set()
    while len(placed) < len(needs):
        if not ready:
            stuck = _cycle_breaker([c for c in needs if c not in done], waiting, key)
            waiting[stuck] = set()
            heapq.heappush(ready, key(stuck))
        course_id = heapq.heappop(ready)[-1]
        if course_id in done:
            continue
        done.add(course_id)
        placed.append(course_id)
        for dependant in dependants[course_id]:
            waiting[dependant].discard(course_id)
            if not waiting[dependant] and dependant not in done:
                heapq.heappush(ready, key(dependant))
    return [(c, recommended_rank[c], reason[c]) for c in placed]


def _cycle_breaker(remaining: list[int], waiting: Mapping[int, set[int]], key) -> int:
    """The course to place despite its prerequisites when every remaining course waits: the first
    in path order (key) of the prerequisite cycle reached by following first prerequisites."""
    # Every remaining course waits on a remaining one, so the walk must come back to a course.
    seen: list[int] = []
    course_id = min(remaining, key=key)
    while course_id not in seen:
        seen.append(course_id)
        course_id = min(waiting[course_id], key=key)
    return min(seen[seen.index(course_id) :], key=key)


def learning_paths(
    recommendations: DataFrame, courses: DataFrame, completed: DataFrame, run_date: dt.date
) -> DataFrame:
    """gold.learning_paths rows for one run date, one per learner x step (run_date, learner_id,
    step key): path_steps of the learner's recommendations (learner_id, rank, course_id, reason)
    with courses (silver.courses) and the learner's completed (learner_id, course_id)."""
    rows = courses.select("course_id", "course_code", "title", "level", "prerequisites").collect()
    catalog = {
        int(r["course_id"]): {
            "course_code": r["course_code"],
            "title": r["title"],
            "level": r["level"],
            "prerequisites": list(r["prerequisites"] or ()),
        }
        for r in rows
    }
    done = (
        completed.select(F.col("learner_id").cast("bigint"), F.col("course_id").cast("bigint"))
        .distinct()
        .groupBy("learner_id")
        .agg(F.collect_list("course_id").alias("completed"))
    )
    per_learner = recommendations.select(
        F.col("learner_id").cast("bigint"),
        F.col("rank").cast("int"),
        F.col("course_id").cast("bigint"),
        "reason",
    ).join(done, "learner_id", "left")

    def path(learner: pd.DataFrame) -> pd.DataFrame:
        completed_ids = set()
        for value in learner["completed"]:
            if value is not None:
                completed_ids.update(int(c) for c in value)
        steps = path_steps(
            zip(
                learner["course_id"].astype(int),
                learner["rank"].astype(int),
                learner["reason"],
                strict=True,
            ),
            catalog,
            completed_ids,
        )
        return pd.DataFrame(
            {
                "run_date": [run_date] * len(steps),
                "learner_id": [int(learner["learner_id"].iloc[0])] * len(steps),
                "step": list(range(1, len(steps) + 1)),
                "course_id": [c for c, _, _ in steps],
                "course_code": [catalog[c]["course_code"] for c, _, _ in steps],
                "title": [catalog[c]["title"] for c, _, _ in steps],
                "level": [catalog[c]["level"] for c, _, _ in steps],
                "recommendation_rank": pd.array([r for _, r, _ in steps], dtype="Int32"),
                "reason": [why for _, _, why in steps],
            }
        )

    return per_learner.groupBy("learner_id").applyInPandas(path, PATH_SCHEMA)
