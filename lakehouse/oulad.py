"""OULAD in the silver model: bronze.oulad_* rows as courses, learners, interactions, enrollments.

Items. Both module presentations (a module run once, e.g. AAA 2013J) and their VLE materials
(id_site, e.g. an 'oucontent' page) become silver.courses rows, told apart by `item_type`
('module_presentation' or the VLE activity_type) and linked by `parent_course_id`.
Materials keep their id_site as course_id. Presentations get a synthetic id computed from the
codes alone: PRESENTATION_ID_OFFSET + ((module * 100 + yy) * 26 + letter), module being the
three-letter code_module read as a base-26 number, yy the presentation year - 2000 and letter
the start letter (A=0 .. Z=25). The ids
- never collide with materials: every id_site must be below the offset (checked; OULAD's are
  about 1e6) and every presentation id is at or above it;
- fit ALS's 32-bit ids: the largest possible one is 2_045_697_599 < 2**31 - 1;
- are stable: unlike a dense index over the presentations present, an id does not move when a
  later drop adds presentations (a new module or year).

Dates. OULAD gives days relative to the start of the module presentation, and no start dates.
A presentation starts on the first day of the month its letter stands for (conf: letter ->
month; 'B' = February, 'J' = October, as the dataset's documentation describes), so
`2013J` starts 2013-10-01 and day 5 of it is 2013-10-06.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import latest_rows
from lakehouse.interactions import INTERACTION_COLUMNS, dedupe_interactions, with_confidence

PRESENTATION_ID_OFFSET = 2_000_000_000
MAX_ALS_ID = 2**31 - 1
DEFAULT_START_MONTHS: dict[str, int] = {"B": 2, "J": 10}
PROVIDER = "The Open University"
PRESENTATION_ITEM_TYPE = "module_presentation"
INTERACTION_SOURCE = "oulad.studentVle"
CLICK_EVENT = "click"

# final_result -> silver.enrollments status (ENROLLMENT_STATUSES). 'completed' means finished
# successfully (gold.course_stats counts completions with it), so only Pass and Distinction
# are completions. A Fail ended the enrolment without completing the module: 'dropped' is the
# only allowed status for that. Withdrawn, or any date_unregistration, is 'dropped' too; a
# registration with no result yet (a running presentation) is 'in_progress'.
FINAL_RESULT_STATUS: dict[str, str] = {
    "Pass": "completed",
    "Distinction": "completed",
    "Fail": "dropped",
    "Withdrawn": "dropped",
}

_MODULE = re.compile(r"^[A-Z]{3}$")
_PRESENTATION = re.compile(r"^(20\d{2})([A-Z])$")

COURSE_COLUMNS = (
    "course_id",
    "course_code",
    "title",
    "provider",
    "category",
    "level",
    "duration_hours",
    "description",
    "skills",
    "prerequisites",
    "catalog_url",
    "in_catalog",
    "catalog_content_hash",
    "updated_at",
    "item_type",
    "parent_course_id",
)


def presentation_id(code_module: str, code_presentation: str) -> int:
    """The synthetic course_id of a module presentation (see the module docstring)."""
    module, presentation = code_module.strip().upper(), code_presentation.strip().upper()
    found = _PRESENTATION.match(presentation)
    if not _MODULE.match(module) or not found:
        raise ValueError(
            f"not an OULAD module presentation: {code_module!r} {code_presentation!r} "
            "(expected e.g. 'AAA' '2013J')"
        )
    number = 0
    for ch in module:
        number = number * 26 + (ord(ch) - ord("A"))
    year, letter = int(found.group(1)) - 2000, ord(found.group(2)) - ord("A")
    return PRESENTATION_ID_OFFSET + (number * 100 + year) * 26 + letter


def presentation_id_col(code_module: Column | str, code_presentation: Column | str) -> Column:
    """presentation_id as a Spark column; codes not of the OULAD form fail the query."""
    module = F.upper(F.trim(_col(code_module)))
    presentation = F.upper(F.trim(_col(code_presentation)))
    number = F.lit(0)
    for i in range(1, 4):
        number = number * 26 + (F.ascii(F.substring(module, i, 1)) - 65)
    year = F.substring(presentation, 1, 4).cast("int") - 2000
    letter = F.ascii(F.substring(presentation, 5, 1)) - 65
    value = F.lit(PRESENTATION_ID_OFFSET) + (number * 100 + year) * 26 + letter
    valid = module.rlike(_MODULE.pattern) & presentation.rlike(_PRESENTATION.pattern)
    return F.when(valid, value.cast("bigint")).otherwise(
        F.raise_error(
            F.concat(
                F.lit("not an OULAD module presentation: "),
                F.coalesce(module, F.lit("null")),
                F.lit(" "),
                F.coalesce(presentation, F.lit("null")),
            )
        ).cast("bigint")
    )


def presentation_start(
    code_presentation: str, start_months: Mapping[str, int] | None = None
) -> dt.date:
    """The first day of a presentation: '2013J' -> 2013-10-01, '2014B' -> 2014-02-01."""
    months = DEFAULT_START_MONTHS if start_months is None else start_months
    found = _PRESENTATION.match(code_presentation.strip().upper())
    if not found:
        raise ValueError(f"not an OULAD presentation code: {code_presentation!r}")
    letter = found.group(2)
    if letter not in months:
        raise ValueError(
            f"no start month for presentation letter {letter!r} of {code_presentation!r} "
            f"(known: {', '.join(sorted(months))})"
        )
    return dt.date(int(found.group(1)), int(months[letter]), 1)


def presentation_start_col(
    code_presentation: Column | str, start_months: Mapping[str, int] | None = None
) -> Column:
    """presentation_start as a Spark date column; unknown codes or letters fail the query."""
    months = DEFAULT_START_MONTHS if start_months is None else start_months
    presentation = F.upper(F.trim(_col(code_presentation)))
    letter = F.substring(presentation, 5, 1)
    month = F.lit(None).cast("int")
    for key, value in sorted(months.items()):
        month = F.when(letter == F.lit(key), F.lit(int(value))).otherwise(month)
    year = F.substring(presentation, 1, 4).cast("int")
    valid = presentation.rlike(_PRESENTATION.pattern) & month.isNotNull()
    return F.when(valid, F.make_date(year, month, F.lit(1))).otherwise(
        F.raise_error(
            F.concat(
                F.lit("no start date for OULAD presentation "),
                F.coalesce(presentation, F.lit("null")),
            )
        ).cast("date")
    )


def oulad_courses(courses: DataFrame, vle: DataFrame) -> DataFrame:
    """silver.courses rows plus item_type and parent_course_id: one per module presentation
    (bronze.oulad_courses) and one per VLE material (bronze.oulad_vle, id_site the course_id)."""
    presentations = _current(courses, ["code_module", "code_presentation"]).select(
        presentation_id_col("code_module", "code_presentation").alias("course_id"),
        F.concat_ws("-", "code_module", "code_presentation").alias("course_code"),
        F.concat_ws(" ", "code_module", "code_presentation").alias("title"),
        F.col("code_module").alias("category"),
        F.lit(PRESENTATION_ITEM_TYPE).alias("item_type"),
        F.lit(None).cast("bigint").alias("parent_course_id"),
    )
    site = F.col("id_site").cast("bigint")
    materials = _current(vle, ["id_site"]).select(
        F.when(site < PRESENTATION_ID_OFFSET, site)
        .otherwise(
            F.raise_error(
                F.concat(F.lit("id_site too large for OULAD course ids: "), site.cast("string"))
            ).cast("bigint")
        )
        .alias("course_id"),
        F.concat_ws("-", "code_module", "code_presentation", "id_site").alias("course_code"),
        F.concat_ws(" ", "code_module", "code_presentation", "activity_type", "id_site").alias(
            "title"
        ),
        F.col("code_module").alias("category"),
        F.col("activity_type").alias("item_type"),
        presentation_id_col("code_module", "code_presentation").alias("parent_course_id"),
    )
    empty = F.array().cast("array<string>")
    return presentations.unionByName(materials).select(
        "course_id",
        "course_code",
        "title",
        F.lit(PROVIDER).alias("provider"),
        "category",
        F.lit(None).cast("string").alias("level"),
        F.lit(None).cast("int").alias("duration_hours"),
        F.lit(None).cast("string").alias("description"),
        empty.alias("skills"),
        empty.alias("prerequisites"),
        F.lit(None).cast("string").alias("catalog_url"),
        F.lit(False).alias("in_catalog"),
        F.lit(None).cast("string").alias("catalog_content_hash"),
        F.lit(None).cast("timestamp").alias("updated_at"),
        "item_type",
        "parent_course_id",
    )


def oulad_learners(student_info: DataFrame) -> DataFrame:
    """silver.learners: one row per id_student, from its latest presentation.

    The OULAD has no names, employers or jobs. The demographic fields closest to the model:
    department = region (e.g. 'Scotland'), job_role = highest_education (e.g. 'HE
    Qualification'); name is a synthetic 'Student <id>', country 'GB' (the OU teaches the UK
    and Ireland), hired_at and updated_at null. A student registered on several presentations
    takes the latest code_presentation (then the greatest code_module among equals).
    """
    rows = latest_rows(student_info, ["id_student"], ["code_presentation", "code_module"])
    return rows.select(
        F.col("id_student").cast("bigint").alias("learner_id"),
        F.concat(F.lit("Student "), F.col("id_student").cast("string")).alias("name"),
        F.trim("region").alias("department"),
        F.trim("highest_education").alias("job_role"),
        F.lit("GB").alias("country"),
        F.lit(None).cast("timestamp").alias("hired_at"),
        F.lit(None).cast("timestamp").alias("updated_at"),
    )


def student_vle_scope(start_months: Mapping[str, int] | None = None) -> dict[str, Column]:
    """The interaction scope (learner_id, course_id, event_date) of a bronze studentVle row as
    columns, computed as oulad_interactions does."""
    start = presentation_start_col("code_presentation", start_months)
    return {
        "learner_id": F.col("id_student").cast("bigint"),
        "course_id": F.col("id_site").cast("bigint"),
        "event_date": F.date_add(start, F.col("date").cast("int")),
    }


def student_vle_days_between(
    presentations: Sequence[str | None],
    first: dt.date,
    last: dt.date,
    start_months: Mapping[str, int] | None = None,
) -> Column:
    """Whether a bronze studentVle row may fall on a day from first to last (inclusive), as a
    condition on its raw code_presentation and date only: per presentation code given (the
    table's distinct raw codes), its day numbers of that range. Rows of other codes, or of
    codes without a start date, are kept. Cheap to evaluate and pushed down to the files, it
    spares computing the rows' days (as student_vle_scope does) on the whole table."""
    months = DEFAULT_START_MONTHS if start_months is None else start_months
    code, day = F.col("code_presentation"), F.col("date")
    bounded, kept = [], []
    for raw in presentations:
        if raw is None:
            continue
        try:
            start = presentation_start(raw, months)
        except ValueError:
            kept.append(raw)
            continue
        bounded.append(
            (code == F.lit(raw))
            & day.between(F.lit((first - start).days), F.lit((last - start).days))
        )
    # Codes not listed (and nulls) cannot be bounded: they stay.
    listed = [p for p in presentations if p is not None]
    known = ~code.isin(listed) if listed else F.lit(True)
    parts = [*bounded, *[code == F.lit(raw) for raw in kept], known, code.isNull()]
    return functools.reduce(lambda a, b: a | b, parts)


def oulad_interactions(
    student_vle: DataFrame,
    start_months: Mapping[str, int] | None = None,
    click_weight: float = 1.0,
) -> DataFrame:
    """silver.interactions: one 'click' per (id_student, id_site, day), value the clicks of
    that day (studentVle has several rows per day: they are summed), at midnight UTC of the
    presentation's start plus `date` days; weight = click_weight. Bronze must hold each
    studentVle row once (the file loader loads a file once): its rows are not deduplicated,
    since equal rows are distinct click sessions."""
    start = presentation_start_col("code_presentation", start_months)
    day = F.date_add(start, F.col("date").cast("int"))
    clicks = student_vle.groupBy(
        F.col("id_student").cast("bigint").alias("learner_id"),
        F.col("id_site").cast("bigint").alias("course_id"),
        day.alias("day"),
    ).agg(F.sum("sum_click").cast("double").alias("value"))
    events = clicks.select(
        "learner_id",
        "course_id",
        F.lit(CLICK_EVENT).alias("event_type"),
        F.col("day").cast("timestamp").alias("event_ts"),
        "value",
        F.lit(INTERACTION_SOURCE).alias("source"),
    )
    weighted = with_confidence(dedupe_interactions(events), {CLICK_EVENT: click_weight}, 0.0)
    return weighted.select(*INTERACTION_COLUMNS)


def oulad_enrollments(
    registrations: DataFrame,
    student_info: DataFrame,
    courses: DataFrame,
    start_months: Mapping[str, int] | None = None,
) -> DataFrame:
    """silver.enrollments: one row per registration (learner, presentation id).

    enrolled_at = start + date_registration days; completed_at = the presentation's end
    (start + module_presentation_length days, from bronze.oulad_courses) for a Pass or a
    Distinction; score null (OULAD grades assessments, not modules); status by
    FINAL_RESULT_STATUS, any date_unregistration making it 'dropped'.
    """
    keys = ["code_module", "code_presentation", "id_student"]
    results = _current(student_info, keys).select(*keys, "final_result")
    lengths = _current(courses, keys[:2]).select(*keys[:2], "module_presentation_length")
    rows = (
        _current(registrations, keys)
        .select(*keys, "date_registration", "date_unregistration")
        .join(results, keys, "left")
        .join(lengths, keys[:2], "left")
    )
    start = presentation_start_col("code_presentation", start_months)
    result = F.trim("final_result")
    status = F.lit("in_progress")
    for final_result, value in sorted(FINAL_RESULT_STATUS.items()):
        status = F.when(result == final_result, F.lit(value)).otherwise(status)
    status = F.when(F.col("date_unregistration").isNotNull(), F.lit("dropped")).otherwise(status)
    completed = status == "completed"
    end = F.date_add(start, F.col("module_presentation_length").cast("int"))
    return rows.select(
        F.col("id_student").cast("bigint").alias("learner_id"),
        presentation_id_col("code_module", "code_presentation").alias("course_id"),
        F.date_add(start, F.col("date_registration").cast("int"))
        .cast("timestamp")
        .alias("enrolled_at"),
        F.when(completed, end.cast("timestamp")).alias("completed_at"),
        F.lit(None).cast("double").alias("score"),
        status.alias("status"),
    )


def _current(df: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key: the latest load when lineage is present, else deterministically."""
    if any(c in df.columns for c in ("_ingested_at", "_batch_id")):
        return latest_rows(df, keys, [])
    others = sorted(c for c in df.columns if c not in keys)
    return latest_rows(df, keys, others) if others else df.dropDuplicates(keys)


def _col(value: Column | str) -> Column:
    return F.col(value) if isinstance(value, str) else value
