"""Benchmark: ``dbtui check`` (catalog read + source map + rules) on generated schemas of 50, 200 and 500 tables.

Peer: squawk (squawk-cli from PyPI), the migration linter, over the same migration files in the same run. It answers
a different question (static lint of SQL text, no live catalog) but is the tool a team would otherwise run in CI on
every migration. The database is built once per size and not timed: the work measured is the check alone, exactly
what ``dbtui check --database`` runs (``conventions.check(project, url=…)``: annotations, source map, catalog read,
rules), on a fresh connection each time. The source map's parse cache (``.dbtui/cache``) is warm after the first
run, as it is for a developer re-running the check; one more row times it cold (cache deleted before each run).
Goal (issue 6): ≤ 0.3 s at 500 tables, and linear growth (time per table at 500 within 1.5× of that at 50).
"""

from __future__ import annotations

import functools
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import fmt_seconds, median_seconds, row
from database.config import Project
from database.dev import testdb
from database.dev.conventions import check

REPO = Path(__file__).resolve().parent.parent
SIZES = (50, 200, 500)
REPEAT = 7
TABLES_PER_FILE = 10
GOAL_SECONDS = 0.3
GOAL_GROWTH = 1.5

BASE = (REPO / "migrations" / "0001_functions.sql").read_text() + """
CREATE TABLE organizations (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('org') CHECK (id LIKE 'org_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    name TEXT NOT NULL
);
CREATE TRIGGER updated_at BEFORE UPDATE ON organizations FOR EACH ROW EXECUTE PROCEDURE updated_at();
"""

# Realistic defects, each one line of the table's text changed; roughly a third of tables get one.
DEFECTS = [
    ("    count BIGINT", "    count INTEGER"),
    ("    seen_at TIMESTAMPTZ", "    seen_at TIMESTAMP"),
    ("CREATE INDEX ON {t}(organization_id);\n", ""),
    ("    vendor_extid TEXT COLLATE \"C\"", "    vendor_id TEXT"),
    ("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n", ""),
]


def table_sql(name: str, rng: random.Random, previous: str | None) -> str:
    parent = f",\n    parent_id TEXT COLLATE \"C\" REFERENCES {previous}(id) ON DELETE CASCADE" if previous else ""
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


def run() -> list[dict]:
    server = testdb.server_url(Project.load(REPO))
    squawk = shutil.which("squawk")
    rows, per_table = [], {}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "pyproject.toml").write_text("[tool.dbtui]\n")
            project = Project.load(root)
            write_migrations(project.migrations, size)
            url = testdb.create_database(migrations_dir=project.migrations, url=server)
            try:
                findings = []

                def ours(project: Project = project, url: str = url, findings: list = findings) -> None:
                    findings[:] = check(project, url=url).findings

                def cold(project: Project = project) -> None:
                    shutil.rmtree(project.data_dir / "cache", ignore_errors=True)
                    ours()

                ours_s = median_seconds(ours, repeat=REPEAT, warmup=0)
                cold_s = median_seconds(cold, repeat=REPEAT, warmup=0) if size == max(SIZES) else None
                files = sorted(str(p) for p in project.migrations.glob("*.sql"))
                peer_s = median_seconds(functools.partial(subprocess.run, [squawk, *files], capture_output=True), repeat=REPEAT, warmup=0) if squawk else None
            finally:
                testdb.drop_database(url)
        per_table[size] = ours_s / size
        errors = sum(f.severity == "error" for f in findings)
        for label, seconds in ((f"check {size} tables ({errors} errors found)", ours_s),
                               ("  same, parse cache cold", cold_s)):
            if seconds is None:
                continue
            rows.append(row(
                label, fmt_seconds(seconds), f"{fmt_seconds(peer_s)} (squawk, files only)" if peer_s else "-",
                seconds / peer_s if peer_s else None,
                f"≤ {GOAL_SECONDS} s" if size == max(SIZES) else "-",
                seconds <= GOAL_SECONDS if size == max(SIZES) else True,
            ))
    growth = per_table[max(SIZES)] / per_table[min(SIZES)]
    rows.append(row(f"time per table, {max(SIZES)} vs {min(SIZES)} tables", f"{growth:.2f}×", "-", None,
                    f"≤ {GOAL_GROWTH}× (linear)", growth <= GOAL_GROWTH))
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
