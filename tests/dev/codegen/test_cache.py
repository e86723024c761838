"""The codegen cache: a warm run gives the same bytes with no database work; any changed input is a miss."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from database.config import Project
from database.dev import server
from database.dev.codegen import cache, generate
from database.dev.codegen.runner import Compiler, validate_module
from database.errors import DbtuiError

REPO = Path(__file__).resolve().parents[3]


def _outputs(project: Project) -> tuple[bytes, bytes]:
    return project.schema.read_bytes(), project.orm.read_bytes()


def _cache_files(project: Project) -> list[Path]:
    return sorted(cache.folder(project).glob("*.json"))


def _compile(project: Project, server_url: str) -> tuple[tuple[str, ...], str]:
    """A fresh compiler, as a new process has: which queries it had to describe, and the ORM it made."""
    with Compiler(project, url=server_url) as compiler:
        output = compiler.compile()
        compiler.save_cache()
        return compiler.analyzed, output.orm


def test_a_warm_run_describes_nothing_and_gives_identical_bytes(tmp_project: Project, server_url: str) -> None:
    generate(tmp_project, url=server_url)
    cold = _outputs(tmp_project)
    assert cold == ((REPO / "schema.sql").read_bytes(), (REPO / "src/database/orm.py").read_bytes())
    assert len(_cache_files(tmp_project)) == 1
    tmp_project.schema.unlink()
    tmp_project.orm.unlink()
    generate(tmp_project, url=server_url)
    assert _outputs(tmp_project) == cold
    analyzed, orm = _compile(tmp_project, server_url)
    assert analyzed == () and orm.encode() == cold[1]
    assert generate(tmp_project, url=server_url, check=True).stale == ()


def test_a_fully_cached_run_imports_no_psycopg(tmp_project: Project, server_url: str) -> None:
    generate(tmp_project, url=server_url)
    tmp_project.orm.unlink()
    script = (
        "import sys; from pathlib import Path; from database.config import Project; from database.dev.codegen import generate;"
        f"r = generate(Project.load(Path({str(tmp_project.root)!r})), url={server_url!r});"
        "print(sorted(m for m in ('psycopg', 'pglast') if m in sys.modules), [p.name for p in r.stale])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] ['orm.py']"
    assert tmp_project.orm.read_bytes() == (REPO / "src/database/orm.py").read_bytes()


def test_a_query_edit_describes_only_that_query(tmp_project: Project, server_url: str) -> None:
    generate(tmp_project, url=server_url)
    text = tmp_project.queries.read_text()
    assert "ORDER BY created_at, id;" in text
    tmp_project.queries.write_text(text.replace("ORDER BY created_at, id;", "ORDER BY name;", 1))
    analyzed, warm = _compile(tmp_project, server_url)
    assert len(analyzed) == 1
    assert _compile(tmp_project, server_url)[0] == ()  # and the new analysis was stored
    for path in _cache_files(tmp_project):
        path.unlink()
    analyzed, cold = _compile(tmp_project, server_url)
    assert len(analyzed) == text.count("-- name:") and warm == cold


def test_closing_a_compiler_stores_the_cache_and_the_orm_parts_cover_the_module(tmp_project: Project,
                                                                                server_url: str) -> None:
    """Watch mode byte-compiles only new parts of the ORM: every character of the module must be in one."""
    with Compiler(tmp_project, url=server_url) as compiler:
        output = compiler.compile()
        assert _cache_files(tmp_project) == []
    assert len(_cache_files(tmp_project)) == 1  # close() stored what the compile learnt (the TUI's one-off run)
    rest = output.orm
    for part in output.parts:
        body = part if part in rest else part.removeprefix("class AsyncQuerier:\n")  # a method, in an empty class
        assert body in rest
        compile(part, "orm.py", "exec")
        rest = rest.replace(body, "", 1)
    assert rest.strip() == ""


def test_a_part_that_does_not_compile_is_reported_at_its_line_in_the_module() -> None:
    parts = ("x = 1\n", "class A:\n    def f(self) -> None:\n        return (\n")
    source = "x = 1\n\n\nclass A:\n    def f(self) -> None:\n        return (\n"
    validate_module(source, "orm.py", parts[:1])
    validate_module(source, "orm.py", parts, frozenset(parts))  # parts known to compile are not compiled again
    with pytest.raises(DbtuiError) as caught:
        validate_module(source, "orm.py", parts, frozenset(parts[:1]))
    assert str(caught.value).startswith("orm.py:6: generated module does not compile")


def test_a_migration_edit_is_a_miss(tmp_project: Project, server_url: str) -> None:
    generate(tmp_project, url=server_url)
    before = _cache_files(tmp_project)
    (tmp_project.migrations / "0007_note.sql").write_text(
        "-- depends: 0006_row_level_security\nALTER TABLE organizations ADD COLUMN note TEXT;\n")
    generate(tmp_project, url=server_url)
    assert "note text" in tmp_project.schema.read_text()
    assert "    note: str | None" in tmp_project.orm.read_text()
    assert len(_cache_files(tmp_project)) == 2 and _cache_files(tmp_project) != before
    (tmp_project.migrations / "0007_note.sql").unlink()  # back to the first migrations: their entry serves again
    assert _compile(tmp_project, server_url) == ((), (REPO / "src/database/orm.py").read_text())


def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_project: Project, server_url: str) -> None:
    generate(tmp_project, url=server_url)
    expected = _outputs(tmp_project)
    [path] = _cache_files(tmp_project)
    good = path.read_text()
    data = json.loads(good)
    del next(iter(data["methods"].values()))["sql"]  # well-formed JSON of the wrong shape
    for corrupt in (good[: len(good) // 2], "", json.dumps(data), json.dumps({**json.loads(good), "format": 0})):
        path.write_text(corrupt)
        tmp_project.orm.unlink()
        generate(tmp_project, url=server_url)
        assert _outputs(tmp_project) == expected
        assert json.loads(path.read_text())["methods"] == json.loads(good)["methods"]


def test_the_key_covers_migrations_server_and_url(tmp_project: Project, server_url: str, monkeypatch) -> None:
    first = cache.key(tmp_project, server_url)
    assert cache.key(tmp_project, server_url) == first
    assert cache.key(tmp_project, None) != first
    binaries = server.find_binaries()
    monkeypatch.setattr(server, "find_binaries", lambda: server.Binaries(binaries.bin_dir, "99.0", binaries.source))
    assert cache.key(tmp_project, server_url) != first
