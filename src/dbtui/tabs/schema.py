"""Schema tab: the live schema (tables, columns, types, defaults, keys, indexes) with schema_annotations.yaml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, OptionList, Static
from textual.widgets.option_list import Option

from database.config import Project
from dbtui import messages

if TYPE_CHECKING:
    from database.dev.annotations import Annotations
    from database.dev.catalog import Catalog, Table


def load_schema(url: str, project: Project) -> tuple[Catalog, Annotations]:
    """What the tab shows: the catalog of ``url`` and the project's annotations (runs in a worker)."""
    from database.dev.annotations import load_annotations  # yaml: imported on first use, not at start
    from database.dev.catalog import read_catalog

    return read_catalog(url), load_annotations(project.annotations)


def table_details(table: Table) -> Text:
    """Keys, foreign keys, indexes, triggers and policies of one table, one per line."""
    text = Text()

    def line(kind: str, body: str, name: str = "") -> None:
        text.append(f"{kind} " if kind else "", style="bold").append(body)
        if name:
            text.append(f"  {name}", style="dim")
        text.append("\n")

    for constraint in table.constraints:
        if constraint.kind == "foreign key":
            target = f"{constraint.references}({', '.join(constraint.referenced_columns)})"
            line("FK", f"{', '.join(constraint.columns)} → {target} ON DELETE {constraint.on_delete}", constraint.name)
        else:
            line("", constraint.definition, constraint.name)  # reads "PRIMARY KEY (id)", "CHECK (...)"
    for index in table.indexes:
        if not index.primary:
            line("", index.definition.replace(f" ON {table.schema}.{table.name}", ""))
    for trigger in table.triggers:
        line("TRIGGER", f"{trigger.timing} {' OR '.join(trigger.events)} → {trigger.function}", trigger.name)
    if table.rls_enabled:
        policies = ", ".join(p.name for p in table.policies) or "none"
        line("RLS", f"enabled{' (forced)' if table.rls_forced else ''}; policies: {policies}")
    return text


class SchemaTab(Horizontal):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.catalog: Catalog | None = None
        self.annotations: Annotations | None = None

    def compose(self) -> ComposeResult:
        yield OptionList(id="schema-tables")
        with VerticalScroll(id="schema-detail"):
            yield Label("Waiting for the database…", id="schema-title")
            yield Static("", id="schema-description")
            table: DataTable[str] = DataTable(id="schema-columns", cursor_type="row", zebra_stripes=True)
            table.add_columns("column", "type", "null", "default", "collate", "description")
            yield table
            yield Static("", id="schema-keys")

    def on_mount(self) -> None:
        """Mounted when first shown (so the catalog is not read at start-up), maybe after the database answered:
        then load now."""
        if self.app.database_ok and self.app.url:  # type: ignore[attr-defined]
            self.database_ready(self.app.url)  # type: ignore[attr-defined]

    def database_ready(self, url: str) -> None:
        self.app.run_task(self, "schema", lambda: load_schema(url, self.project))  # type: ignore[attr-defined]

    def on_task_done(self, message: messages.TaskDone) -> None:
        if message.task != "schema":
            return
        message.stop()
        self.catalog, self.annotations = message.result
        tables = self.query_one("#schema-tables", OptionList)
        highlighted = tables.highlighted
        tables.clear_options()
        tables.add_options([Option(name, id=name) for name in sorted(self.catalog.tables)])
        if self.catalog.tables:  # type: ignore[union-attr]
            tables.highlighted = min(highlighted or 0, len(self.catalog.tables) - 1)
        else:
            self.query_one("#schema-title", Label).update("No tables yet: apply migrations (m) to see the schema.")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.show_table(event.option.id)

    def show_table(self, name: str) -> None:
        assert self.catalog is not None and self.annotations is not None
        table = self.catalog.tables[name]
        described = self.annotations.description(name)
        self.query_one("#schema-title", Label).update(f"[b]{table.schema}.{name}[/b]  {len(table.columns)} column{'s' if len(table.columns) != 1 else ''}")
        self.query_one("#schema-description", Static).update(described or "[dim](no description in schema_annotations.yaml)[/dim]")
        columns = self.query_one("#schema-columns", DataTable)
        columns.clear()
        for column in table.columns:
            columns.add_row(
                column.name,
                column.type,
                "" if column.not_null else "null",
                column.default or "",
                column.collation if column.collation not in (None, "default") else "",
                self.annotations.description(name, column.name) or "",
            )
        self.query_one("#schema-keys", Static).update(table_details(table))
