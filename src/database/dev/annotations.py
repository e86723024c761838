"""``schema_annotations.yaml``: what each table and column means, and the convention exemptions a team agreed to.

Format (every key optional; an exemption needs a reason)::

    tables:
      organizations:
        description: Tenants; every customer row belongs to one.
        columns:
          name: Display name shown in the app.
      countries:
        description: Global reference data.
        ignore:
          organization-scoped: Shared by all organizations.
    migrations:
      0007_drop_legacy_flags:
        ignore:
          ban-drop-column: The app stopped reading these columns in release 41.

``migrations.<id>.ignore`` exempts one migration from an operation rule (``database.dev.operation_rules``).
The file is read with line numbers kept, so every later finding about it (an unknown table, a rule that does not
exist) can point at ``schema_annotations.yaml:line``. A missing file is simply empty annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from database.errors import DbtuiError

if TYPE_CHECKING:  # imported where a file is parsed: a project without the file never loads YAML
    import yaml


@dataclass(frozen=True)
class TableAnnotation:
    """One table's entry; ``*_lines`` map a column or rule to the YAML line that names it."""

    name: str
    line: int
    description: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    ignore: dict[str, str] = field(default_factory=dict)
    column_lines: dict[str, int] = field(default_factory=dict)
    ignore_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MigrationAnnotation:
    """One migration's entry: the operation rules it is exempt from, with reasons and YAML lines."""

    id: str
    line: int
    ignore: dict[str, str] = field(default_factory=dict)
    ignore_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Annotations:
    """The whole file; ``path`` is where it was (or would be) read from."""

    path: Path | None = None
    tables: dict[str, TableAnnotation] = field(default_factory=dict)
    migrations: dict[str, MigrationAnnotation] = field(default_factory=dict)

    def table(self, name: str) -> TableAnnotation | None:
        return self.tables.get(name)

    def description(self, table: str, column: str | None = None) -> str | None:
        """The description of a table, or of one of its columns; None when not annotated."""
        entry = self.tables.get(table)
        if entry is None:
            return None
        return entry.description if column is None else entry.columns.get(column)

    def exemption(self, table: str, rule: str) -> str | None:
        """The reason ``table`` is exempt from ``rule``, or None."""
        entry = self.tables.get(table)
        return entry.ignore.get(rule) if entry else None

    def migration_exemption(self, migration_id: str, rule: str) -> str | None:
        """The reason migration ``migration_id`` is exempt from operation rule ``rule``, or None."""
        entry = self.migrations.get(migration_id)
        return entry.ignore.get(rule) if entry else None


def load_annotations(path: Path | str) -> Annotations:
    """Read and shape-check the file; a missing file is empty annotations, a bad one a DbtuiError at file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Annotations(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DbtuiError(f"cannot read annotations: {exc}", path=path) from None
    return parse_annotations(text, path)


def parse_annotations(text: str, path: Path | str | None = None) -> Annotations:
    """Parse annotations from YAML text (``path`` is only used in messages)."""
    import yaml

    path = Path(path) if path is not None else None
    try:
        # libyaml's loader when PyYAML was built with it: the same nodes and marks, several times faster.
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise DbtuiError(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: its position is a character offset
        line = text.count("\n", 0, exc.position) + 1
        raise DbtuiError(
            f"invalid YAML: character {exc.character!r} is not allowed ({exc.reason})", path=path, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise DbtuiError(
            f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", path=path
        ) from None
    reader = _Reader(path)
    if root is None or (isinstance(root, yaml.ScalarNode) and root.value == ""):
        return Annotations(path=path)
    top = reader.mapping(root, "the file")
    tables: dict[str, TableAnnotation] = {}
    migrations: dict[str, MigrationAnnotation] = {}
    for key, value in top:
        if key.value not in ("tables", "migrations"):
            raise reader.error(key, f"unknown key {key.value!r} (expected 'tables' or 'migrations')")
        if _is_null(value):
            continue
        for name_node, body in reader.mapping(value, key.value):
            if key.value == "migrations":
                name = reader.name(name_node, "migration id")
                if name in migrations:
                    raise reader.error(name_node, f"migration {name!r} is annotated twice")
                migrations[name] = reader.migration(name, name_node, body)
                continue
            name = reader.name(name_node, "table name")
            if name in tables:
                raise reader.error(name_node, f"table {name!r} is annotated twice")
            tables[name] = reader.table(name, name_node, body)
    return Annotations(path=path, tables=tables, migrations=migrations)


def _is_null(node: yaml.Node) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _Reader:
    """Walks the composed YAML nodes (which keep their line numbers) and checks the shape as it goes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def error(self, node: yaml.Node, message: str) -> DbtuiError:
        return DbtuiError(message, path=self.path, line=node.start_mark.line + 1)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.error(key, f"keys of {what} must be plain names")
        return node.value

    def name(self, node: yaml.ScalarNode, what: str) -> str:
        if node.tag != "tag:yaml.org,2002:str" or not node.value.strip():
            raise self.error(node, f"{what} must be a non-empty name, got {node.value!r}")
        return node.value

    def text(self, node: yaml.Node, what: str) -> str:
        import yaml

        if not isinstance(node, yaml.ScalarNode) or _is_null(node) or not str(node.value).strip():
            raise self.error(node, f"{what} must be non-empty text")
        return str(node.value).strip()

    def table(self, name: str, name_node: yaml.ScalarNode, body: yaml.Node) -> TableAnnotation:

        line = name_node.start_mark.line + 1
        if _is_null(body):
            return TableAnnotation(name=name, line=line)
        description = None
        columns: dict[str, str] = {}
        column_lines: dict[str, int] = {}
        ignore: dict[str, str] = {}
        ignore_lines: dict[str, int] = {}
        for key, value in self.mapping(body, f"table {name!r}"):
            if key.value == "description":
                description = self.text(value, f"description of table {name!r}")
            elif key.value == "columns":
                for column_node, text in [] if _is_null(value) else self.mapping(value, f"columns of {name!r}"):
                    column = self.name(column_node, "column name")
                    if column in columns:
                        raise self.error(column_node, f"column {name}.{column} is annotated twice")
                    columns[column] = self.text(text, f"description of {name}.{column}")
                    column_lines[column] = column_node.start_mark.line + 1
            elif key.value == "ignore":
                ignore, ignore_lines = self.ignore(name, value)
            else:
                raise self.error(
                    key, f"unknown key {key.value!r} in table {name!r} (expected description, columns, ignore)"
                )
        return TableAnnotation(
            name=name,
            line=line,
            description=description,
            columns=columns,
            ignore=ignore,
            column_lines=column_lines,
            ignore_lines=ignore_lines,
        )

    def ignore(self, name: str, value: yaml.Node) -> tuple[dict[str, str], dict[str, int]]:
        """An ``ignore:`` mapping of rule id to reason (a reason is required), and the line of each rule."""
        import yaml

        ignore: dict[str, str] = {}
        lines: dict[str, int] = {}
        for rule_node, reason in [] if _is_null(value) else self.mapping(value, f"ignore of {name!r}"):
            rule = self.name(rule_node, "rule id")
            if _is_null(reason) or (isinstance(reason, yaml.ScalarNode) and not reason.value.strip()):
                raise self.error(rule_node, f"exemption of {name!r} from {rule!r} needs a reason")
            ignore[rule] = self.text(reason, f"reason for exempting {name!r} from {rule!r}")
            lines[rule] = rule_node.start_mark.line + 1
        return ignore, lines

    def migration(self, name: str, name_node: yaml.ScalarNode, body: yaml.Node) -> MigrationAnnotation:
        line = name_node.start_mark.line + 1
        if _is_null(body):
            return MigrationAnnotation(id=name, line=line)
        ignore: dict[str, str] = {}
        ignore_lines: dict[str, int] = {}
        for key, value in self.mapping(body, f"migration {name!r}"):
            if key.value != "ignore":
                raise self.error(key, f"unknown key {key.value!r} in migration {name!r} (expected ignore)")
            ignore, ignore_lines = self.ignore(name, value)
        return MigrationAnnotation(id=name, line=line, ignore=ignore, ignore_lines=ignore_lines)
