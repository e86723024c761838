"""schema_annotations.yaml: parsing with line numbers, bad input as one clear error, validation against the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from database.dev.annotations import load_annotations, parse_annotations
from database.dev.catalog import Catalog, Column, Table
from database.dev.conventions import check_catalog
from database.dev.schema_view import annotate_sql, schema_data
from database.errors import DbtuiError

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
tables:
  organizations:
    description: Tenants.
    columns:
      name: Display name.
  countries:
    description: Reference data.
    ignore:
      organization-scoped: Shared by all organizations.
"""


def catalog(*tables: tuple[str, tuple[str, ...]]) -> Catalog:
    return Catalog(
        {
            name: Table(
                "public", name, tuple(Column(c, "text", True, None, "default", "S", i) for i, c in enumerate(cols, 1))
            )
            for name, cols in tables
        }
    )


def test_parses_descriptions_exemptions_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "schema_annotations.yaml"
    path.write_text(GOOD)
    annotations = load_annotations(path)
    assert annotations.description("organizations") == "Tenants."
    assert annotations.description("organizations", "name") == "Display name."
    assert annotations.description("organizations", "id") is None
    assert annotations.exemption("countries", "organization-scoped") == "Shared by all organizations."
    assert annotations.tables["countries"].line == 6
    assert annotations.tables["countries"].ignore_lines == {"organization-scoped": 9}


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_annotations(tmp_path / "nope.yaml").tables == {}


def test_repo_file_loads() -> None:
    annotations = load_annotations(REPO / "schema_annotations.yaml")
    assert "organization-scoped" in annotations.tables["users"].ignore


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("tables:\n  t: [1\n", 3, "invalid YAML"),
        ("tables:\n  t:\n    ignore:\n      fk-index:\n", 4, "needs a reason"),
        ("tables:\n  t:\n    ignore:\n      fk-index: '  '\n", 4, "needs a reason"),
        ("tables:\n  t:\n    colums:\n      a: b\n", 3, "unknown key 'colums'"),
        ("tables:\n  t:\n    description: [a]\n", 3, "must be non-empty text"),
        ("tables:\n  t:\n    columns:\n      a: x\n      a: y\n", 5, "annotated twice"),
        ("- a list\n", 1, "must be a mapping"),
        ("tabels: {}\n", 1, "unknown key 'tabels'"),
    ],
)
def test_bad_files_are_one_error_with_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "schema_annotations.yaml"
    path.write_text(text)
    with pytest.raises(DbtuiError) as caught:
        load_annotations(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert words in str(caught.value)


def test_unknown_tables_columns_and_rules_are_findings_at_their_yaml_line(tmp_path: Path) -> None:
    text = GOOD + "  ghosts:\n    description: Gone.\n"
    text = text.replace("      name: Display name.\n", "      name: Display name.\n      nmae: Typo.\n")
    text = text.replace("      organization-scoped:", "      no-such-rule: Because.\n      organization-scoped:")
    annotations = parse_annotations(text, tmp_path / "schema_annotations.yaml")
    result = check_catalog(catalog(("organizations", ("name",)), ("countries", ("name",))), annotations, root=tmp_path)
    unknown = [(f.table, f.column, f.migration, f.line) for f in result.findings if f.rule == "annotation-unknown"]
    assert sorted(unknown) == [
        ("countries", None, "schema_annotations.yaml", 10),
        ("ghosts", None, "schema_annotations.yaml", 12),
        ("organizations", "nmae", "schema_annotations.yaml", 6),
    ]
    assert all(f.severity == "error" for f in result.findings if f.rule == "annotation-unknown")


def test_missing_descriptions_are_warnings_and_coverage_counts(tmp_path: Path) -> None:
    annotations = parse_annotations(GOOD)
    result = check_catalog(catalog(("organizations", ("id", "name")), ("users", ("id",))), annotations)
    missing = [(f.rule, f.severity, f.table) for f in result.findings if f.rule == "annotation-missing"]
    assert missing == [("annotation-missing", "warning", "users")]
    c = result.coverage
    assert (c.tables, c.tables_described, c.columns, c.columns_described) == (2, 1, 3, 1)


def test_annotated_sql_puts_descriptions_beside_tables_and_columns() -> None:
    schema = (
        "\\restrict abc\nCREATE TABLE public.organizations (\n    id text NOT NULL,\n    name text NOT NULL\n);\n"
        "CREATE TABLE public.other (x int);\n"
    )
    out = annotate_sql(schema, parse_annotations(GOOD)).splitlines()
    assert out[1] == "-- organizations: Tenants."
    assert out[2] == "CREATE TABLE public.organizations ("
    assert out[3] == "    id text NOT NULL,"
    assert out[4] == "    name text NOT NULL  -- Display name."
    assert out[6] == "CREATE TABLE public.other (x int);"


def test_schema_data_carries_descriptions() -> None:
    data = schema_data(catalog(("organizations", ("id", "name"))), parse_annotations(GOOD))
    [table] = data["tables"]
    assert table["description"] == "Tenants."
    assert [(c["name"], c["description"]) for c in table["columns"]] == [("id", None), ("name", "Display name.")]
