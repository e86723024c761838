"""The data model for readers: the schema with the descriptions from ``schema_annotations.yaml`` beside it.

``annotate_sql`` puts each table's description above its ``CREATE TABLE`` in schema.sql and each column's at the end
of its line, as SQL comments — one file to hand a reviewer or a coding assistant. ``schema_data`` is the same as
JSON-ready data, and ``schema_text`` a compact listing; the CLI and the TUI's Schema tab use these.
"""

from __future__ import annotations

import re
from pathlib import Path

from database.config import Project
from database.dev.annotations import Annotations, load_annotations
from database.dev.catalog import Catalog, Table
from database.dev.source_map import table_statements
from database.errors import ConfigError

_META = re.compile(r"^\\")  # psql meta-commands (pg_dump 18's \restrict): not SQL, blanked before parsing


def _one_line(text: str) -> str:
    return " ".join(text.split())


def annotate_sql(text: str, annotations: Annotations) -> str:
    """schema.sql with descriptions as comments: above each table, at the end of each column's line."""
    lines = text.splitlines()
    parseable = "\n".join("" if _META.match(line) else line for line in lines)
    statements, _ = table_statements(parseable, Path("schema.sql"))
    above: dict[int, list[str]] = {}
    beside: dict[int, str] = {}
    for statement in statements:
        stmt = statement.node
        if statement.kind != "CreateStmt" or stmt["relation"].get("schemaname", "public") != "public":
            continue
        name = stmt["relation"]["relname"]
        description = annotations.description(name)
        if description:
            above[statement.line(stmt["relation"].get("location")) - 1] = [f"-- {name}: {_one_line(description)}"]
        for element in stmt.get("tableElts", ()):
            column = element.get("ColumnDef")
            described = annotations.description(name, column["colname"]) if column else None
            if described:
                beside[statement.line(column.get("location")) - 1] = _one_line(described)
    out: list[str] = []
    for number, line in enumerate(lines):
        out.extend(above.get(number, ()))
        out.append(f"{line}  -- {beside[number]}" if number in beside else line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def annotated_schema(project: Project, url: str | None = None) -> str:
    """``project.schema`` (schema.sql) annotated; when the file is missing, a dump of ``url`` annotated instead."""
    annotations = load_annotations(project.annotations)
    if project.schema.is_file():
        text = project.schema.read_text(encoding="utf-8")
    else:
        from database.dev.schema_dump import dump_schema

        if url is None:
            raise ConfigError(f"{project.schema.name} not found (run 'dbtui codegen' to write it)", path=project.schema)
        text = dump_schema(url)
    return annotate_sql(text, annotations)


def schema_data(catalog: Catalog, annotations: Annotations) -> dict:
    """The catalog as JSON-ready data with a ``description`` on every table and column (None when missing)."""
    data = catalog.to_dict()
    for table in data["tables"]:
        table["description"] = annotations.description(table["name"])
        for column in table["columns"]:
            column["description"] = annotations.description(table["name"], column["name"])
    return data


def _column_lines(table: Table, annotations: Annotations, width: int) -> list[str]:
    out = []
    for c in table.columns:
        collate = ' COLLATE "C"' if c.collation == "C" else ""
        spec = f"{c.type}{collate}{' NOT NULL' if c.not_null else ''}{f' DEFAULT {c.default}' if c.default else ''}"
        description = annotations.description(table.name, c.name)
        out.append(f"  {c.name:<{width}}  {spec}" + (f"  -- {_one_line(description)}" if description else ""))
    return out


def schema_text(catalog: Catalog, annotations: Annotations) -> str:
    """Tables, columns, keys, indexes, triggers and policies, one block per table."""
    blocks = []
    for table in catalog.tables.values():
        description = annotations.description(table.name)
        width = max((len(c.name) for c in table.columns), default=0)
        lines = [table.name + (f" — {_one_line(description)}" if description else "")]
        lines += _column_lines(table, annotations, width)
        lines += [f"  {k.kind} {k.name}: {k.definition}" for k in table.constraints]
        lines += [f"  index {i.name}: {i.definition.split(' USING ', 1)[-1]}" for i in table.indexes if not i.primary]
        lines += [
            f"  trigger {t.name}: {t.timing} {' OR '.join(t.events)}{' FOR EACH ROW' if t.for_each_row else ''}"
            f" {t.function}()"
            for t in table.triggers
        ]
        if table.rls_enabled or table.policies:
            names = ", ".join(p.name for p in table.policies) or "none"
            lines.append(f"  row level security: {'enabled' if table.rls_enabled else 'disabled'}; policies: {names}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "(no tables)"
