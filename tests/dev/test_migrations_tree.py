"""The migration tree from files alone: order, branches, merges, bad input, new migrations. No database."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from migration_fixtures import write_migrations
from pglast import parser

from database.dev.migration_tree import draw_graph, load_tree, new_migration
from database.errors import ConfigError


def test_tree_with_a_branch_and_a_merge(folder: Path) -> None:
    tree = load_tree(folder)
    assert tree.ids == ["0001_a", "0002_b", "0003_c", "0004_d", "0005_e"]
    assert tree.roots == ["0001_a"] and tree.heads == ["0005_e"]
    assert tree.branch_points == ["0001_a"] and tree.merge_points == ["0004_d"]
    assert tree["0001_a"].children == ("0002_b", "0003_c")
    assert tree["0004_d"].depends == ("0002_b", "0003_c")
    assert tree.ancestors("0004_d") == {"0001_a", "0002_b", "0003_c"}
    assert tree.descendants("0003_c") == {"0004_d", "0005_e"}
    assert tree["0003_c"].rollback_sql == "DROP TABLE c;\n"


def test_order_is_topological_not_alphabetical(tmp_path: Path) -> None:
    tree = load_tree(
        write_migrations(tmp_path, {"0001_z": ("0002_y", "SELECT 1;", None), "0002_y": ("", "SELECT 1;", None)})
    )
    assert tree.ids == ["0002_y", "0001_z"]


def test_graph_shows_the_branch_and_the_merge(folder: Path) -> None:
    assert draw_graph(load_tree(folder)) == [
        ("0001_a", "●"),
        (None, "├─╮"),
        ("0002_b", "● │"),
        ("0003_c", "│ ●"),
        (None, "├─╯"),
        ("0004_d", "●"),
        ("0005_e", "●"),
    ]


def test_edits_on_disk_are_seen_by_the_next_load(folder: Path) -> None:
    assert load_tree(folder).heads == ["0005_e"]
    (folder / "0006_f.sql").write_text("-- depends: 0003_c\nSELECT 1;\n")
    assert load_tree(folder).heads == ["0005_e", "0006_f"]


def test_cycle_names_the_files_in_order(folder: Path) -> None:
    (folder / "0001_a.sql").write_text("-- depends: 0004_d\nSELECT 1;\n")
    with pytest.raises(ConfigError) as raised:
        load_tree(folder)
    message = str(raised.value)
    assert "0001_a.sql:1: dependency cycle" in message
    assert "0001_a.sql -> 0004_d.sql -> 0002_b.sql -> 0001_a.sql" in message


def test_missing_dependency_points_at_the_depends_line_and_suggests(folder: Path) -> None:
    (folder / "0006_f.sql").write_text("-- a comment first\n-- depends: 0005_ee\nSELECT 1;\n")
    with pytest.raises(ConfigError, match=r"0006_f.sql:2: depends on 0005_ee, .*did you mean 0005_e\?"):
        load_tree(folder)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("0006_f.sql", b"SELECT 1;\nSELECT '\xff';\n", r"0006_f.sql:2: not UTF-8 text"),
        ("0006_f.py", b"steps = []\n", r"0006_f.py: dbtui reads SQL migrations only"),
        ("0009_orphan.rollback.sql", b"DROP TABLE x;\n", r"rollback file without its migration 0009_orphan.sql"),
        (
            "0006_f.sql",
            b"-- transactional: maybe\nSELECT 1;\n",
            r"0006_f.sql:1: -- transactional: must be true or false",
        ),
    ],
)
def test_bad_files_are_one_clear_error(folder: Path, name: str, content: bytes, expected: str) -> None:
    (folder / name).write_bytes(content)
    with pytest.raises(ConfigError, match=expected):
        load_tree(folder)


def test_unreadable_file_is_reported(folder: Path) -> None:
    (folder / "0006_f.sql").symlink_to(folder / "gone.sql")
    with pytest.raises(ConfigError, match=r"0006_f.sql: cannot read: No such file or directory"):
        load_tree(folder)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="migrations folder not found"):
        load_tree(tmp_path / "nope")


def test_resolve_ids(folder: Path) -> None:
    (folder / "0005_other.sql").write_text("-- depends: 0004_d\nSELECT 1;\n")
    tree = load_tree(folder)
    assert tree.resolve("0003") == "0003_c"
    assert tree.resolve("migrations/0003_c.sql") == "0003_c"
    with pytest.raises(ConfigError, match="'0005' is ambiguous: it matches 0005_e, 0005_other"):
        tree.resolve("0005")
    with pytest.raises(ConfigError, match=r"no migration '0005_othr' .*did you mean 0005_other"):
        tree.resolve("0005_othr")


def test_new_migration_depends_on_every_head(folder: Path) -> None:
    (folder / "0006_f.sql").write_text("-- depends: 0003_c\nSELECT 1;\n")
    created = new_migration(folder, "add_things")
    assert created.path == folder / "0007_add_things.sql"
    assert created.rollback_path.read_text().startswith("-- Undo 0007_add_things")
    assert created.depends == ("0005_e", "0006_f")
    tree = load_tree(folder)
    assert tree.heads == ["0007_add_things"] and tree["0007_add_things"].depends == ("0005_e", "0006_f")
    assert parser.parse_sql(created.path.read_text()) == ()  # the template is all comments: applying it is a no-op


def test_new_migration_in_an_empty_folder(tmp_path: Path) -> None:
    created = new_migration(tmp_path, "init")
    assert created.path.name == "0001_init.sql" and created.depends == ()
    assert "depends" not in created.path.read_text().splitlines()[0]


@pytest.mark.parametrize("name", ["Add Things", "../evil", "add.things", "0007_x", "", "x" * 61, "add-things"])
def test_new_migration_refuses_bad_names(folder: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="bad migration name"):
        new_migration(folder, name)
    assert len(list(folder.iterdir())) == 10


def test_status_report_looks_migrations_up_by_id(folder: Path) -> None:
    """The TUI and the CLI look up every row by id: an unknown id is a KeyError (not a StopIteration escaping into
    a generator), and a migration applied whose file is gone is found too."""
    from datetime import datetime

    from database.dev.migration_status import AppliedRecord, join_status

    gone = AppliedRecord("0000_gone", datetime(2020, 1, 1, tzinfo=UTC), None)
    report = join_status(load_tree(folder), {"0000_gone": gone})
    assert report["0003_c"].id == "0003_c" and not report["0003_c"].applied
    assert report["0000_gone"].missing and report["0000_gone"].applied
    with pytest.raises(KeyError):
        report["0009_nope"]


def test_the_migrations_digest_ignores_rollback_files(folder: Path) -> None:
    """A template is the migrated database, which no rollback file shapes: editing one must not rebuild it (and the
    digest, asked on every create_database(), need not stat them)."""
    from database.dev.fingerprint import migrations_digest

    before = migrations_digest(folder)
    rollback = next(folder.glob("*.rollback.sql"))
    rollback.write_text(rollback.read_text() + "-- edited\n")
    assert migrations_digest(folder) == before
    forward = folder / rollback.name.replace(".rollback.sql", ".sql")
    forward.write_text(forward.read_text() + "-- edited\n")
    assert migrations_digest(folder) != before


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache keeps files however recently they were written (a test writes them just before)."""
    from database.dev import cache_file

    monkeypatch.setattr(cache_file, "SETTLED_NS", 0)


def test_cached_tree_sees_every_edit(folder: Path, tmp_path: Path, no_racy_window: None) -> None:
    """With a cache, each load is what a load without one reads: after an edit that keeps the size and the mtime
    (the ctime still moves), a new file, a removed file, a rollback file made unreadable."""
    import os
    import time

    cache = tmp_path / "cache"
    assert load_tree(folder, cache_dir=cache) == load_tree(folder)
    assert "0005_e.sql" in (cache / "migration_tree.json").read_text(encoding="utf-8")
    time.sleep(0.05)  # past the file system's clock tick (a few ms), so that the rewrite's ctime differs
    target = folder / "0005_e.sql"
    before = target.stat()
    text = target.read_text()
    edited = text.replace("TABLE e", "TABLE f")
    assert edited != text and len(edited) == len(text)
    target.write_text(edited)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime: only the ctime moved
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert load_tree(folder, cache_dir=cache) == load_tree(folder)  # the checksum of the edited text
    (folder / "0006_f.sql").write_text("-- depends: 0003_c\nSELECT 1;\n")
    (folder / "0005_e.sql").unlink()
    (folder / "0005_e.rollback.sql").unlink(missing_ok=True)
    assert load_tree(folder, cache_dir=cache) == load_tree(folder)
    assert load_tree(folder, cache_dir=cache).heads == ["0004_d", "0006_f"]
    (folder / "0004_d.rollback.sql").write_bytes(b"DROP TABLE d; -- \xff\n")
    with pytest.raises(ConfigError, match=r"0004_d.rollback.sql:1: not UTF-8 text"):
        load_tree(folder, cache_dir=cache)


def test_cache_skips_files_written_just_now_and_ignores_garbage(folder: Path, tmp_path: Path) -> None:
    """A file changed within the racy window (two seconds) is read every time: a second write in the same clock
    tick, of the same size, would not change its stat. A cache file that is not ours is ignored."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "migration_tree.json").write_text('{"format": 1, "files": {"0001_a.sql": [[1, 2, 3, 4], 5]}}')
    assert load_tree(folder, cache_dir=cache) == load_tree(folder)
    assert "0005_e.sql" not in (cache / "migration_tree.json").read_text(encoding="utf-8")
    (cache / "migration_tree.json").write_text("not json", encoding="utf-8")
    assert load_tree(folder, cache_dir=cache) == load_tree(folder)


def test_cache_of_another_folder_is_not_used(folder: Path, tmp_path: Path, no_racy_window: None) -> None:
    """Two folders with the same file names, one cache folder: each load reads its own files."""
    import shutil

    cache = tmp_path / "cache"
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    (other / "0005_e.sql").write_text("-- depends: 0004_d\nSELECT 5;\n")
    assert load_tree(folder, cache_dir=cache) == load_tree(folder)
    assert load_tree(other, cache_dir=cache) == load_tree(other)
    assert load_tree(folder, cache_dir=cache)["0005_e"].checksum != load_tree(other)["0005_e"].checksum
