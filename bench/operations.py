"""Benchmark: the operation rules (``dbtui check`` on pending migrations) against squawk, on the same files, in one run.

A generated project: a base migration with one table per case, then one migration per case, each a risky or a safe
way to make one change (an index, a constraint, a type change, a default, NOT NULL, a rename, a drop…), most guarded
by ``SET LOCAL lock_timeout``. The target database has the base applied; the work timed is
``check_operations(project, target)``: read what is pending, clone the base (the template is built before timing,
"the database already built"), replay every pending statement there, read the sizes from the target. Judgements are
cached by content (``.dbtui/cache/operations.json``), so re-checking unchanged migrations replays nothing: the first
row is that re-check, the second the cold check (cache deleted before each run, as in CI). Peer: squawk
2.70 (squawk-cli) on the same files, transactional ones with ``--assume-in-transaction`` (yoyo runs them in one),
timed once for the whole set (CI style) and once per file (one process per migration, pre-commit style).

Agreement: on the rules both have (same id), each statement is compared; every difference is listed with who is
right (the reasons are in DIFFERENCES below, written after checking PostgreSQL's behaviour; an unexplained difference
fails the row). Goal (issue 17): time per migration ≤ squawk's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from pglast import parser

from bench.common import fmt_seconds, median_seconds, row
from database.config import Project
from database.dev import testdb
from database.dev.migration_tree import load_tree
from database.dev.operation_rules import OPERATION_RULES, check_operations

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3  # every case this many times, each on its own table
REPEAT = 5
GUARD = "SET LOCAL lock_timeout = '5s';\n"
NON_TRANSACTIONAL = "-- transactional: false\nSET lock_timeout = '5s';\n"

# case: (header, body with {t} for its table). Each case gets a table of its own in the base.
CASES = {
    "index": (GUARD, "CREATE INDEX ON {t} (a);\n"),
    "index_concurrently": (NON_TRANSACTIONAL, "CREATE INDEX CONCURRENTLY ON {t} (a);\n"),
    "index_concurrently_in_transaction": (GUARD, "CREATE INDEX CONCURRENTLY ON {t} (a);\n"),
    "index_on_new_table": (GUARD, "CREATE TABLE {t}_new (id BIGINT, a BIGINT);\nCREATE INDEX ON {t}_new (a);\n"),
    "new_table_then_not_null": (
        GUARD,
        "CREATE TABLE {t}_new (id BIGINT, a BIGINT);\n"
        "ALTER TABLE {t}_new ADD COLUMN b TEXT NOT NULL;\n"
        "ALTER TABLE {t}_new ALTER COLUMN a SET NOT NULL;\n",
    ),
    "drop_index": (GUARD, "DROP INDEX {t}_b_idx;\n"),
    "drop_index_concurrently": (NON_TRANSACTIONAL, "DROP INDEX CONCURRENTLY {t}_b_idx;\n"),
    "check": (GUARD, "ALTER TABLE {t} ADD CONSTRAINT {t}_ck CHECK (a > 0);\n"),
    "check_not_valid": (GUARD, "ALTER TABLE {t} ADD CONSTRAINT {t}_ck CHECK (a > 0) NOT VALID;\n"),
    "check_not_valid_then_validate": (
        GUARD,
        "ALTER TABLE {t} ADD CONSTRAINT {t}_ck CHECK (a > 0) NOT VALID;\nALTER TABLE {t} VALIDATE CONSTRAINT {t}_ck;\n",
    ),
    "foreign_key": (GUARD, "ALTER TABLE {t} ADD CONSTRAINT {t}_fk FOREIGN KEY (r) REFERENCES parent (id);\n"),
    "foreign_key_not_valid": (
        GUARD,
        "ALTER TABLE {t} ADD CONSTRAINT {t}_fk FOREIGN KEY (r) REFERENCES parent (id) NOT VALID;\n",
    ),
    "type_int_to_bigint": (GUARD, "ALTER TABLE {t} ALTER COLUMN a TYPE BIGINT;\n"),
    "type_varchar_to_text": (GUARD, "ALTER TABLE {t} ALTER COLUMN v TYPE TEXT;\n"),
    "default_volatile": (GUARD, "ALTER TABLE {t} ADD COLUMN seen TIMESTAMPTZ DEFAULT clock_timestamp();\n"),
    "default_now": (GUARD, "ALTER TABLE {t} ADD COLUMN made TIMESTAMPTZ DEFAULT now();\n"),
    "default_immutable_function": (GUARD, "ALTER TABLE {t} ADD COLUMN label TEXT DEFAULT fixed_label();\n"),
    "set_not_null": (GUARD, "ALTER TABLE {t} ALTER COLUMN a SET NOT NULL;\n"),
    "set_not_null_after_validated_check": (GUARD, "ALTER TABLE {t} ALTER COLUMN b SET NOT NULL;\n"),
    "required_column": (GUARD, "ALTER TABLE {t} ADD COLUMN code TEXT NOT NULL;\n"),
    "required_column_with_default": (GUARD, "ALTER TABLE {t} ADD COLUMN code TEXT NOT NULL DEFAULT '';\n"),
    "unique": (GUARD, "ALTER TABLE {t} ADD CONSTRAINT {t}_b_key UNIQUE (b);\n"),
    "unique_using_index": (GUARD, "ALTER TABLE {t} ADD CONSTRAINT {t}_a_key UNIQUE USING INDEX {t}_a_key;\n"),
    "primary_key": (GUARD, "ALTER TABLE {t} ADD PRIMARY KEY (r);\n"),
    "rename_column": (GUARD, "ALTER TABLE {t} RENAME COLUMN a TO amount;\n"),
    "rename_table": (GUARD, "ALTER TABLE {t} RENAME TO {t}_old;\n"),
    "drop_column": (GUARD, "ALTER TABLE {t} DROP COLUMN v;\n"),
    "drop_table": (GUARD, "DROP TABLE {t};\n"),
    "no_lock_timeout": ("", "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n"),
    "lock_timeout": (GUARD, "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n"),
}

# (case, rule, who reported it) -> who is right and why. Checked against PostgreSQL 18 (and the docs' lock table).
DIFFERENCES = {
    (
        "set_not_null_after_validated_check",
        "adding-not-nullable-field",
        "squawk",
    ): "dbtui: a validated CHECK (b IS NOT NULL) from an earlier migration lets PostgreSQL 12+ skip the scan; "
    "squawk only sees CHECKs in the same file",
    (
        "new_table_then_not_null",
        "adding-required-field",
        "squawk",
    ): "dbtui: the table was created earlier in the same migration, so it is empty and nobody else sees it yet",
    (
        "new_table_then_not_null",
        "adding-not-nullable-field",
        "squawk",
    ): "dbtui: same, an empty table created in this migration",
    (
        "foreign_key",
        "constraint-missing-not-valid",
        "squawk",
    ): "both flag the statement; dbtui reports it once, as adding-foreign-key-constraint (its fix is NOT VALID)",
    (
        "unique",
        "constraint-missing-not-valid",
        "squawk",
    ): "dbtui: UNIQUE cannot be NOT VALID (PostgreSQL: only CHECK and FOREIGN KEY can), so that advice cannot be "
    "followed; the real fix is disallowed-unique-constraint's (index built CONCURRENTLY, then USING INDEX)",
    (
        "primary_key",
        "constraint-missing-not-valid",
        "squawk",
    ): "dbtui: PRIMARY KEY cannot be NOT VALID either; adding-serial-primary-key-field says what to do",
    (
        "type_varchar_to_text",
        "changing-column-type",
        "squawk",
    ): "dbtui: varchar → text is binary-coercible; measured: no rewrite (same relfilenode), only a brief lock",
    (
        "default_immutable_function",
        "adding-field-with-default",
        "squawk",
    ): "dbtui: the function is IMMUTABLE, so the default is evaluated once; measured: no rewrite. squawk cannot see "
    "the function's volatility",
}


def _base(tables: list[str]) -> str:
    text = [
        "CREATE TABLE parent (id BIGINT PRIMARY KEY);\n",
        "CREATE FUNCTION fixed_label() RETURNS TEXT LANGUAGE sql IMMUTABLE RETURN 'x';\n",
    ]
    for t in tables:
        text.append(
            f"CREATE TABLE {t} (id BIGINT, a INTEGER, b TEXT, v VARCHAR(10), r BIGINT);\n"
            f"CREATE INDEX {t}_b_idx ON {t} (b);\nCREATE UNIQUE INDEX {t}_a_key ON {t} (a);\n"
            f"ALTER TABLE {t} ADD CONSTRAINT {t}_b_nn CHECK (b IS NOT NULL);\n"
        )
    return "".join(text)


def write_project(root: Path) -> tuple[Project, Path, dict[str, str]]:
    """The project, a folder holding only its base migration (to build the target), and each migration's case."""
    (root / "pyproject.toml").write_text("[tool.dbtui]\n")
    folder = root / "migrations"
    folder.mkdir()
    plan = [(f"{name}_{n}", name) for n in range(ROUNDS) for name in CASES]
    (folder / "0001_base.sql").write_text(_base([f"t_{i}" for i in range(len(plan))]))
    cases = {}
    for i, (label, name) in enumerate(plan):
        header, body = CASES[name]
        migration_id = f"{i + 2:04d}_{label}"
        (folder / f"{migration_id}.sql").write_text(f"-- depends: 0001_base\n{header}{body.format(t=f't_{i}')}")
        cases[migration_id] = name
    base_only = root / "base"
    base_only.mkdir()
    shutil.copy(folder / "0001_base.sql", base_only)
    return Project.load(root), base_only, cases


def statement_index(text: str, line: int) -> int:
    """Which statement of ``text`` holds 1-based ``line`` (comments before a statement belong to it)."""
    ends = [s.stop for s in parser.split(text, with_parser=True, only_slices=True)]
    offset = sum(len(piece) for piece in text.splitlines(keepends=True)[: line - 1])
    return next((i for i, end in enumerate(ends) if offset < end), len(ends) - 1)


def squawk_findings(squawk: str, files: list[Path], transactional: dict[Path, bool]) -> list[dict]:
    found = []
    for in_transaction in (True, False):
        group = [str(f) for f in files if transactional[f] == in_transaction]
        if group:
            flags = ["--assume-in-transaction"] if in_transaction else []
            result = subprocess.run([squawk, "--reporter", "json", *flags, *group], capture_output=True, text=True)
            found.extend(json.loads(result.stdout or "[]"))
    return found


def run_squawk(squawk: str, files: list[Path], transactional: dict[Path, bool], *, per_file: bool) -> None:
    if per_file:
        for f in files:
            subprocess.run(
                [squawk, *(["--assume-in-transaction"] if transactional[f] else []), str(f)], capture_output=True
            )
    else:
        squawk_findings(squawk, files, transactional)


def run() -> list[dict]:
    squawk = shutil.which("squawk")
    if squawk is None:
        raise RuntimeError("squawk is not installed (pip install squawk-cli: the dev extra has it)")
    server = testdb.server_url(Project.load(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        project, base_only, cases = write_project(Path(tmp))
        target = testdb.create_database(migrations_dir=base_only, url=server)
        try:
            reports = []

            def warm() -> None:
                reports.append(check_operations(project, target, server=server))

            def cold() -> None:
                (project.data_dir / "cache" / "operations.json").unlink(missing_ok=True)
                warm()

            cold_s = median_seconds(cold, repeat=REPEAT, warmup=1)  # the warm-up builds the clone's template, untimed
            ours = median_seconds(warm, repeat=REPEAT, warmup=0)
            report = reports[-1]
        finally:
            testdb.drop_database(target)
        tree = load_tree(project.migrations)
        files = [tree[i].path for i in cases]
        transactional = {tree[i].path: tree[i].transactional for i in cases}
        peer_batch = median_seconds(lambda: run_squawk(squawk, files, transactional, per_file=False), repeat=REPEAT)
        peer_file = median_seconds(lambda: run_squawk(squawk, files, transactional, per_file=True), repeat=3)
        agreement, differences = compare(report.findings, squawk_findings(squawk, files, transactional), tree, cases)
    n = len(cases)
    shared = {r.squawk for r in OPERATION_RULES.values() if r.squawk}
    unexplained = [d for d in differences if d[3] is None]
    rows = [
        row(
            f"re-check {n} unchanged pending migrations: time per migration",
            fmt_seconds(ours / n),
            f"{fmt_seconds(peer_batch / n)} (squawk, all files in one run)",
            ours / peer_batch,
            "≤ 1.0× squawk",
            ours <= peer_batch,
            summary=True,
        ),
        row(
            "  cold (no cache: every statement replayed)",
            fmt_seconds(cold_s / n),
            f"{fmt_seconds(peer_batch / n)} (squawk, all files in one run)",
            cold_s / peer_batch,
            "≤ 1.0× squawk",
            cold_s <= peer_batch,
        ),
        row(
            "  cold, against squawk run once per file",
            fmt_seconds(cold_s / n),
            f"{fmt_seconds(peer_file / n)} (squawk per file)",
            cold_s / peer_file,
            "≤ 1.0× squawk",
            cold_s <= peer_file,
        ),
        row(
            f"agreement with squawk on the {len(shared)} shared rules, per statement",
            agreement,
            "-",
            None,
            "every difference explained",
            not unexplained,
        ),
    ]
    print("differences (case, rule, reported by: count — who is right):")
    for case, rule, who, why, count in differences:
        print(f"  {case}: {rule}, only {who} ({count}×) — {why or 'UNEXPLAINED'}")
    return rows


def compare(ours, theirs: list[dict], tree, cases: dict[str, str]) -> tuple[str, list[tuple]]:
    """Per statement and shared rule: who reports it. Returns the agreement summary and the differences."""
    shared = {r.squawk for r in OPERATION_RULES.values() if r.squawk}
    by_path = {str(tree[i].path): i for i in cases}
    texts = {i: tree[i].sql for i in cases}
    mine = {
        (Path(f.migration).stem, statement_index(texts[Path(f.migration).stem], f.line), f.rule)
        for f in ours
        if f.rule in shared and Path(f.migration).stem in cases
    }
    other = set()
    for v in theirs:
        migration_id = by_path.get(v["file"])
        if migration_id and v["rule_name"] in shared:
            other.add((migration_id, statement_index(texts[migration_id], v["line"] + 1), v["rule_name"]))
    statements = sum(len(parser.split(t, with_parser=True, only_slices=True)) for t in texts.values())
    counts: Counter = Counter()
    for migration_id, _, rule in mine ^ other:
        counts[(cases[migration_id], rule, "dbtui" if (migration_id, _, rule) in mine else "squawk")] += 1
    differences = [
        (case, rule, who, DIFFERENCES.get((case, rule, who)), count)
        for (case, rule, who), count in sorted(counts.items())
    ]
    differing = len({(m, s) for m, s, _ in mine ^ other})
    summary = (
        f"{statements - differing} of {statements} statements agree; both flag {len(mine & other)}, "
        f"only dbtui {len(mine - other)}, only squawk {len(other - mine)}"
    )
    return summary, differences


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
