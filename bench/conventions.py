"""Benchmark: the commands that read the whole schema, on generated schemas of growing size (10 tables a migration,
a third with a realistic defect), each against its peer in the same run:

- ``dbtui check`` (annotations, source map, catalog read, rules: exactly what ``dbtui check --database`` runs, on a
  fresh connection each time, parse cache warm as for a developer re-running it: the files were written a minute
  before, so the source map's whole-folder cache, which does not trust files younger than 2 s, applies) vs squawk (squawk-cli from PyPI),
  the migration linter a team would otherwise run in CI, over the same migration files. It answers a different
  question (static lint of SQL text, no live catalog). Goal: ≤ 1.0x squawk at the largest size, linear growth.
- the schema view (``dbtui schema``: catalog read + text, in process) and codegen's schema dump (``dump_schema``:
  pg_dump plus the enum rows, what schema.sql is written from) vs a bare ``pg_dump --schema-only`` of the same
  database (a process, as ours runs one). Reported, with their growth.

The database is built once per size (a clone of the migrations' template) and not timed.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import chart, fmt_seconds, full_sizes, growth_rows, median_seconds, row, sizes
from database.config import Project
from database.dev import server as pg_server
from database.dev import testdb
from database.dev.annotations import load_annotations
from database.dev.catalog import read_catalog
from database.dev.conventions import check
from database.dev.schema_dump import dump_schema
from database.dev.schema_view import schema_text

REPO = Path(__file__).resolve().parent.parent
REPEAT = 5
TABLES_PER_FILE = 10
GOAL_SQUAWK = 1.0  # x squawk, at the largest size

BASE = (
    (REPO / "migrations" / "0001_functions.sql").read_text()
    + """
CREATE TABLE organizations (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('org') CHECK (id LIKE 'org_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    name TEXT NOT NULL
);
CREATE TRIGGER updated_at BEFORE UPDATE ON organizations FOR EACH ROW EXECUTE PROCEDURE updated_at();
"""
)

# Realistic defects, each one line of the table's text changed; roughly a third of tables get one.
DEFECTS = [
    ("    count BIGINT", "    count INTEGER"),
    ("    seen_at TIMESTAMPTZ", "    seen_at TIMESTAMP"),
    ("CREATE INDEX ON {t}(organization_id);\n", ""),
    ('    vendor_extid TEXT COLLATE "C"', "    vendor_id TEXT"),
    ("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n", ""),
]


def table_sql(name: str, rng: random.Random, previous: str | None) -> str:
    parent = f',\n    parent_id TEXT COLLATE "C" REFERENCES {previous}(id) ON DELETE CASCADE' if previous else ""
    parent_index = f"CREATE INDEX ON {name}(parent_id);\n" if previous else ""
    text = f"""CREATE TABLE {name} (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('{name[:3]}') CHECK (id LIKE '{name[:3]}_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    count BIGINT,
    seen_at TIMESTAMPTZ,
    vendor_extid TEXT COLLATE "C"{parent}
);
CREATE TRIGGER updated_at BEFORE UPDATE ON {name} FOR EACH ROW EXECUTE PROCEDURE updated_at();
CREATE INDEX ON {name}(organization_id);
{parent_index}ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;
CREATE POLICY access ON {name} USING (organization_id = current_setting('app.organization_id', true));
"""
    if rng.random() < 0.35:
        old, new = rng.choice(DEFECTS)
        text = text.replace(old.format(t=name), new, 1)
    return text


def write_migrations(directory: Path, tables: int) -> None:
    rng = random.Random(tables)
    directory.mkdir(parents=True)
    (directory / "0000_base.sql").write_text(BASE)
    previous_file, previous_table = "0000_base", None
    for start in range(0, tables, TABLES_PER_FILE):
        name = f"{start // TABLES_PER_FILE + 1:04d}_tables_{start}"
        body = [f"-- depends: {previous_file}\n"]
        for i in range(start, min(start + TABLES_PER_FILE, tables)):
            table = f"t{i:04d}_items"
            body.append(table_sql(table, rng, previous_table if i % 3 else None))
            previous_table = table
        body.append(f"CREATE TABLE kind_{start}_enum (value TEXT PRIMARY KEY);\n")
        (directory / f"{name}.sql").write_text("".join(body))
        previous_file = name
    written = time.time_ns() - 60_000_000_000  # as a developer's files are: written before the check, not this instant
    for path in directory.iterdir():
        os.utime(path, ns=(written, written))


def _measure(project: Project, url: str, squawk: str, pg_dump: str) -> tuple[list, float, float, float, float, float]:
    """The findings, and the median seconds of: the check, squawk, the schema view, the schema dump, bare pg_dump."""
    findings: list = []

    def ours() -> None:
        findings[:] = check(project, url=url).findings

    files = sorted(str(p) for p in project.migrations.glob("*.sql"))
    ours_s = median_seconds(ours, repeat=REPEAT, warmup=1)
    peer_s = median_seconds(lambda: subprocess.run([squawk, *files], capture_output=True), repeat=REPEAT)
    view_s = median_seconds(
        lambda: schema_text(read_catalog(url), load_annotations(project.annotations)), repeat=REPEAT
    )
    dump_s = median_seconds(lambda: dump_schema(url), repeat=REPEAT)
    bare_s = median_seconds(
        lambda: subprocess.run([pg_dump, "--schema-only", "--dbname", url], capture_output=True, check=True),
        repeat=REPEAT,
    )
    return findings, ours_s, peer_s, view_s, dump_s, bare_s


def run() -> list[dict]:
    server = testdb.server_url(Project.load(REPO))
    squawk = shutil.which("squawk") or "squawk"
    pg_dump = pg_server.find_binaries().tool("pg_dump")
    rows: list[dict] = []
    curve: dict[str, list[tuple[float, float]]] = {k: [] for k in ("check", "squawk", "view", "dump", "pg_dump")}
    largest = max(sizes("tables"))
    for size in sizes("tables"):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "pyproject.toml").write_text("[tool.dbtui]\n")
            project = Project.load(root)
            write_migrations(project.migrations, size)
            url = testdb.create_database(migrations_dir=project.migrations, url=server)
            try:
                findings, ours_s, peer_s, view_s, dump_s, bare_s = _measure(project, url, squawk, pg_dump)
            finally:
                testdb.drop_database(url)
        for key, value in (
            ("check", ours_s),
            ("squawk", peer_s),
            ("view", view_s),
            ("dump", dump_s),
            ("pg_dump", bare_s),
        ):
            curve[key].append((size, value))
        errors = sum(f.severity == "error" for f in findings)
        goal_here = size == largest and full_sizes()
        rows += [
            row(
                f"check {size:,} tables ({errors} errors found) vs squawk, files only",
                fmt_seconds(ours_s),
                fmt_seconds(peer_s),
                ours_s / peer_s,
                f"≤ {GOAL_SQUAWK}x" if goal_here else "(reported)",
                ours_s <= GOAL_SQUAWK * peer_s or not goal_here,
                summary=size == largest,
            ),
            row(
                f"schema view, {size:,} tables (catalog + text) vs pg_dump -s",
                fmt_seconds(view_s),
                fmt_seconds(bare_s),
                view_s / bare_s,
                "(reported)",
                True,
            ),
            row(
                f"codegen's schema dump, {size:,} tables vs pg_dump -s",
                fmt_seconds(dump_s),
                fmt_seconds(bare_s),
                dump_s / bare_s,
                "(reported)",
                True,
            ),
        ]
    rows += [
        growth_rows("dbtui check", "tables", curve["check"], curve["squawk"]),
        growth_rows("schema view", "tables", curve["view"], curve["pg_dump"]),
        growth_rows("codegen's schema dump", "tables", curve["dump"], curve["pg_dump"]),
    ]
    chart("check", "dbtui check vs squawk", "tables", "s", {"dbtui check": curve["check"], "squawk": curve["squawk"]})
    chart(
        "schema",
        "Schema view and schema dump vs pg_dump -s",
        "tables",
        "s",
        {"schema view": curve["view"], "schema dump": curve["dump"], "pg_dump -s": curve["pg_dump"]},
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
