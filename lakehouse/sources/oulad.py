"""The Open University Learning Analytics Dataset (OULAD) as file drops: one spec per CSV file.

Column names are exactly those of the published headers; ids and day offsets are integers.
Missing values are written `?` (e.g. `date` of assessments.csv, `imd_band` of studentInfo.csv,
`date_unregistration` of studentRegistration.csv), so every file is read with `nullValue: "?"`
and those values land in bronze as nulls. studentVle is published gzipped: its glob matches
`studentVle.csv` and `studentVle.csv.gz` alike.
"""

from __future__ import annotations

from typing import Any

OULAD_SCHEMAS: dict[str, str] = {
    "courses": "code_module STRING, code_presentation STRING, module_presentation_length INT",
    "assessments": (
        "code_module STRING, code_presentation STRING, id_assessment INT, "
        "assessment_type STRING, date INT, weight DOUBLE"
    ),
    "vle": (
        "id_site INT, code_module STRING, code_presentation STRING, activity_type STRING, "
        "week_from INT, week_to INT"
    ),
    "student_info": (
        "code_module STRING, code_presentation STRING, id_student INT, gender STRING, "
        "region STRING, highest_education STRING, imd_band STRING, age_band STRING, "
        "num_of_prev_attempts INT, studied_credits INT, disability STRING, final_result STRING"
    ),
    "student_registration": (
        "code_module STRING, code_presentation STRING, id_student INT, date_registration INT, "
        "date_unregistration INT"
    ),
    "student_assessment": (
        "id_assessment INT, id_student INT, date_submitted INT, is_banked INT, score DOUBLE"
    ),
    "student_vle": (
        "code_module STRING, code_presentation STRING, id_student INT, id_site INT, date INT, "
        "sum_click INT"
    ),
}

# The published file of each dataset part (a glob: studentVle comes gzipped).
OULAD_FILE_NAMES: dict[str, str] = {
    "courses": "courses.csv",
    "assessments": "assessments.csv",
    "vle": "vle.csv",
    "student_info": "studentInfo.csv",
    "student_registration": "studentRegistration.csv",
    "student_assessment": "studentAssessment.csv",
    "student_vle": "studentVle.csv*",
}

OULAD_CSV_OPTIONS: dict[str, Any] = {"header": True, "delimiter": ",", "nullValue": "?"}

# The file specs of lakehouse.sources.files, by part: file glob, format, CSV options, schema
# and bronze table (bronze.oulad_<part>).
OULAD_FILES: dict[str, dict[str, Any]] = {
    part: {
        "file": OULAD_FILE_NAMES[part],
        "format": "csv",
        "options": dict(OULAD_CSV_OPTIONS),
        "schema": ddl,
        "bronze": f"bronze.oulad_{part}",
    }
    for part, ddl in OULAD_SCHEMAS.items()
}
