"""sqlc's query language compiles unchanged, and the generated methods run on real rows: block-comment
annotations, quoted ``sqlc.arg``/``narg`` names, ``sqlc.embed`` of schema-qualified tables and aliases, every kind
sqlc has for PostgreSQL (batches in one round trip), unannotated statements, queries selecting no columns, and
method names that are safe Python."""

from __future__ import annotations

import ast
import typing
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from database.dev.codegen import CodegenError
from database.dev.codegen.model import MODULE_NAMES, method_name, snake
from database.dev.codegen.parse import parse_queries

SCHEMA = """
CREATE SCHEMA archive;
CREATE TYPE shelf_state AS ENUM ('in-stock', 'on loan', '2nd-hand');
CREATE TABLE writers (writer_id BIGSERIAL PRIMARY KEY, full_name text NOT NULL, bio text);
CREATE TABLE volumes (
    volume_id BIGSERIAL PRIMARY KEY,
    writer_id bigint NOT NULL REFERENCES writers,
    title text NOT NULL,
    state shelf_state NOT NULL DEFAULT 'in-stock',
    labels varchar[] NOT NULL DEFAULT '{}',
    published int NOT NULL
);
CREATE TABLE archive.volumes (volume_id bigint PRIMARY KEY, title text NOT NULL);
"""

QUERIES = """\
/* name: WriterCreate :one */
INSERT INTO writers (full_name, bio) VALUES (sqlc.arg('full_name'), sqlc.narg('bio')) RETURNING *;

-- name: WriterUpdate :exec
UPDATE writers SET full_name = coalesce(sqlc.narg('full_name'), full_name), bio = coalesce(sqlc.narg("bio"), bio)
WHERE writer_id = sqlc.arg (writer_id);

SELECT 'no annotation: skipped, with a warning';

-- name: VolumesCreate :batchone
-- Adds volumes in one round trip.
-- Returns each new row.
INSERT INTO volumes (writer_id, title, state, published) VALUES ($1, $2, $3, $4) RETURNING *;

-- name: VolumesByYear :batchmany
SELECT volume_id, title FROM volumes WHERE published = $1 ORDER BY volume_id;

-- name: VolumesRelabel :batchexec
UPDATE volumes SET labels = @labels WHERE volume_id = @volume_id;

-- name: WriterAdd :execlastid
INSERT INTO writers (full_name) VALUES ($1) RETURNING writer_id;

-- name: GetWriterIDs :many
SELECT writer_id FROM writers ORDER BY writer_id;

-- name: In :one
SELECT FROM writers WHERE writer_id = $1;

-- name: _cursor :many
SELECT FROM volumes;

-- name: VolumesIter :iter
SELECT sqlc.embed(v), sqlc.embed(w) FROM volumes v JOIN writers w ON w.writer_id = v.writer_id ORDER BY v.volume_id;

-- name: ArchiveAll :exec
INSERT INTO archive.volumes (volume_id, title) SELECT volume_id, title FROM volumes;

-- name: ArchiveWithState :many
SELECT sqlc.embed(archive.volumes), v.state FROM archive.volumes JOIN volumes v USING (volume_id) ORDER BY 1;
"""


def test_sqlc_language_compiles_and_runs(compile_project) -> None:
    app = compile_project([SCHEMA], QUERIES)
    orm = app.orm
    assert app.result.output.warnings == (
        "queries.sql:8: warning: statement has no '-- name: Name :kind' annotation; skipped (as sqlc does)",
    )
    assert orm.AsyncQuerier.volumes_create.__doc__ == "Adds volumes in one round trip.\nReturns each new row."
    signatures = {s.split("(")[0]: s for s in app.result.output.signatures}
    assert (
        signatures["volumes_create"] == "volumes_create(params: Iterable[VolumesCreateParams]) -> list[Volume | None]"
    )
    assert (
        signatures["volumes_by_year"]
        == "volumes_by_year(params: Iterable[VolumesByYearParams]) -> list[list[VolumesByYearRow]]"
    )
    assert signatures["in_"] == "in_(*, writer_id: int) -> bool"
    assert signatures["_cursor_"] == "_cursor_() -> int"
    assert signatures["writer_add"] == "writer_add(*, full_name: str) -> int | None"
    assert signatures["volumes_iter"] == "volumes_iter() -> AsyncIterator[VolumesIterRow]"
    assert signatures["get_writer_ids"] == "get_writer_ids() -> list[int]"

    async def body(q) -> None:
        ann = await q.writer_create(full_name="Ann", bio=None)
        assert (ann.full_name, ann.bio) == ("Ann", None)
        await q.writer_update(full_name=None, bio="Poet", writer_id=ann.writer_id)
        bob_id = await q.writer_add(full_name="Bob")
        assert isinstance(bob_id, int) and await q.get_writer_ids() == [ann.writer_id, bob_id]
        assert await q.in_(writer_id=bob_id) is True and await q.in_(writer_id=-1) is False
        made = await q.volumes_create(
            [
                orm.VolumesCreateParams(ann.writer_id, "Odes", orm.ShelfState.ON_LOAN, 1999),
                orm.VolumesCreateParams(bob_id, "Maps", orm.ShelfState._2ND_HAND, 2001),
                orm.VolumesCreateParams(bob_id, "Tides", orm.ShelfState.IN_STOCK, 1999),
            ]
        )
        assert [(v.title, v.state) for v in made] == [
            ("Odes", orm.ShelfState.ON_LOAN),
            ("Maps", orm.ShelfState._2ND_HAND),
            ("Tides", orm.ShelfState.IN_STOCK),
        ]
        assert await q.volumes_create([]) == []
        by_year = await q.volumes_by_year([orm.VolumesByYearParams(1999), orm.VolumesByYearParams(1800)])
        assert [[r.title for r in rows] for rows in by_year] == [["Odes", "Tides"], []]
        await q.volumes_relabel([orm.VolumesRelabelParams(["a", "b"], made[0].volume_id)])
        assert await q._cursor_() == 3
        rows = [r async for r in q.volumes_iter()]
        assert isinstance(q.volumes_iter(), AsyncIterator)
        assert [(r.volume.title, r.volume.labels, r.writer.full_name, r.writer.bio) for r in rows] == [
            ("Odes", ["a", "b"], "Ann", "Poet"),
            ("Maps", [], "Bob", None),
            ("Tides", [], "Bob", None),
        ]
        await q.archive_all()
        archived = await q.archive_with_state()
        assert [(type(r.archive_volume).__name__, r.archive_volume.title, r.state) for r in archived][0] == (
            "ArchiveVolume",
            "Odes",
            orm.ShelfState.ON_LOAN,
        )

    app.run(body)


def test_method_names_are_safe_and_sqlc_like() -> None:
    assert snake("GetVampireIDs") == "get_vampire_ids" and snake("HTTPServerURLs") == "http_server_urls"
    assert snake("ListV2Items") == "list_v2_items" and snake("organizations_list") == "organizations_list"
    assert [
        method_name(n) for n in ("In", "Class", "_conn", "_pg", "_cursor", "__init__", "Self", "__Secret", "__init_")
    ] == [
        "in_",
        "class_",
        "_conn_",
        "_pg_",
        "_cursor_",
        "__init___",
        "self_",
        "__secret___",  # neither mangled (two trailing underscores) nor one of the querier's own
        "__init___",
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("/* name: A :sometimes */\nSELECT 1;", 1, "unknown query kind ':sometimes'"),
        ("-- name: A :one\nSELECT 1 WHERE 1 = sqlc.arg(a.b);", 2, "sqlc.arg takes one name, not a.b"),
        ("-- name: A :one\nSELECT 1;\n/* name: B :one */\n", 3, "annotation with no statement"),
        ("SELECT 1;", 1, "no queries"),
    ],
)
def test_bad_annotations_name_the_queries_line(text: str, line: int, message: str) -> None:
    with pytest.raises(CodegenError) as caught:
        parse_queries(text, "queries.sql")
    assert caught.value.line == line and message in caught.value.message


def test_execlastid_without_returning_is_refused_at_its_line(analyze) -> None:
    with pytest.raises(CodegenError) as caught:
        analyze("-- name: A :one\nSELECT 1;\n\n-- name: B :execlastid\nDELETE FROM users WHERE id = $1;")
    assert caught.value.line == 4 and ":execlastid query returns no columns" in caught.value.message


def test_any_names_and_descriptions_give_a_module_that_loads(compile_project) -> None:
    """Column names, enum values and descriptions that are not Python: the module still compiles, and says them."""
    schema = (
        'CREATE TABLE "Odd Table" ("naïve" text, "2nd" int, "class" text, "a-b" text, "r" int, "cur" int, "__init__" int, "__slots__" text);\n'
        "CREATE TABLE odd_enum (value TEXT PRIMARY KEY);\n"
        "INSERT INTO odd_enum VALUES ('-a-'), ('a'), ('1-'), (''), ('_missing_'), ('mro');"
    )
    annotations = (
        'tables:\n  Odd Table:\n    description: "Ends with a \\"quote\\""\n'
        '    columns:\n      naïve: "A \\0 nul and a \\"\\"\\" triple"\n'
    )
    queries = (
        '-- name: Get :many\nSELECT * FROM "Odd Table" WHERE "cur" = @cur AND "r" = @r;\n\n'
        "-- name: Values :many\nSELECT value FROM odd_enum ORDER BY value;\n"
    )
    app = compile_project([schema], queries, annotations=annotations)
    orm = app.orm
    assert list(orm.OddTable.__annotations__) == [
        "naïve",
        "_2nd",
        "class_",
        "a_b",
        "r_",
        "cur_",
        "__init___",
        "__slots___",
    ]
    assert orm.OddTable.__doc__ == 'Ends with a "quote"'
    members = {m.value: m.name for m in orm.Odd}
    assert members == {
        "": "EMPTY",
        "1-": "_1",
        "_missing_": "MISSING",
        "mro": "MRO",
        "-a-": members["-a-"],
        "a": members["a"],
    } and {members["-a-"], members["a"]} == {"A", "A_2"}
    assert app.result.output.signatures[0] == "get(*, cur_: int, r_: int) -> list[OddTable]"

    async def body(q) -> None:
        assert await q.get(cur_=1, r_=2) == []
        assert sorted(v.value for v in await q.values()) == sorted(["-a-", "a", "1-", "", "_missing_", "mro"])

    app.run(body)


def test_generated_names_never_replace_one_another(compile_project) -> None:
    """Tables, ENUM types, result rows and SQL constants whose natural names clash with each other or with what the
    module imports (``Decimal``, ``Any``, ``AsyncQuerier``, ``UUID``) get distinct names, and every method works."""
    schema = (
        "CREATE TYPE status AS ENUM ('on', 'off');\n"
        "CREATE TABLE status_enum (value text PRIMARY KEY);\nINSERT INTO status_enum VALUES ('a'), ('b');\n"
        "CREATE TABLE user_ (id bigint PRIMARY KEY, s status NOT NULL,"
        " e text NOT NULL REFERENCES status_enum (value), ss status[]);\n"
        "CREATE TABLE users (id bigint PRIMARY KEY, d numeric NOT NULL, u uuid);\n"
        'CREATE TABLE "UserRow" (id bigint PRIMARY KEY);\n'
        "CREATE TABLE decimals (id bigint PRIMARY KEY);\nCREATE TABLE async_queriers (id bigint PRIMARY KEY);\n"
        "CREATE TABLE get_user_rows (id bigint PRIMARY KEY);\nCREATE TABLE x (id bigint PRIMARY KEY);\n"
        'CREATE TABLE "None" (id bigint PRIMARY KEY);'
    )
    queries = (
        "-- name: User :one\nSELECT id, d FROM users WHERE id = $1;\n\n"
        "-- name: GetUser :one\nSELECT u.id, u.d, o.s FROM users u, user_ o WHERE o.id = u.id;\n\n"
        "-- name: GetUserRows :many\nSELECT * FROM get_user_rows;\n\n"
        "-- name: Decimals :many\nSELECT * FROM decimals;\n\n"
        "-- name: Queriers :many\nSELECT * FROM async_queriers;\n\n"
        "-- name: UserOf :one\nSELECT * FROM user_ WHERE id = $1;\n\n"
        "-- name: Uuid :one\nSELECT u FROM users WHERE id = $1;\n\n"
        "-- name: X :batchexec\nINSERT INTO x (id) VALUES ($1);\n\n"
        "-- name: Xs :many\nSELECT * FROM x;\n"
    )
    app = compile_project([schema], queries)
    orm, bound = app.orm, _bound_names(app.project.orm.read_text())
    defined = [name for name, _ in bound]
    assert len(defined) == len(set(defined)), sorted(n for n in defined if defined.count(n) > 1)
    assert {name for name, kind in bound if kind == "import" or name.startswith("_")} <= MODULE_NAMES
    assert {"Decimal", "UUID", "Any", "Iterable", "_array", "_ARRAYS"} <= set(defined)
    assert orm.Decimal.__module__ == "decimal" and orm.UUID.__module__ == "uuid" and orm.Any is typing.Any
    assert orm.AsyncQuerier.__doc__.startswith("One method per query")
    assert (
        orm.Status.__doc__ == "The ENUM type ``status``." and orm.StatusEnum.__doc__ == "The rows of ``status_enum``."
    )
    assert orm.User.__doc__ == "A row of ``user_``." and orm.Users.__doc__ == "A row of ``users``."
    assert orm.UserRow.__doc__ == "A row of ``UserRow``." and orm.User2Row.__doc__ == "A result row of ``User``."
    assert orm.X.__doc__ == "A row of ``x``." and orm.X_2.strip() == "INSERT INTO x (id) VALUES ($1)"
    assert orm.PublicNone.__doc__ == "A row of ``None``."
    assert orm.UUID_2.strip() == "SELECT u FROM users WHERE id = $1"

    async def body(q) -> None:
        await q._conn.execute(
            "INSERT INTO users VALUES (1, 2.5, NULL); INSERT INTO user_ VALUES (1, 'on', 'b', '{off}')"
        )
        await q._conn.execute("INSERT INTO decimals VALUES (7); INSERT INTO async_queriers VALUES (8)")
        await q.x([orm.XParams(3)])
        assert await q.user(id=1) == orm.User2Row(1, Decimal("2.5"))
        assert await q.get_user() == orm.GetUser2Row(1, Decimal("2.5"), orm.Status.ON)
        assert await q.user_of(id=1) == orm.User(1, orm.Status.ON, orm.StatusEnum.B, [orm.Status.OFF])
        assert await q.decimals() == [orm.Decimals(7)] and await q.queriers() == [orm.AsyncQueriers(8)]
        assert await q.uuid(id=1) is None and await q.xs() == [orm.X(3)] and await q.get_user_rows() == []

    app.run(body)


def _bound_names(source: str) -> list[tuple[str, str]]:
    """Every name the module binds at its top level, with how: class, function, assignment or import (those under
    ``if TYPE_CHECKING:`` too)."""
    names: list[tuple[str, str]] = []
    for node in ast.parse(source).body:
        for inner in [node, *(node.body if isinstance(node, ast.If) else [])]:
            if isinstance(inner, ast.ClassDef | ast.FunctionDef):
                names.append((inner.name, type(inner).__name__))
            elif isinstance(inner, ast.Assign | ast.AnnAssign):
                targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                names += [(t.id, "assignment") for t in targets if isinstance(t, ast.Name)]
            elif isinstance(inner, ast.ImportFrom):
                names += [(a.asname or a.name, "import") for a in inner.names]
    return names
