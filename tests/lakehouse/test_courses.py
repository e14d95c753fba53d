"""lakehouse.courses: silver.courses from LMS courses and the crawled catalog."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from lakehouse.courses import (
    CATALOG_DETAILS_SCHEMA,
    catalog_record_changes,
    changed_catalog_records,
    conform_lms_courses,
    current_catalog_entries,
    with_catalog_details,
)

T0 = dt.datetime(2026, 10, 31, 2, 0)
T1 = dt.datetime(2026, 11, 1, 2, 0)

LMS_BRONZE = (
    "id bigint, code string, title string, provider string, category string, level string, "
    "duration_hours int, updated_at string, _ingested_at timestamp, _source string, "
    "_batch_id string"
)
LMS_COURSES = (
    "course_id bigint, course_code string, title string, provider string, category string, "
    "level string, duration_hours int, updated_at timestamp"
)
CATALOG_BRONZE = (
    "url string, course_code string, description string, educational_level string, "
    "skills array<string>, prerequisites array<string>, http_status int, fetched_at string, "
    "content_hash string, _ingested_at timestamp, _batch_id string"
)
CATALOG = CATALOG_DETAILS_SCHEMA
SILVER = (
    "course_id bigint, course_code string, title string, provider string, category string, "
    "level string, duration_hours int, description string, skills array<string>, "
    "prerequisites array<string>, catalog_url string, in_catalog boolean, "
    "catalog_content_hash string, updated_at timestamp, item_type string, parent_course_id bigint"
)


def test_conform_lms_courses_latest_version_with_normalised_code(spark):
    bronze = spark.createDataFrame(
        [
            (1, "ml-101", "ML", "Acme", "Data", "beginner", 4, "2026-01-01 00:00:00", T1,
             "lms:courses", "b-2"),
            (1, " ml-101 ", " Machine Learning ", " Acme ", " Data ", " INTERMEDIATE ", 6,
             "2026-03-01 12:00:00", T0, "lms:courses", "b-1"),
            (2, "Ds-200", "Statistics", "Uni", "Math", "advanced", 10, "2026-02-02 02:02:02", T0,
             "lms:courses", "b-1"),
        ],
        LMS_BRONZE,
    )  # fmt: skip

    out = conform_lms_courses(bronze)

    expected = spark.createDataFrame(
        [
            (1, "ML-101", "Machine Learning", "Acme", "Data", "Intermediate", 6,
             dt.datetime(2026, 3, 1, 12)),
            (2, "DS-200", "Statistics", "Uni", "Math", "Advanced", 10,
             dt.datetime(2026, 2, 2, 2, 2, 2)),
        ],
        LMS_COURSES,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def _page(code, url, fetched_at, status, content_hash, level="beginner", skills=None, prereq=None):
    return (url, code, f"about {content_hash}", level, skills, prereq, status, fetched_at,
            content_hash, T0, "b-1")  # fmt: skip


def test_current_catalog_entries_latest_successful_fetch_per_normalised_code(spark):
    bronze = spark.createDataFrame(
        [
            # ML-101: three fetches; the newest (code in other case and padded) wins
            _page("ML-101", "https://c/ml-101-a", "2026-10-01T00:00:00Z", 200, "h-ml-1",
                  skills=["python"], prereq=[]),
            _page(" ml-101 ", "https://c/ml-101-c", "2026-10-20T00:00:00Z", 200, "h-ml-3",
                  skills=["python", "spark"], prereq=["PY-100"]),
            _page("ML-101", "https://c/ml-101-b", "2026-10-10T00:00:00Z", 200, "h-ml-2",
                  skills=["python"], prereq=[]),
            # DS-200: the newer fetch failed, so the older successful one stays current
            _page("DS-200", "https://c/ds-200", "2026-10-01T00:00:00Z", 200, "h-ds-1",
                  level="advanced", skills=["stats"], prereq=["MATH-1"]),
            _page("DS-200", "https://c/ds-200", "2026-10-15T00:00:00Z", 404, "h-ds-404"),
            _page("DS-200", "https://c/ds-200", "2026-10-16T00:00:00Z", 503, "h-ds-503"),
            # OPS-1: only failed fetches, so no entry at all
            _page("OPS-1", "https://c/ops-1", "2026-10-01T00:00:00Z", 500, "h-ops"),
            # no course code: unusable
            _page(None, "https://c/unknown", "2026-10-01T00:00:00Z", 200, "h-none"),
            # SEC-9: unknown status counts as success; missing lists become empty
            _page("sec-9", "https://c/sec-9", "2026-10-01T00:00:00Z", None, "h-sec"),
        ],
        CATALOG_BRONZE,
    )  # fmt: skip

    out = current_catalog_entries(bronze)

    expected = spark.createDataFrame(
        [
            ("ML-101", "https://c/ml-101-c", "about h-ml-3", "beginner", ["python", "spark"],
             ["PY-100"], "h-ml-3"),
            ("DS-200", "https://c/ds-200", "about h-ds-1", "advanced", ["stats"], ["MATH-1"],
             "h-ds-1"),
            ("SEC-9", "https://c/sec-9", "about h-sec", "beginner", [], [], "h-sec"),
        ],
        CATALOG,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_with_catalog_details_left_join_keeps_courses_missing_from_catalog(spark):
    courses = spark.createDataFrame(
        [
            (1, "ML-101", "Machine Learning", "Acme", "Data", "Intermediate", 6, T0),
            (2, "DS-200", "Statistics", "Uni", "Math", None, 10, T0),
            (3, "OPS-1", "Operations", "Acme", "Ops", None, 2, T1),
        ],
        LMS_COURSES,
    )
    catalog = spark.createDataFrame(
        [
            ("ML-101", "https://c/ml-101", "ML intro", "beginner", ["python"], ["PY-100"], "h1"),
            ("DS-200", "https://c/ds-200", "Stats", "advanced", ["stats"], [], "h2"),
            ("ORPHAN-1", "https://c/orphan", "Not in the LMS", "beginner", [], [], "h3"),
        ],
        CATALOG,
    )

    out = with_catalog_details(courses, catalog)

    expected = spark.createDataFrame(
        [
            # the LMS level wins over the catalog's
            (1, "ML-101", "Machine Learning", "Acme", "Data", "Intermediate", 6, "ML intro",
             ["python"], ["PY-100"], "https://c/ml-101", True, "h1", T0, "course", None),
            # no LMS level: the catalog's fills in, capitalised
            (2, "DS-200", "Statistics", "Uni", "Math", "Advanced", 10, "Stats", ["stats"], [],
             "https://c/ds-200", True, "h2", T0, "course", None),
            # not in the catalog: kept, with empty lists and in_catalog false
            (3, "OPS-1", "Operations", "Acme", "Ops", None, 2, None, [], [], None, False, None,
             T1, "course", None),
        ],
        SILVER,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


LANDED = "url string, course_code string, http_status int, fetched_at string, content_hash string"
LANDED_CHANGES = LANDED + ", change string"
LANDED_BRONZE = LANDED + ", _ingested_at timestamp, _batch_id string"


def test_catalog_record_changes_compare_with_the_latest_good_version_of_each_page(spark):
    bronze = spark.createDataFrame(
        [
            # /a went A -> B: landing A again is a new version
            ("https://c/a", "A-1", 200, "2026-10-01T00:00:00Z", "hash-A", T0, "b-1"),
            ("https://c/a", "A-1", 200, "2026-10-02T00:00:00Z", "hash-B", T1, "b-2"),
            ("https://c/b", "B-1", 200, "2026-10-01T00:00:00Z", "hash-X", T0, "b-1"),
            # /c's last fetch failed: the good record before it is the one compared with
            ("https://c/c", "C-1", 200, "2026-10-01T00:00:00Z", "hash-Y", T0, "b-1"),
            ("https://c/c", "C-1", 503, "2026-10-02T00:00:00Z", "hash-err", T1, "b-2"),
        ],
        LANDED_BRONZE,
    )
    batch = spark.createDataFrame(
        [
            ("https://c/a", "A-1", 200, "2026-10-03T00:00:00Z", "hash-A"),
            # the same unchanged page landed twice (two crawls before one ingest)
            ("https://c/b", "B-1", 200, "2026-10-03T00:00:00Z", "hash-X"),
            ("https://c/b", "B-1", 200, "2026-10-04T00:00:00Z", "hash-X"),
            ("https://c/c", "C-1", 200, "2026-10-03T00:00:00Z", "hash-Y"),
            # a page bronze has never seen, changing within the batch: N -> N -> M -> N
            ("https://c/d", "D-1", 200, "2026-10-03T00:00:00Z", "hash-N"),
            ("https://c/d", "D-1", 200, "2026-10-04T00:00:00Z", "hash-N"),
            ("https://c/d", "D-1", 200, "2026-10-05T00:00:00Z", "hash-M"),
            ("https://c/d", "D-1", 200, "2026-10-06T00:00:00Z", "hash-N"),
            ("https://c/e", "E-1", 404, "2026-10-03T00:00:00Z", "hash-404"),
            # no status recorded: a fetched page
            ("https://c/f", "F-1", None, "2026-10-03T00:00:00Z", "hash-F"),
        ],
        LANDED,
    )

    out = catalog_record_changes(batch, bronze)

    expected = spark.createDataFrame(
        [
            ("https://c/a", "A-1", 200, "2026-10-03T00:00:00Z", "hash-A", "changed"),
            ("https://c/b", "B-1", 200, "2026-10-03T00:00:00Z", "hash-X", "unchanged"),
            ("https://c/b", "B-1", 200, "2026-10-04T00:00:00Z", "hash-X", "unchanged"),
            ("https://c/c", "C-1", 200, "2026-10-03T00:00:00Z", "hash-Y", "unchanged"),
            ("https://c/d", "D-1", 200, "2026-10-03T00:00:00Z", "hash-N", "new"),
            ("https://c/d", "D-1", 200, "2026-10-04T00:00:00Z", "hash-N", "unchanged"),
            ("https://c/d", "D-1", 200, "2026-10-05T00:00:00Z", "hash-M", "changed"),
            ("https://c/d", "D-1", 200, "2026-10-06T00:00:00Z", "hash-N", "changed"),
            ("https://c/e", "E-1", 404, "2026-10-03T00:00:00Z", "hash-404", "failed"),
            ("https://c/f", "F-1", None, "2026-10-03T00:00:00Z", "hash-F", "new"),
        ],
        LANDED_CHANGES,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_changed_catalog_records_without_bronze_keep_one_record_per_version(spark):
    batch = spark.createDataFrame(
        [
            # one crawl's output landed twice: identical records
            ("https://c/a", "A-1", 200, "2026-10-03T00:00:00Z", "hash-A"),
            ("https://c/a", "A-1", 200, "2026-10-03T00:00:00Z", "hash-A"),
            ("https://c/b", "B-1", 200, "2026-10-03T00:00:00Z", "hash-B"),
            ("https://c/b", "B-1", 500, "2026-10-04T00:00:00Z", "hash-err"),
        ],
        LANDED,
    )

    out = changed_catalog_records(batch, None)

    expected = spark.createDataFrame(
        [
            ("https://c/a", "A-1", 200, "2026-10-03T00:00:00Z", "hash-A"),
            ("https://c/b", "B-1", 200, "2026-10-03T00:00:00Z", "hash-B"),
        ],
        LANDED,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
