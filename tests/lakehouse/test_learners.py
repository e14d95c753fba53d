"""lakehouse.learners: silver.learners from the LMS learners in bronze."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from lakehouse.learners import conform_learners

BRONZE = (
    "id bigint, name string, department string, job_role string, country string, "
    "hired_at string, updated_at string, _ingested_at timestamp, _source string, _batch_id string"
)
SILVER = (
    "learner_id bigint, name string, department string, job_role string, country string, "
    "hired_at timestamp, updated_at timestamp"
)
T0 = dt.datetime(2026, 10, 31, 2, 0)
T1 = dt.datetime(2026, 11, 1, 2, 0)


def test_conform_learners_keeps_latest_version_trimmed_and_typed(spark):
    bronze = spark.createDataFrame(
        [
            # learner 1: two versions, the later updated_at wins even though loaded earlier
            (1, "Ada", "Eng", "Engineer", "de", "2020-01-15 00:00:00", "2026-05-01 10:00:00",
             T1, "lms:learners", "b-2"),
            (1, "  Ada Lovelace ", " Data ", " Data Engineer", " gb ", "2020-01-15 00:00:00",
             "2026-06-01 08:30:00", T0, "lms:learners", "b-1"),
            # learner 2: the same row loaded twice
            (2, "Grace", "Ops", "SRE", "Us", "2019-07-01 09:00:00", "2026-01-02 03:04:05",
             T0, "lms:learners", "b-1"),
            (2, "Grace", "Ops", "SRE", "Us", "2019-07-01 09:00:00", "2026-01-02 03:04:05",
             T1, "lms:learners", "b-2"),
        ],
        BRONZE,
    )  # fmt: skip

    out = conform_learners(bronze)

    expected = spark.createDataFrame(
        [
            (1, "Ada Lovelace", "Data", "Data Engineer", "GB", dt.datetime(2020, 1, 15),
             dt.datetime(2026, 6, 1, 8, 30)),
            (2, "Grace", "Ops", "SRE", "US", dt.datetime(2019, 7, 1, 9),
             dt.datetime(2026, 1, 2, 3, 4, 5)),
        ],
        SILVER,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_conform_learners_same_updated_at_latest_load_wins(spark):
    bronze = spark.createDataFrame(
        [
            (7, "Old Name", "HR", "Analyst", "fr", "2021-03-01 00:00:00", "2026-02-01 00:00:00",
             T0, "lms:learners", "b-1"),
            (7, "New Name", "HR", "Analyst", "fr", "2021-03-01 00:00:00", "2026-02-01 00:00:00",
             T1, "lms:learners", "b-2"),
        ],
        BRONZE,
    )  # fmt: skip

    out = conform_learners(bronze)

    expected = spark.createDataFrame(
        [(7, "New Name", "HR", "Analyst", "FR", dt.datetime(2021, 3, 1), dt.datetime(2026, 2, 1))],
        SILVER,
    )
    assert_df_equality(out, expected, ignore_nullable=True)
