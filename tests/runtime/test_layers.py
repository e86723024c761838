"""The runtime is importable without tooling, and tooling without the UI (docs/architecture.md "Layers")."""

import json
import subprocess
import sys

FORBIDDEN_IN_RUNTIME = ("textual", "yoyo", "pglast", "watchfiles", "inotify_simple", "yaml", "dbtui", "database.dev")


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def _offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_runtime_imports_no_tooling_or_ui():
    modules = _modules_after("import database.xact, database.conn, database.jsonenc, database.lock, database.testdb")
    assert _offenders(modules, FORBIDDEN_IN_RUNTIME) == []


def test_generated_orm_imports_no_tooling_or_ui():
    modules = _modules_after("import database.orm")
    assert "database.orm" in modules
    assert _offenders(modules, FORBIDDEN_IN_RUNTIME) == []


def test_tooling_imports_no_ui():
    import pkgutil

    import database.dev

    names = [m.name for m in pkgutil.walk_packages(database.dev.__path__, "database.dev.")]
    modules = _modules_after("\n".join(f"import {n}" for n in names))
    assert len(names) >= 5
    assert _offenders(modules, ("textual", "dbtui")) == []
