"""The tooling's JSON caches: whole files or none, and a folder that cannot be written is not an error."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from database.dev.cache_file import prune, save_json


def test_concurrent_writers_leave_one_whole_file_and_no_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "x.json"
    writers = [threading.Thread(target=save_json, args=(path, {"n": n, "pad": "x" * 100_000})) for n in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert json.loads(path.read_text())["n"] in range(8)
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_a_folder_that_cannot_be_written_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    save_json(blocker / "x.json", {"n": 1})  # (root ignores permissions: a file in the way fails for everyone)
    assert blocker.read_text().startswith("a file") and list(tmp_path.iterdir()) == [blocker]


def test_prune_keeps_the_most_recently_written(tmp_path: Path) -> None:
    for age, name in enumerate(["new", "mid", "old"]):
        path = tmp_path / f"{name}.json"
        path.write_text("{}")
        os.utime(path, ns=(10**18 - age * 10**9, 10**18 - age * 10**9))
    (tmp_path / "other.pyc").write_bytes(b"")
    assert prune(tmp_path, 2) == [tmp_path / "old.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid.json", "new.json", "other.pyc"]
