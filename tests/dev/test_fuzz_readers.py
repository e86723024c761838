"""Fuzz the three readers of hand-written files with damaged copies of this repo's own files.

The migration reader (``load_tree`` and the statement split ``migrate`` does before it runs anything), the query
reader (codegen's ``parse_queries``) and the annotations reader (``load_annotations``) get random truncations, byte
flips, inserted bytes, duplicated lines and other encodings (latin-1, UTF-16, a UTF-8 byte order mark). Each answer
must be a success or our one-line error naming the file (and the line, where the damage is in the content) — never
a traceback. Seeded: a failure names its case, and the same seed replays it. No database is needed.
"""

from __future__ import annotations

import codecs
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from database.dev.annotations import load_annotations
from database.dev.codegen.parse import parse_queries
from database.dev.migration_tree import load_tree
from database.dev.migrations import _prepare
from database.errors import DbtuiError

REPO = Path(__file__).resolve().parents[2]
SEED = 20261202
CASES = {"migrations": 900, "queries": 800, "annotations": 500}  # 2,200 in all


def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One kind of damage, named for the failure message."""
    kind = rng.choice(["truncate", "flip", "insert", "duplicate", "encode", "truncate+flip"])
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data) + 1)]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return kind, bytes(out)
    if kind == "insert":
        at = rng.randrange(len(data) + 1)
        junk = rng.choice(
            [
                b"\x00",
                b"\r",
                b"\xff\xfe",
                b";",
                b"'",
                b"$$",
                b"/*",
                b"--",
                b"\t:",
                b"\xe2\x80\xa8",
                codecs.BOM_UTF8,
                b"-- name: X :one\n",
                b"-- depends: nowhere\n",
                b"\n- x\n",
                b"{",
            ]
        )
        return kind, data[:at] + junk + data[at:]
    if kind == "duplicate":
        lines = data.splitlines(keepends=True)
        i = rng.randrange(len(lines))
        return kind, b"".join(lines[: i + 1] + lines[i:])
    if kind == "encode":
        encoding = rng.choice(["latin-1", "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "cp1252"])
        text = data.decode("utf-8").replace("—", "-") if encoding in ("latin-1", "cp1252") else data.decode("utf-8")
        text += rng.choice(["", "-- café ü\n", "-- ∑\n"]) if encoding not in ("latin-1", "cp1252") else "-- café\n"
        return f"{kind} {encoding}", text.encode(encoding, errors="replace")
    cut = data[: rng.randrange(len(data) + 1)] or b"x"
    out = bytearray(cut)
    out[rng.randrange(len(out))] = rng.randrange(256)
    return kind, bytes(out)


def _answer(read: Callable[[], object], path: Path, data: bytes, case: str) -> None:
    """A success, or a DbtuiError of one line that names ``path`` (and a line that exists, when it gives one)."""
    try:
        read()
    except DbtuiError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, f"{case}: not one line: {message!r}"
        assert exc.path is not None and exc.path.name == path.name, f"{case}: names no file: {message!r}"
        # YAML, like str.splitlines, also breaks lines at a lone \r, U+2028 and the like; SQL positions count \n
        lines = max(data.count(b"\n"), len(data.decode("utf-8", "replace").splitlines())) + 1
        assert exc.line is None or 1 <= exc.line <= lines, f"{case}: line {exc.line} of {lines}: {message!r}"
    except Exception as exc:  # anything else is a traceback for the user: the case is printed to replay it
        raise AssertionError(f"{case}: {type(exc).__name__}: {exc}") from exc


def test_migration_reader(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    folder = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", folder)
    files = sorted(folder.glob("*.sql"))
    originals = {f: f.read_bytes() for f in files}
    for n in range(CASES["migrations"]):
        path = rng.choice(files)
        kind, data = _mutate(originals[path], rng)
        path.write_bytes(data)

        def read(path: Path = path) -> None:
            tree = load_tree(folder)
            changed = path.name.removesuffix(".rollback.sql").removesuffix(".sql")
            direction = "rollback" if path.name.endswith(".rollback.sql") else "apply"
            _prepare(tree, (changed,), direction)  # the split and syntax check migrate does first (the rest is intact)

        _answer(read, path, data, f"seed {SEED} case {n}: {kind} of {path.name}")
        path.write_bytes(originals[path])


def test_query_reader() -> None:
    rng = random.Random(SEED + 1)
    path = REPO / "queries.sql"
    original = path.read_bytes()
    for n in range(CASES["queries"]):
        kind, data = _mutate(original, rng)
        try:
            text = data.decode("utf-8-sig")  # as codegen reads it; undecodable bytes are refused before parsing
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # still worth parsing: odd characters everywhere
        _answer(
            lambda text=text: parse_queries(text, path), path, data, f"seed {SEED + 1} case {n}: {kind} of queries.sql"
        )


def test_annotations_reader(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    original = (REPO / "schema_annotations.yaml").read_bytes()
    path = tmp_path / "schema_annotations.yaml"
    for n in range(CASES["annotations"]):
        kind, data = _mutate(original, rng)
        path.write_bytes(data)
        _answer(lambda: load_annotations(path), path, data, f"seed {SEED + 2} case {n}: {kind} of {path.name}")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_each_reader_reads_or_refuses_other_encodings_of_the_whole_file(tmp_path: Path, encoding: str) -> None:
    """The encodings alone, undamaged: a byte order mark is read through; UTF-16 is refused in one line."""
    folder = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", folder)
    target = folder / "0004_memberships.sql"
    target.write_bytes(target.read_text(encoding="utf-8").encode(encoding))
    if encoding == "utf-8-sig":
        assert load_tree(folder)["0004_memberships"].depends == ("0003_organizations_users",)
    else:
        with pytest.raises(DbtuiError, match="0004_memberships.sql:1: UTF-16 text"):
            load_tree(folder)
