"""Fixtures of the job tests: a tiny SQLite LMS and a profile of its own per test."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.config import with_run
from lakehouse.demo.lms import DemoSize, generate_world, write_lms_database


@pytest.fixture
def lms(tmp_path, profile):
    """A tiny SQLite LMS and a profile whose lakehouse lives in tmp_path: (cfg, db path)."""
    db = tmp_path / "lms.db"
    world = generate_world(3, DemoSize(30, 6, 400), dt.date(2026, 9, 1), dt.date(2026, 11, 1))
    write_lms_database(world, db)
    cfg = profile(
        "local",
        {
            "paths.root": str(tmp_path / "root"),
            "sources.lms.url": f"jdbc:sqlite:{db}",
        },
    )
    return with_run(cfg, date="2026-11-01", batch_id="b1"), db
