"""Every module of both distributions imports on its own, in a fresh interpreter (no hidden import-order needs)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import database
import dbtui


def _all_modules() -> list[str]:
    names = ["database", "dbtui"]
    for package in (database, dbtui):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return sorted(names)


def _import_error(name: str) -> str | None:
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    return f"{name}: {done.stderr.strip().splitlines()[-1]}" if done.returncode else None


def test_every_module_imports_alone() -> None:
    names = _all_modules()
    assert {"database.conn", "database.dev.codegen.emit", "dbtui.app", "dbtui.cli"} <= set(names)
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(_import_error, names) if f]
    assert failures == []
