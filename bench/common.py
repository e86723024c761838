"""What every benchmark shares: timing with medians, the result row, and generated migration trees."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
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


def row(
    work: str, ours: str, peer: str, ratio: float | None, goal: str, met: bool, *, summary: bool = False
) -> dict[str, Any]:
    """One line of the benchmark table: the ratio is ours/peer in the unit the goal speaks of; ``summary`` rows
    also go to the README's performance table."""
    return {"work": work, "ours": ours, "peer": peer, "ratio": ratio, "goal": goal, "met": met, "summary": summary}


def generate_migration_tree(directory: Path, count: int) -> Path:
    """``count`` small yoyo migrations in a chain, each a convention-following table + index + trigger."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "0000_base.sql").write_text(
        'CREATE TABLE organizations (id TEXT COLLATE "C" PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL DEFAULT now());\n'
        "CREATE FUNCTION updated_at() RETURNS TRIGGER LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = now(); RETURN NEW; END; $$;\n"
    )
    previous = "0000_base"
    for i in range(1, count + 1):
        name = f"{i:04d}_table_{i}"
        (directory / f"{name}.sql").write_text(
            f"-- depends: {previous}\n"
            f"CREATE TABLE t{i} (\n"
            f'    id TEXT COLLATE "C" PRIMARY KEY,\n'
            f"    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
            f"    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
            f'    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,\n'
            f"    n BIGINT\n);\n"
            f"CREATE INDEX ON t{i}(organization_id);\n"
            f"CREATE TRIGGER updated_at BEFORE UPDATE ON t{i} FOR EACH ROW EXECUTE PROCEDURE updated_at();\n"
        )
        (directory / f"{name}.rollback.sql").write_text(f"DROP TABLE t{i};\n")
        previous = name
    return directory


# --- sizes, growth and charts: every curve is measured at growing sizes, each point against its peer -------------

SIZES = {  # BENCH_SIZES=small (or ``python -m bench --sizes small``) for a quick run of the same code
    "full": {"migrations": (100, 500, 2000), "tables": (100, 300, 1000), "queries": (50, 150, 500)},
    "small": {"migrations": (50, 100, 200), "tables": (50, 100, 200), "queries": (20, 50, 100)},
}
CHART_DIR = Path(__file__).resolve().parent.parent / "docs" / "bench"
CHARTS: list[tuple[str, str]] = []  # (file name, caption) written during this run, embedded by __main__


def sizes(kind: str) -> tuple[int, ...]:
    """The sizes of ``kind`` ("migrations", "tables", "queries") for this run's mode."""
    return SIZES[os.environ.get("BENCH_SIZES", "full")][kind]


def full_sizes() -> bool:
    """True on a full run: the goals stated at a size (2,000 migrations, 1,000 tables, 500 queries) apply there."""
    return os.environ.get("BENCH_SIZES", "full") == "full"


def loglog_slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of log(y) against log(x): 1 is linear, 2 quadratic, below 1 a fixed cost dominating."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def marginal_growth(points: Sequence[tuple[float, float]]) -> float:
    """Cost per added item over the last step divided by that over the first step: about 1 (or less) when the cost
    is linear plus a fixed part, well above 1 when each item costs more the more there are. The log-log slope
    alone cannot tell: a + b·n² has a slope under 2 (and can show under 1.15) while a fixed cost dominates."""
    (x0, y0), (x1, y1) = points[0], points[1]
    (xa, ya), (xb, yb) = points[-2], points[-1]
    first = (y1 - y0) / (x1 - x0)
    last = (yb - ya) / (xb - xa)
    if first > 0:
        return last / first
    overall = (yb - y0) / (xb - x0)  # the first step drowned in noise: compare with the whole range instead
    return 0.0 if last <= 0 else last / overall if overall > 0 else math.inf


# Above both this log-log slope and this marginal growth, a curve is worse than linear. Both, because on a loaded
# machine either alone misfires on a linear tool (squawk measured slope 1.40 on 50 → 200 tables in one run), while a
# quadratic cost over 100 → 2,000 shows a marginal growth near 4 and a slope well above 1.
LINEAR_SLOPE = 1.15
LINEAR_MARGIN = 1.6


def growth(points: Sequence[tuple[float, float]]) -> tuple[str, bool]:
    """The growth measured, in words with its numbers, and whether it is linear or better."""
    slope = loglog_slope(points)
    margin = marginal_growth(points)
    ok = slope <= LINEAR_SLOPE or margin <= LINEAR_MARGIN
    word = "worse than linear" if not ok else "sublinear" if slope < 0.85 else "linear"
    return f"{word} (slope {slope:.2f}, last/first step per item {margin:.2f})", ok


def growth_rows(
    work: str, kind: str, ours: Sequence[tuple[float, float]], peer: Sequence[tuple[float, float]] | None = None
) -> dict[str, Any]:
    """One row stating how ``ours`` grew over the sizes (and the peer's growth, for comparison)."""
    text, ok = growth(ours)
    sizes_text = " → ".join(f"{int(x):,}" for x, _ in ours)
    return row(
        f"growth: {work}, {sizes_text} {kind}",
        text,
        growth(peer)[0] if peer else "-",
        None,
        "≤ linear",
        ok,
        summary=True,
    )


def measure_process(command: Sequence[str], **kwargs: Any) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of one child process run to completion.

    Started from a small launcher process, not from the bench: Linux carries a process's peak RSS across fork and
    exec, so a child of this ~80 MB process would report at least 80 MB whatever it used."""
    return _launcher().submit(_measured_run, list(command), kwargs).result()


def run_marked(command: Sequence[str], **kwargs: Any) -> tuple[dict[str, float], int]:
    """Seconds from starting ``command`` to each line it prints, and its peak RSS (bytes), from the launcher."""
    return _launcher().submit(_marked_run, list(command), kwargs).result()


_pool: Any = None


def _launcher() -> Any:
    global _pool
    if _pool is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


def _measured_run(command: list[str], kwargs: dict[str, Any]) -> tuple[float, int]:
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    stderr = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({child.returncode}): {stderr.decode()[-500:]}")
    return elapsed, usage.ru_maxrss * 1024


def _marked_run(command: list[str], kwargs: dict[str, Any]) -> tuple[dict[str, float], int]:
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, **kwargs)
    marks = {}
    assert child.stdout is not None
    for line in child.stdout:
        marks[line.strip()] = time.perf_counter() - start
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark child failed with exit code {os.waitstatus_to_exitcode(status)}")
    return marks, usage.ru_maxrss * 1024


def peak_rss_self() -> int:
    """This process's peak RSS in bytes since its exec (VmHWM; getrusage would include its parent's at fork)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def fmt_bytes(size: float) -> str:
    """MB with one decimal."""
    return f"{size / 1e6:.1f} MB"


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def chart(name: str, title: str, x_label: str, y_unit: str, series: dict[str, Sequence[tuple[float, float]]]) -> str:
    """Write a small log-log line chart (SVG, no dependencies) to CHART_DIR/``name``.svg and register it for the
    docs; a straight line of slope 1 there is linear growth. Returns the file name."""
    width, height, left, right, top, bottom = 460, 260, 62, 150, 30, 42
    xs = sorted({x for points in series.values() for x, _ in points})
    ys = [y for points in series.values() for _, y in points if y > 0]
    lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))
    ly0, ly1 = math.floor(math.log10(min(ys)) * 4) / 4, math.ceil(math.log10(max(ys)) * 4) / 4
    if ly1 - ly0 < 0.5:
        ly0, ly1 = ly0 - 0.25, ly1 + 0.25

    def px(x: float) -> float:
        return left + (math.log10(x) - lx0) / ((lx1 - lx0) or 1) * (width - left - right)

    def py(y: float) -> float:
        return top + (ly1 - math.log10(y)) / (ly1 - ly0) * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="16" font-size="12" font-weight="bold">{_xml(title)}</text>',
    ]
    plot_bottom, plot_right = height - bottom, width - right
    out.append(f'<path d="M{left},{top} V{plot_bottom} H{plot_right}" fill="none" stroke="#444"/>')
    for x in xs:
        out.append(
            f'<line x1="{px(x):.1f}" y1="{plot_bottom}" x2="{px(x):.1f}" y2="{plot_bottom + 4}" stroke="#444"/>'
            f'<text x="{px(x):.1f}" y="{plot_bottom + 16}" text-anchor="middle">{x:,.0f}</text>'
        )
    for tick in _y_ticks(ly0, ly1):
        y = py(tick)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt_tick(tick, y_unit)}</text>'
        )
    out.append(
        f'<text x="{(left + plot_right) / 2}" y="{height - 8}" text-anchor="middle">{_xml(x_label)} (log)</text>'
    )
    for i, (label, points) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points if y > 0)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>' for x, y in points if y > 0]
        ly = top + 10 + i * 16
        out.append(
            f'<line x1="{plot_right + 10}" y1="{ly}" x2="{plot_right + 26}" y2="{ly}" stroke="{color}" '
            f'stroke-width="2"/><text x="{plot_right + 30}" y="{ly + 4}">{_xml(label)}</text>'
        )
    out.append("</svg>\n")
    CHART_DIR.mkdir(parents=True, exist_ok=True)
    (CHART_DIR / f"{name}.svg").write_text("\n".join(out), encoding="utf-8")
    CHARTS.append((f"{name}.svg", title))
    return f"{name}.svg"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _y_ticks(ly0: float, ly1: float) -> list[float]:
    """1-2-5 ticks between 10**ly0 and 10**ly1, at most about six."""
    ticks = []
    for decade in range(math.floor(ly0), math.ceil(ly1) + 1):
        for m in (1, 2, 5):
            value = m * 10**decade
            if 10**ly0 <= value <= 10**ly1:
                ticks.append(value)
    return ticks if len(ticks) <= 7 else [t for t in ticks if str(t).lstrip("0.").startswith("1")]


def _fmt_tick(value: float, unit: str) -> str:
    if unit == "s":
        return fmt_seconds(value).replace(".0 ", " ")
    if unit == "MB":
        return f"{value:g} MB"
    return f"{value:,.0f} {unit}".strip()
