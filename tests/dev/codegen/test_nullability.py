"""Nullability as good as sqlc's, never unsafe: each result column traced to where it comes from (functions, CTEs,
subqueries in FROM, views and materialized views, tables off the search path, self-joins, set operations), and
every generated method run on rows full of NULLs to check that no field typed NOT NULL ever holds one."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from database.dev.codegen import CodegenError

SCHEMA = """
CREATE SCHEMA hidden;
CREATE TABLE hidden.notes (id bigint PRIMARY KEY, body text NOT NULL, extra text);
CREATE TABLE people (
    id bigint PRIMARY KEY, name text NOT NULL, nick text, boss_id bigint REFERENCES people, born date NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'
);
CREATE VIEW people_view AS
    SELECT p.id, p.name, p.nick, b.name AS boss_name, upper(p.name) AS shout
    FROM people p LEFT JOIN people b ON b.id = p.boss_id;
CREATE MATERIALIZED VIEW name_counts AS SELECT name, count(*) AS n FROM people GROUP BY name;
CREATE VIEW view_of_view AS SELECT id, boss_name, shout FROM people_view;
"""

QUERIES = """\
-- name: Seed :exec
INSERT INTO people (id, name, nick, boss_id, born) VALUES (1, 'Ada', NULL, NULL, '1815-12-10'), (2, 'Bo', 'b', 1, '1990-01-02');

-- name: SeedNotes :exec
INSERT INTO hidden.notes (id, body, extra) VALUES (1, 'hello', NULL);

-- name: Refresh :exec
REFRESH MATERIALIZED VIEW name_counts;

-- name: Functions :many
SELECT count(*) AS c, json_build_object('a', p.nick) AS j, date_trunc('month', p.born) AS m, lower(p.name) AS l,
       lower(p.nick) AS ln, max(p.name) AS mx, array_position(ARRAY[1], 2) AS ap, p.data->>'x' AS dx,
       concat(p.nick, '!') AS cc, greatest(p.nick, p.name) AS g
FROM people p GROUP BY p.born, p.name, p.nick, p.data;

-- name: Series :many
SELECT g, generate_series(1, 2) AS h FROM generate_series(1, 3) g;

-- name: FromCte :many
WITH x AS (SELECT id, nick, coalesce(nick, name) AS label FROM people) SELECT id, nick, label FROM x;

-- name: CteOuterJoin :many
WITH x AS (SELECT p.id, b.name AS boss FROM people p LEFT JOIN people b ON b.id = p.boss_id) SELECT id, boss FROM x;

-- name: FromSubquery :many
SELECT s.name, s.n FROM (SELECT name, count(*) AS n FROM people GROUP BY name) s;

-- name: SubqueryOuterJoin :many
SELECT s.boss, s.id FROM (SELECT p.id, b.name AS boss FROM people p LEFT JOIN people b ON b.id = p.boss_id) s;

-- name: FromView :many
SELECT * FROM people_view;

-- name: FromMatview :many
SELECT name, n FROM name_counts;

-- name: ViewOfView :many
SELECT * FROM view_of_view;

-- name: OtherSchema :many
SELECT body, extra FROM hidden.notes;

-- name: SelfJoin :many
SELECT * FROM people a LEFT JOIN people b ON b.id = a.boss_id;

-- name: UnionNull :many
SELECT name FROM people UNION ALL SELECT NULL;

-- name: UnionValue :many
SELECT name FROM people UNION SELECT 'x';

-- name: Rollup :many
SELECT name, count(*) AS n FROM people GROUP BY ROLLUP (name);

-- name: Sublinks :one
SELECT (SELECT count(*) FROM people) AS c, EXISTS (SELECT 1 FROM people) AS e, ARRAY(SELECT id FROM people) AS a;

-- name: Grouped :many
SELECT p.born, max(p.name) AS mx, sum(p.id) AS total, array_agg(p.nick) AS nicks, string_agg(p.name, ',') AS names,
       max(p.nick) AS mxn, max(p.name) FILTER (WHERE p.id > 100) AS filtered,
       max(p.name) OVER (ORDER BY p.born ROWS BETWEEN 5 FOLLOWING AND 6 FOLLOWING) AS framed
FROM people p GROUP BY p.born, p.name;

-- name: EmptyGroupingSet :many
SELECT max(id) AS m FROM people WHERE false GROUP BY ();

-- name: ScalarSubqueries :one
SELECT (SELECT count(*) FROM people) AS c, (SELECT max(id) FROM people WHERE false) AS m,
       (SELECT count(*) FROM people LIMIT 0) AS l, (SELECT (SELECT count(*) FROM people) FROM people WHERE false) AS nested,
       (SELECT coalesce(max(id), 0) FROM people WHERE false) AS cm, (SELECT count(*) FROM people HAVING false) AS h;
"""

MAY_BE_NULL = {  # result row class → the fields that may be NULL; every other field is NOT NULL
    "FunctionsRow": {"ln", "ap", "dx"},  # max(p.name) is grouped: every group has a row
    "SeriesRow": set(),
    "FromCteRow": {"nick"},
    "CteOuterJoinRow": {"boss"},
    "FromSubqueryRow": set(),
    "SubqueryOuterJoinRow": {"boss"},
    "PeopleView": {"nick", "boss_name"},
    "NameCount": set(),
    "ViewOfView": {"boss_name"},
    "OtherSchemaRow": {"extra"},
    "SelfJoinRow": {"nick", "boss_id", "id_2", "name_2", "nick_2", "boss_id_2", "born_2", "data_2"},
    "SublinksRow": set(),
    "RollupRow": {"name"},  # count(*) stays NOT NULL under ROLLUP
    "GroupedRow": {"mxn", "filtered", "framed"},  # NULL input, FILTER and a window frame can leave no value
    "ScalarSubqueriesRow": {"m", "l", "nested", "h"},  # max over no rows; LIMIT/HAVING/an outer FROM can give none
}


def test_nullability_is_traced_and_never_unsafe(compile_project) -> None:
    app = compile_project([SCHEMA], QUERIES)
    orm = app.orm
    for name, nullable in MAY_BE_NULL.items():
        fields = getattr(orm, name).__annotations__
        assert {f for f, t in fields.items() if t.endswith("| None")} == nullable, name
    signatures = {s.split("(")[0]: s.split(" -> ")[1] for s in app.result.output.signatures}
    assert signatures["union_null"] == "list[str | None]" and signatures["union_value"] == "list[str]"
    assert signatures["rollup"] == "list[RollupRow]" and orm.RollupRow.__annotations__["name"] == "str | None"
    assert signatures["empty_grouping_set"] == "list[int | None]"  # GROUP BY () makes one group even of no rows
    assert signatures["from_view"] == "list[PeopleView]" and signatures["from_matview"] == "list[NameCount]"

    _run_every_method(app, signatures, setup=("seed", "seed_notes", "refresh"))


def _run_every_method(app, signatures: dict[str, str], setup: tuple[str, ...] = ()) -> None:
    """Run the ``setup`` methods, then every other generated method on the rows they made: no field or value typed
    NOT NULL may hold a NULL."""

    async def body(q) -> None:
        for name in setup:
            await getattr(q, name)()
        for method_name, method in inspect.getmembers(q, inspect.iscoroutinefunction):
            if method_name.startswith("_") or method_name in setup:
                continue
            got = await method()
            for row in got if isinstance(got, list) else [got]:
                if not dataclasses.is_dataclass(row):  # a single value: NULL only where its type says so
                    assert row is not None or "| None" in signatures[method_name], method_name
                    continue
                for field in dataclasses.fields(row):  # the promise the types make, checked on real NULLs
                    if not str(field.type).endswith("| None"):
                        assert getattr(row, field.name) is not None, (method_name, field.name)

    app.run(body)


# A project table named like an information_schema view: unqualified, it is the project's; qualified, the system's.
SYSTEM_SCHEMA = """
CREATE TABLE columns (id bigint PRIMARY KEY, label text);
CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, nick text);
"""

SYSTEM_QUERIES = """-- name: Columns :many
SELECT table_schema, table_name, column_name, ordinal_position, is_nullable, data_type, column_default
FROM information_schema.columns WHERE table_schema = 'public';

-- name: Tables :many
SELECT * FROM information_schema.tables WHERE table_schema = 'public';

-- name: TablesAndColumns :many
SELECT t.table_name, c.column_name
FROM information_schema.tables t LEFT JOIN information_schema.columns c
  ON c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'nope'
WHERE t.table_schema = 'public';

-- name: KeyColumns :many
SELECT constraint_name, table_name, column_name, ordinal_position, position_in_unique_constraint
FROM information_schema.key_column_usage WHERE table_schema = 'public';

-- name: Classes :many
SELECT c.relname, c.relkind, n.nspname, c.reltuples, c.reloptions
FROM pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public';

-- name: PgTables :many
SELECT schemaname, tablename, tableowner, tablespace FROM pg_tables WHERE schemaname = 'public';

-- name: OwnColumns :many
SELECT id, label FROM columns;
"""

SYSTEM_MAY_BE_NULL = {
    "ColumnsRow": {"data_type", "column_default"},  # format_type(…, NULL) is not provably NOT NULL; CASE … ELSE NULL
    "TablesRow": {
        "table_type",
        "self_referencing_column_name",
        "reference_generation",
        "user_defined_type_catalog",
        "user_defined_type_schema",
        "user_defined_type_name",
        "commit_action",
    },
    "TablesAndColumnsRow": {"column_name"},  # the outer side of a LEFT JOIN
    "KeyColumnsRow": {"ordinal_position", "position_in_unique_constraint"},  # (ss.x).n: a field of a composite
    "ClassesRow": {"reloptions"},
    "PgTablesRow": {"schemaname", "tablespace"},  # pg_tables LEFT JOINs pg_namespace
    "Column": {"label"},
}


def test_information_schema_and_pg_catalog_are_traced(compile_project) -> None:
    """PostgreSQL's own views are traced to the catalog tables they read (``information_schema.columns.table_name``
    is ``pg_class.relname``: NOT NULL), only when a query reads them, and checked on real rows."""
    app = compile_project(
        [SYSTEM_SCHEMA], SYSTEM_QUERIES + "\n-- name: Seed :exec\nINSERT INTO people VALUES (1, 'a', NULL);\n"
    )
    orm = app.orm
    for name, nullable in SYSTEM_MAY_BE_NULL.items():
        fields = getattr(orm, name).__annotations__
        assert {f for f, t in fields.items() if t.endswith("| None")} == nullable, name
    assert orm.ClassesRow.__annotations__["relkind"] == "str"  # the catalogs' one-byte "char"
    signatures = {s.split("(")[0]: s.split(" -> ")[1] for s in app.result.output.signatures}
    assert signatures["own_columns"] == "list[Column]"  # the project's table, not information_schema's view
    assert not hasattr(orm, "InformationSchemaTable")  # nothing emitted for PostgreSQL's own relations
    _run_every_method(app, signatures, setup=("seed",))


def test_embedding_a_system_relation_is_refused_at_its_line(compile_project) -> None:
    queries = "-- name: Embedded :many\nSELECT sqlc.embed(t)\nFROM information_schema.tables t;\n"
    with pytest.raises(CodegenError) as caught:
        compile_project(["CREATE TABLE people (id bigint PRIMARY KEY);"], queries)
    assert "queries.sql:2" in str(caught.value) and "PostgreSQL's own relations" in str(caught.value)
