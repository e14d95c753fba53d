"""The table catalog: docs/tables.md rendered from conf/, complete, and true to the file specs."""

from __future__ import annotations

import pytest
import yaml

from lakehouse.bronze import LINEAGE_COLUMNS
from lakehouse.cli import main
from lakehouse.config import ConfigError, conf_dir, load_config, profiles
from lakehouse.table_docs import HEADER, table_catalog


def _columns() -> dict:
    return yaml.safe_load((conf_dir() / "tables" / "columns.yml").read_text(encoding="utf-8"))


def test_docs_tables_md_is_what_lakehouse_docs_writes_from_the_current_conf(tmp_path):
    written = tmp_path / "tables.md"

    assert main(["docs", "--output", str(written)]) == 0

    committed = conf_dir().parent / "docs" / "tables.md"
    assert committed.read_text(encoding="utf-8") == written.read_text(encoding="utf-8"), (
        "docs/tables.md is stale: run `lakehouse docs`"
    )
    assert main(["docs", "--check", "--output", str(written)]) == 0
    written.write_text("stale", encoding="utf-8")
    assert main(["docs", "--check", "--output", str(written)]) == 1


def test_columns_yml_documents_exactly_the_declared_tables():
    declared = set(load_config("local")["tables"])
    for profile in profiles():
        raw = yaml.safe_load((conf_dir() / f"{profile}.yml").read_text(encoding="utf-8")) or {}
        declared |= set(raw.get("tables") or {})

    assert set(_columns()) == declared


def test_oulad_bronze_columns_are_documented_as_the_file_specs_load_them():
    specs = load_config("oulad")["sources"]["files"]["oulad"]["files"]
    lineage_types = {"_ingested_at": "timestamp", "_source": "string", "_batch_id": "string"}
    documented = _columns()

    for spec in specs.values():
        fields = [f.split() for f in str(spec["schema"]).split(",")]
        expected = [(name, ddl_type.lower()) for name, ddl_type in fields]
        expected += [("_source_file", "string"), *((c, lineage_types[c]) for c in LINEAGE_COLUMNS)]
        got = [(name, col["type"]) for name, col in documented[spec["bronze"]].items()]
        assert got == expected, spec["bronze"]


TABLES = {
    "silver.t": {
        "path": "silver/t",
        "keys": ["id"],
        "partition_by": ["day"],
        "properties": {"delta.enableChangeDataFeed": True},
        "grain": "One  thing,\nper day.",
        "description": "What | it is for.",
    }
}
PROFILE_TABLES = {
    "p": {
        "silver.t": {"path": "ignored", "keys": []},
        "bronze.raw": {"path": "bronze/raw", "keys": [], "grain": "A row.", "description": "Raw."},
    }
}
COLUMNS = {
    "silver.t": {
        "id": {"type": "bigint", "meaning": "The id"},
        "day": {"type": "date", "meaning": "The day", "only_when": "a day came"},
    },
    "bronze.raw": {"tags": {"type": "array<string>", "meaning": "Tags"}},
}


def test_table_catalog_renders_layers_tables_and_columns():
    text = table_catalog(TABLES, COLUMNS, PROFILE_TABLES)

    assert text == HEADER + "\n" + "\n".join(
        [
            "Layers: [bronze](#bronze), [silver](#silver), [gold](#gold), [control](#control).",
            "",
            "## bronze",
            "",
            "Source data as delivered, append-only, with lineage columns saying when, from where "
            "and by which batch each row came (`_ingested_at`, `_source`, `_batch_id`).",
            "",
            "| table | grain |",
            "|---|---|",
            "| [`bronze.raw`](#bronzeraw) | A row. |",
            "",
            "### `bronze.raw`",
            "",
            "Raw.",
            "",
            "- **Grain:** A row.",
            "- **Keys:** none (rows are not unique)",
            "- **Partitioned by:** not partitioned",
            "- **Z-ordered by:** no Z-order",
            "- **Path:** `bronze/raw`",
            "- **Profile:** declared only by the `p` profile (`conf/p.yml`)",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
            "| `tags` | `array<string>` | Tags |",
            "",
            "## silver",
            "",
            "Cleaned, typed, current data in one model for every source (LMS and OULAD), merged "
            "from bronze every night after the data-quality rules (interactions: only what bronze "
            "received since the last run).",
            "",
            "| table | grain |",
            "|---|---|",
            "| [`silver.t`](#silvert) | One thing, per day. |",
            "",
            "### `silver.t`",
            "",
            "What | it is for.",
            "",
            "- **Grain:** One thing, per day.",
            "- **Keys:** `id`",
            "- **Partitioned by:** `day`",
            "- **Z-ordered by:** no Z-order",
            "- **Path:** `silver/t`",
            "- **Delta properties:** `delta.enableChangeDataFeed = true`",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
            "| `id` | `bigint` | The id |",
            "| `day` | `date` | The day (*only when* a day came) |",
            "",
        ]
    )


def test_table_catalog_refuses_tables_without_grain_description_or_columns():
    tables = {**TABLES, "gold.bare": {"path": "gold/bare", "keys": [], "grain": "A row."}}
    columns = {**COLUMNS, "silver.t": {"id": {"type": "bigint"}}}

    with pytest.raises(ConfigError) as refused:
        table_catalog(tables, columns)

    assert "silver.t (type or meaning of id); gold.bare (description, columns)" in str(
        refused.value
    )
