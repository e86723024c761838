"""What every benchmark shares: timing with medians, the result row, and generated migration trees."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def median_seconds(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def fmt_seconds(seconds: float) -> str:
    """Human units: µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def row(work: str, ours: str, peer: str, ratio: float | None, goal: str, met: bool) -> dict[str, Any]:
    """One line of the benchmark table: the ratio is ours/peer in the unit the goal speaks of."""
    return {"work": work, "ours": ours, "peer": peer, "ratio": ratio, "goal": goal, "met": met}


def generate_migration_tree(directory: Path, count: int) -> Path:
    """``count`` small yoyo migrations in a chain, each a convention-following table + index + trigger."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "0000_base.sql").write_text(
        "CREATE TABLE organizations (id TEXT COLLATE \"C\" PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL DEFAULT now());\n"
        "CREATE FUNCTION updated_at() RETURNS TRIGGER LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = now(); RETURN NEW; END; $$;\n"
    )
    previous = "0000_base"
    for i in range(1, count + 1):
        name = f"{i:04d}_table_{i}"
        (directory / f"{name}.sql").write_text(
            f"-- depends: {previous}\n"
            f"CREATE TABLE t{i} (\n"
            f"    id TEXT COLLATE \"C\" PRIMARY KEY,\n"
            f"    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
            f"    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
            f"    organization_id TEXT COLLATE \"C\" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,\n"
            f"    n BIGINT\n);\n"
            f"CREATE INDEX ON t{i}(organization_id);\n"
            f"CREATE TRIGGER updated_at BEFORE UPDATE ON t{i} FOR EACH ROW EXECUTE PROCEDURE updated_at();\n"
        )
        (directory / f"{name}.rollback.sql").write_text(f"DROP TABLE t{i};\n")
        previous = name
    return directory
