"""What a migrate or rollback would do, before it runs (the TUI's confirmation), and which project files changed
(the TUI's live reload): both without a terminal."""

from __future__ import annotations

import threading

from database.config import Project
from database.dev.migrations import migrate
from database.dev.project_watch import ProjectChanges, classify, watch_project
from database.dev.run_plan import dropped_objects, plan_run

GADGETS = "-- depends: 0006_row_level_security\nCREATE TABLE gadgets (\n    id integer PRIMARY KEY\n);\n"


def test_dropped_objects_names_tables_and_columns() -> None:
    sql = "DROP TABLE IF EXISTS a, s.b; ALTER TABLE t DROP COLUMN x, ADD COLUMN y bigint; DROP INDEX i;"
    assert dropped_objects(sql) == ["table a", "table s.b", "column t.x"]
    assert dropped_objects("not sql at all") == []  # the run reports the syntax error, with its line


def test_rollback_plan_shows_sql_and_drops(project_copy: Project, empty_database: str) -> None:
    migrate(empty_database, project_copy.migrations)
    plan = plan_run(empty_database, project_copy, "rollback", "0004_memberships")
    assert plan.ids[-2:] == ["0006_row_level_security", "0004_memberships"]  # after this repo's later ones
    assert plan.statements[-1][0] == "0004_memberships" and "DROP TABLE memberships" in plan.statements[-1][1]
    assert "table memberships" in plan.drops
    assert plan.warnings == []


def test_migrate_plan_lists_convention_errors_of_pending_files_only(project_copy: Project, empty_database: str) -> None:
    (project_copy.migrations / "0007_gadgets.sql").write_text(GADGETS, encoding="utf-8")
    plan = plan_run(empty_database, project_copy, "migrate", None)
    assert plan.ids[-1] == "0007_gadgets"
    assert plan.warnings and all(w.startswith("migrations/0007_gadgets.sql:") for w in plan.warnings)
    assert any(": bigint: " in w for w in plan.warnings)
    migrate(empty_database, project_copy.migrations, "0006_row_level_security")
    assert plan_run(empty_database, project_copy, "migrate", "0006_row_level_security").warnings == []  # none pending


def test_changes_are_classified_and_watched(project_copy: Project) -> None:
    p = project_copy
    assert classify(p, {p.migrations / "0009_x.sql"}) == ProjectChanges(
        migrations=True, paths=frozenset({p.migrations / "0009_x.sql"})
    )
    assert classify(p, {p.queries, p.annotations}).queries and classify(p, {p.annotations}).annotations
    stop = threading.Event()
    seen: list[ProjectChanges] = []

    def watch() -> None:
        for changes in watch_project(p, stop_event=stop):
            seen.append(changes)
            stop.set()

    thread = threading.Thread(target=watch)
    thread.start()
    path = p.migrations / "0009_new.sql"
    try:
        for _ in range(50):  # the watcher needs a moment to start: save until it reports (at most ~10 s)
            path.write_text("-- depends: 0006_row_level_security\nSELECT 1;\n", encoding="utf-8")
            thread.join(0.2)
            if seen:
                break
    finally:
        stop.set()
        thread.join(10)
    assert seen and seen[0].migrations and path in seen[0].paths
