"""lakehouse.sources.oulad: the OULAD file specs match the published files."""

from __future__ import annotations

import fnmatch
import os

import pytest
from chispa import assert_df_equality

from lakehouse.config import load_config
from lakehouse.sources.files import csv_header, file_reader_options, read_drop, schema_columns
from lakehouse.sources.oulad import OULAD_FILES, OULAD_SCHEMAS

OULAD_DIR = os.environ.get("OULAD_CSV_DIR", "/work/shared/data/oulad/csv")
PARTS = (
    "courses",
    "assessments",
    "vle",
    "student_info",
    "student_registration",
    "student_assessment",
    "student_vle",
)


def test_every_part_has_a_csv_spec_loading_into_its_bronze_table():
    assert tuple(OULAD_SCHEMAS) == PARTS
    assert tuple(OULAD_FILES) == PARTS
    for part, spec in OULAD_FILES.items():
        assert spec["bronze"] == f"bronze.oulad_{part}"
        assert spec["schema"] == OULAD_SCHEMAS[part]
        assert file_reader_options(spec)["nullValue"] == "?"
    assert OULAD_FILES["student_vle"]["file"] == "studentVle.csv*"


@pytest.mark.skipif(
    not os.path.isdir(OULAD_DIR), reason=f"the OULAD CSV files are not at {OULAD_DIR}"
)
@pytest.mark.parametrize("part", PARTS)
def test_schema_names_the_real_header(part):
    names = sorted(
        n for n in os.listdir(OULAD_DIR) if fnmatch.fnmatch(n, OULAD_FILES[part]["file"])
    )
    assert names, f"no {OULAD_FILES[part]['file']} in {OULAD_DIR}"
    header = csv_header(os.path.join(OULAD_DIR, names[0]))
    assert schema_columns(OULAD_SCHEMAS[part]) == header


def test_question_marks_read_as_nulls(spark, tmp_path):
    drop = tmp_path / "oulad"
    drop.mkdir()
    (drop / "studentRegistration.csv").write_text(
        '"code_module","code_presentation","id_student","date_registration","date_unregistration"\n'
        '"AAA","2013J","11391","-159","?"\n'
        '"AAA","2013J","30268","?","12"\n',
        encoding="utf-8",
    )
    (drop / "studentInfo.csv").write_text("unrelated\n", encoding="utf-8")

    out = read_drop(spark, OULAD_FILES["student_registration"], str(drop)).drop("_source_file")

    expected = spark.createDataFrame(
        [("AAA", "2013J", 11391, -159, None), ("AAA", "2013J", 30268, None, 12)],
        OULAD_SCHEMAS["student_registration"],
    )
    assert_df_equality(out, expected, ignore_row_order=True)


def test_the_oulad_profile_declares_exactly_these_file_specs():
    cfg = load_config("oulad")
    declared = cfg["sources"]["files"]["oulad"]["files"]

    def normalised(spec):
        return {**spec, "schema": " ".join(str(spec["schema"]).split())}

    assert {part: normalised(spec) for part, spec in declared.items()} == {
        part: normalised(spec) for part, spec in OULAD_FILES.items()
    }
    for spec in declared.values():
        assert spec["bronze"] in cfg["tables"]
