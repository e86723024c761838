"""The codegen cache: a warm run gives the same bytes with no database work; any changed input is a miss."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from database.config import Project
from database.dev import server
from database.dev.codegen import cache, generate
from database.dev.codegen.files import validate_module
from database.dev.codegen.runner import Compiler
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


@pytest.mark.pinned_server
def test_a_warm_run_describes_nothing_and_gives_identical_bytes(project_copy: Project, server_url: str) -> None:
    generate(project_copy, url=server_url)
    cold = _outputs(project_copy)
    assert cold == ((REPO / "schema.sql").read_bytes(), (REPO / "src/database/orm.py").read_bytes())
    assert len(_cache_files(project_copy)) == 1
    project_copy.schema.unlink()
    project_copy.orm.unlink()
    generate(project_copy, url=server_url)
    assert _outputs(project_copy) == cold
    analyzed, orm = _compile(project_copy, server_url)
    assert analyzed == () and orm.encode() == cold[1]
    assert generate(project_copy, url=server_url, check=True).stale == ()


def test_a_fully_cached_run_imports_no_psycopg(project_copy: Project, server_url: str) -> None:
    """Nor pglast, nor the model's dataclasses (the stored outputs are written as they are)."""
    generate(project_copy, url=server_url)
    project_copy.orm.unlink()
    script = (
        "import sys; from pathlib import Path; from database.config import Project; from database.dev.codegen import generate;"
        f"r = generate(Project.load(Path({str(project_copy.root)!r})), url={server_url!r});"
        "print(sorted(m for m in ('psycopg', 'pglast') if m in sys.modules),"
        "'database.dev.codegen.model' in sys.modules, [p.name for p in r.stale])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] False ['orm.py']"
    assert project_copy.orm.read_bytes() == (REPO / "src/database/orm.py").read_bytes()


def test_a_query_edit_describes_only_that_query(project_copy: Project, server_url: str) -> None:
    generate(project_copy, url=server_url)
    text = project_copy.queries.read_text()
    assert "ORDER BY created_at, id;" in text
    project_copy.queries.write_text(text.replace("ORDER BY created_at, id;", "ORDER BY name;", 1))
    analyzed, warm = _compile(project_copy, server_url)
    assert len(analyzed) == 1
    shutil.rmtree(cache.folder(project_copy) / "outputs")  # not the whole outputs: the analyses must answer
    assert _compile(project_copy, server_url)[0] == ()  # and the new analysis was stored
    shutil.rmtree(cache.folder(project_copy))
    analyzed, cold = _compile(project_copy, server_url)
    assert len(analyzed) == text.count("-- name:") and warm == cold


def test_closing_a_compiler_stores_the_cache_and_the_orm_parts_cover_the_module(
    project_copy: Project, server_url: str
) -> None:
    """Watch mode byte-compiles only new parts of the ORM: every character of the module must be in one."""
    with Compiler(project_copy, url=server_url) as compiler:
        output = compiler.compile()
        assert _cache_files(project_copy) == []
    assert len(_cache_files(project_copy)) == 1  # close() stored what the compile learnt (the TUI's one-off run)
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


def test_a_migration_edit_is_a_miss(project_copy: Project, server_url: str) -> None:
    generate(project_copy, url=server_url)
    before = _cache_files(project_copy)
    (project_copy.migrations / "0007_note.sql").write_text(
        "-- depends: 0006_row_level_security\nALTER TABLE organizations ADD COLUMN note TEXT;\n"
    )
    generate(project_copy, url=server_url)
    assert "note text" in project_copy.schema.read_text()
    assert "    note: str | None" in project_copy.orm.read_text()
    assert len(_cache_files(project_copy)) == 2 and _cache_files(project_copy) != before
    (project_copy.migrations / "0007_note.sql").unlink()  # back to the first migrations: their entry serves again
    assert _compile(project_copy, server_url) == ((), (REPO / "src/database/orm.py").read_text())


def test_a_corrupt_cache_file_is_ignored_and_replaced(project_copy: Project, server_url: str) -> None:
    generate(project_copy, url=server_url)
    expected = _outputs(project_copy)
    [path] = _cache_files(project_copy)
    good = path.read_text()
    data = json.loads(good)
    del next(iter(data["methods"].values()))["sql"]  # well-formed JSON of the wrong shape
    for corrupt in (good[: len(good) // 2], "", json.dumps(data), json.dumps({**json.loads(good), "format": 0})):
        path.write_text(corrupt)
        project_copy.orm.unlink()
        shutil.rmtree(cache.folder(project_copy) / "outputs")  # so the entry must answer
        generate(project_copy, url=server_url)
        assert _outputs(project_copy) == expected
        assert json.loads(path.read_text())["methods"] == json.loads(good)["methods"]


def test_stored_outputs_are_used_and_a_corrupt_one_is_ignored(project_copy: Project, server_url: str) -> None:
    """The same migrations, queries and annotations: outputs and the ORM's bytecode come from the outputs cache;
    a damaged stored output is a miss, and damaged bytecode is only compiled again by the importer."""
    generate(project_copy, url=server_url)
    expected = _outputs(project_copy)
    [stored] = (cache.folder(project_copy) / "outputs").glob("*.json")
    pyc = stored.with_suffix(".pyc")
    assert pyc.read_bytes()[16:] and stored.read_text().startswith("{")
    with Compiler(project_copy, url=server_url) as compiler:
        assert compiler.compile().cached and compiler.analyzed == ()
    good = stored.read_text()
    for damaged in (good[: len(good) // 2], json.dumps({"schema": 1, "orm": "", "signatures": [], "warnings": []})):
        stored.write_text(damaged)
        project_copy.orm.unlink()
        generate(project_copy, url=server_url)
        assert _outputs(project_copy) == expected and stored.read_text() == good
    pyc.write_bytes(b"not bytecode")
    project_copy.orm.unlink()
    generate(project_copy, url=server_url)
    assert _outputs(project_copy) == expected
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    done = subprocess.run(
        [sys.executable, "-c", "import orm; print(len(orm.AsyncQuerier.__dict__) > 3)"],
        cwd=project_copy.root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"


def test_the_key_covers_every_stage_that_shapes_the_outputs() -> None:
    """Stored outputs are emitted files: the emitter, the tracer and the annotations reader are in the key too."""
    names = {path.name for path in cache._SOURCES}
    assert {"emit.py", "trace.py", "infer.py", "parse.py", "runner.py", "catalog.py", "annotations.py"} <= names


def test_the_key_covers_migrations_server_and_url(project_copy: Project, server_url: str, monkeypatch) -> None:
    first = cache.key(project_copy, server_url)
    assert cache.key(project_copy, server_url) == first
    assert cache.key(project_copy, None) != first
    binaries = server.find_binaries()
    monkeypatch.setattr(server, "find_binaries", lambda: server.Binaries(binaries.bin_dir, "99.0", binaries.source))
    assert cache.key(project_copy, server_url) != first


def test_a_parse_error_while_the_database_is_made_leaves_no_database(project_copy: Project, server_url: str) -> None:
    """With no cache the database is made in the background while queries.sql is parsed: a parse error is
    reported at its line, and the database made meanwhile is dropped; the next good run compiles."""
    import psycopg

    from database.dev import testdb

    def ours() -> set[str]:  # this process's throwaway databases (other tests' fixtures may hold some)
        with psycopg.connect(testdb.with_database(server_url, "postgres")) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{testdb.CLONE_PREFIX}{os.getpid()}\\_%",)
            ).fetchall()
        return {r[0] for r in rows}

    before = ours()
    good = project_copy.queries.read_text()
    project_copy.queries.write_text("-- name: Broken :none\nSELECT 1;\n" + good)
    with pytest.raises(DbtuiError, match=r"queries\.sql:1: .*none"):
        generate(project_copy, url=server_url)
    assert ours() == before
    project_copy.queries.write_text(good)
    generate(project_copy, url=server_url)
    assert ours() == before
    assert project_copy.orm.read_bytes() == (REPO / "src/database/orm.py").read_bytes()


def test_a_run_with_no_cache_reads_the_dump_kept_with_the_template(compile_project, server_url: str) -> None:
    """schema.sql's text is pg_dump'd once per template build and kept with it (schema_dump.kept_dump; that the
    text is pg_dump's own, and never a build's before, is tests/dev/test_testdb_shared.py): a run whose codegen cache
    is gone takes it from there instead of running pg_dump again."""
    unique = secrets.token_hex(8)  # a template of this test's own: the dump is marked below
    compiled = compile_project(
        [f"-- {unique}\nCREATE TABLE kept_enum (value TEXT PRIMARY KEY);"],
        "-- name: Kinds :many\nSELECT value FROM kept_enum;\n",
    )
    project = compiled.project
    dumped = project.schema.read_text()
    assert "CREATE TABLE public.kept_enum" in dumped
    kept = [
        path
        for path in (server.user_home() / "template-dumps").glob("*.json")
        if json.loads(path.read_text())["schema"] == dumped
    ]
    assert len(kept) == 1
    marked = {**json.loads(kept[0].read_text()), "schema": f"-- the dump kept for {unique}\n"}
    kept[0].write_text(json.dumps(marked))
    shutil.rmtree(cache.folder(project))
    generate(project, url=server_url)
    assert project.schema.read_text() == f"-- the dump kept for {unique}\n"


def test_a_compile_runs_without_the_collectors_passes_and_gives_it_back(project_copy: Project, server_url: str) -> None:
    """The cyclic collector is off while a compile runs (its passes over the compile's objects freed nothing and took
    ~30 ms of a 50-query run, ~0.1 s at 500), and back on after it, as it was."""
    import gc

    seen: list[bool] = []
    generate(project_copy, url=server_url, before_database=lambda: seen.append(gc.isenabled()))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        shutil.rmtree(cache.folder(project_copy))
        generate(project_copy, url=server_url, before_database=lambda: seen.append(gc.isenabled()))
        assert seen == [False, False] and not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
