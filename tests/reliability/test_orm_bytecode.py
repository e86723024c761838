"""orm.py rewritten twice within one second with the same size: a fresh process must run the newest text.

Python checks a timestamp .pyc by whole-second mtime and size, so without the hash-checked bytecode that codegen
writes itself the second import below runs the first text (the control case shows that it does, here).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from database.config import Project
from database.dev.codegen.files import has_checked_bytecode, write_atomic
from database.dev.codegen.runner import Compiler, Output

MTIME = 1_700_000_000  # both rewrites land in this same second


def _module(value: int) -> str:
    return f"VALUE = {value}\n"  # the same size for every one-digit value


def _import_value(folder: Path) -> int:
    """Import ``orm`` in a new interpreter that reads and writes bytecode as a user's does."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    out = subprocess.run(
        [sys.executable, "-c", "import orm; print(orm.VALUE)"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def _rewrite(write, path: Path, value: int) -> None:
    write(path, _module(value))
    os.utime(path, (MTIME, MTIME))


def _compiler_write(tmp_path: Path, *, lazy_bytecode: bool = False):
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\norm = "orm.py"\nschema = "schema.sql"\n')
    compiler = Compiler(Project.load(tmp_path), lazy_bytecode=lazy_bytecode)
    return lambda path, text: compiler.write(Output(schema="", orm=text, signatures=(), warnings=()))


def test_a_rewrite_in_the_same_second_with_the_same_size_is_imported(tmp_path: Path) -> None:
    write = _compiler_write(tmp_path)
    orm = tmp_path / "orm.py"
    for value in (1, 2, 3):
        _rewrite(write, orm, value)
        assert _import_value(tmp_path) == value


def test_watch_mode_leaves_a_hash_checked_pyc_to_the_importer(tmp_path: Path) -> None:
    """Watch mode does not byte-compile the whole ORM on every save: a hash-checked .pyc already there stays, and
    the importer, finding its hash differs from the new text's, compiles that text (and stays hash-checked)."""
    write = _compiler_write(tmp_path, lazy_bytecode=True)
    orm = tmp_path / "orm.py"
    pyc = Path(importlib.util.cache_from_source(str(orm)))
    _rewrite(write, orm, 1)  # no .pyc yet: written, hash-checked
    assert has_checked_bytecode(orm)
    for value in (2, 3, 4):
        before = pyc.read_bytes()
        _rewrite(write, orm, value)
        assert pyc.read_bytes() == before  # not compiled by the writer
        assert _import_value(tmp_path) == value
        assert has_checked_bytecode(orm)
    pyc.write_bytes(b"not bytecode")  # anything but a hash-checked .pyc is replaced before the source
    _rewrite(write, orm, 5)
    assert has_checked_bytecode(orm)
    assert _import_value(tmp_path) == 5


@pytest.mark.parametrize("bytecode", [False, True])
def test_write_atomic_bytecode_is_what_keeps_imports_fresh(tmp_path: Path, bytecode: bool) -> None:
    """The control: a plain atomic write loads the old bytecode; with ``bytecode=True`` it never does."""
    orm = tmp_path / "orm.py"
    _rewrite(lambda p, t: write_atomic(p, t, bytecode=bytecode), orm, 1)
    assert _import_value(tmp_path) == 1  # the interpreter writes its own .pyc when there is none
    _rewrite(lambda p, t: write_atomic(p, t, bytecode=bytecode), orm, 2)
    assert _import_value(tmp_path) == (2 if bytecode else 1)
