"""Where a command's time goes: with ``DBTUI_TIMING=1`` each ``mark`` writes one line to stderr, the milliseconds
since the process started (interpreter start-up included, on Linux) and the thread that got there. Off, a mark
costs one test: the phases of ``dbtui codegen`` stay marked in the code, so a slow run can be explained on the
machine it is slow on (docs/codegen.md, "Where the time goes")."""

from __future__ import annotations

import os
import sys
import time

ENABLED = bool(os.environ.get("DBTUI_TIMING"))


def _started() -> float:
    """``time.monotonic()`` when this process started (its start in clock ticks since boot, /proc), else now."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            ticks = int(handle.read().rpartition(b")")[2].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")  # 10 ms resolution
        return time.monotonic() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


_START = _started() if ENABLED else 0.0
if ENABLED:
    import atexit

    atexit.register(lambda: mark("exit"))  # registered first, so run last: after every other exit handler


def mark(what: str) -> None:
    """``dbtui: timing: <ms since start> <thread>: <what>`` on stderr, when ``DBTUI_TIMING`` is set."""
    if ENABLED:
        import threading

        elapsed = (time.monotonic() - _START) * 1000
        cpu = time.process_time() * 1000
        sys.stderr.write(
            f"dbtui: timing: {elapsed:7.1f} ms (cpu {cpu:5.0f}) {threading.current_thread().name}: {what}\n"
        )
