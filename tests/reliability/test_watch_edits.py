"""100 random good and bad saves of queries.sql under watch mode: orm.py imports at every moment.

tests/dev/codegen/test_watch.py walks a few scripted saves; here a seeded random sequence of 100 (new, removed and
renamed queries; unknown columns and tables, syntax errors, duplicate names, bad annotations, truncated files,
invalid UTF-8, a deleted file) runs against the real watch loop, while a second thread reads orm.py as fast as it
can and compiles every version it sees. Each save is an atomic rename, as editors do, so each is one change.
"""

import importlib.util
import os
import queue
import random
import sys
import threading
import time
from pathlib import Path

import pytest

from database.config import Project
from database.dev.codegen.watch import Failed, Finished, Started, watch

pytestmark = pytest.mark.timeout(120)

EDITS = 100
OUTCOME_TIMEOUT = 30


def _save(path: Path, data: bytes) -> None:
    """Write the way editors do: a temporary file renamed over the old one."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _import(path: Path, tag: int) -> object:
    spec = importlib.util.spec_from_file_location(f"_watched_orm_{tag}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as the import system does: dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def _query(name: str, marker: int) -> str:
    return f"-- name: {name} :many\nSELECT id, name FROM projects WHERE task_count > {marker} AND name = @name;\n"


def _method(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class Edits:
    """The random sequence: each step returns (bytes to save or None to delete, whether codegen should accept it)."""

    def __init__(self, base: str, seed: int) -> None:
        self.base = base
        self.rng = random.Random(seed)
        self.extras: dict[str, int] = {}  # query name -> marker

    def good_text(self) -> str:
        return self.base + "".join("\n" + _query(name, marker) for name, marker in self.extras.items())

    def next(self, i: int) -> tuple[bytes | None, bool]:
        rng, good = self.rng, self.good_text()
        kind = rng.choice(
            [
                "add",
                "add",
                "remove",
                "rename",
                "column",
                "table",
                "syntax",
                "duplicate",
                "annotation",
                "truncate",
                "utf8",
                "delete",
            ]
        )
        if kind == "remove" and self.extras:
            del self.extras[rng.choice(sorted(self.extras))]
            return self.good_text().encode(), True
        if kind == "rename" and self.extras:
            old = rng.choice(sorted(self.extras))
            self.extras[f"Renamed{i}"] = self.extras.pop(old)
            return self.good_text().encode(), True
        if kind in ("add", "remove", "rename"):
            self.extras[f"Extra{i}"] = i
            return self.good_text().encode(), True
        bad = {
            "column": f"-- name: Bad{i} :one\nSELECT nosuch_{i} FROM users;\n",
            "table": f"-- name: Bad{i} :many\nSELECT * FROM nosuch_{i};\n",
            "syntax": f"-- name: Bad{i} :one\nSELECT * FORM users WHERE id = $1 AND (;\n",
            "duplicate": _query("OrganizationsList", i),
            "annotation": f"-- name: Bad{i} :sometimes\nSELECT 1;\n",
            "truncate": "",
            "utf8": "",
            "delete": "",
        }[kind]
        if kind == "truncate":  # a save that stops part-way through a statement
            cut = rng.randrange(len(self.base) // 2, len(good))
            while good[cut - 1].isspace() or good[cut : cut + 1].isspace():
                cut -= 1
            return (good[:cut] + "\n-- name: Tail :one\nSELECT * FROM users WHERE id = $1 AND\n").encode(), False
        if kind == "utf8":
            return good.encode() + b"\n-- \xff\xfe not UTF-8\n", False
        if kind == "delete":
            return None, False
        return (good + "\n" + bad).encode(), False


def test_one_hundred_random_saves_keep_orm_py_importable(project_copy: Project, server_url: str) -> None:
    project = project_copy
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def loop() -> None:
        for event in watch(project, url=server_url, stop_event=stop):
            events.put(event)

    unreadable: list[str] = []
    versions_seen: set[int] = set()

    def reader() -> None:
        """Every version of orm.py a concurrent importer could ever see must be whole, valid Python."""
        while not stop.is_set():
            try:
                source = project.orm.read_bytes()
            except FileNotFoundError:
                if versions_seen:  # it existed once: it must never disappear
                    unreadable.append("orm.py missing")
                continue
            versions_seen.add(hash(source))
            try:
                compile(source, "orm.py", "exec")
            except SyntaxError as exc:
                unreadable.append(f"{exc}")
            time.sleep(0.005)  # leave the watch thread the CPU (and the GIL) it needs

    def outcome(accepted: bool, expected: set[str]) -> Finished | Failed:
        """The run of this save (a stale event of an earlier save, if any, is passed over)."""
        deadline = time.monotonic() + OUTCOME_TIMEOUT
        while True:
            event = events.get(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(event, Started):
                continue
            if not accepted and isinstance(event, Failed):
                return event
            if accepted and isinstance(event, Finished) and expected <= _methods(event):
                return event
            assert time.monotonic() < deadline, f"no {'good' if accepted else 'failed'} run for this save: {event}"

    def _methods(event: Finished) -> set[str]:
        return {signature.split("(", 1)[0] for signature in event.signatures}

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        edits = Edits(project.queries.read_text(), seed=8)
        assert isinstance(outcome(True, set()), Finished)
        checker = threading.Thread(target=reader, daemon=True)
        checker.start()
        last_good = project.orm.read_text()
        counts = {True: 0, False: 0}
        for i in range(EDITS):
            data, accepted = edits.next(i)
            if data is None:
                project.queries.unlink(missing_ok=True)
            else:
                _save(project.queries, data)
            expected = {_method(name) for name in edits.extras}
            result = outcome(accepted, expected)
            counts[accepted] += 1
            if accepted:  # the new output imports and has every query of the save
                module = _import(project.orm, i)
                assert expected <= {name for name in vars(module.AsyncQuerier) if not name.startswith("_")}
                last_good = project.orm.read_text()
            else:  # the last good output, which imported, stays byte for byte
                assert result.message and project.orm.read_text() == last_good
        assert counts[True] >= 30 and counts[False] >= 30  # the sequence exercised both kinds
    finally:
        stop.set()
        worker.join(timeout=OUTCOME_TIMEOUT)
    assert not worker.is_alive()
    assert unreadable == [] and len(versions_seen) > 1
