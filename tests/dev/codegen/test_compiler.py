"""The compiler stage by stage: parameter forms, result shapes, nullability, bad input."""

from __future__ import annotations

import pytest

from database.dev.codegen import CodegenError
from database.dev.codegen.parse import parse_queries


def _nullable(method) -> dict[str, bool]:
    return {f.name: f.nullable for f in method.fields}


def test_parameter_forms_are_rewritten_to_numbered_parameters() -> None:
    [query] = parse_queries(
        "-- name: Q :many\n"
        "SELECT * FROM projects WHERE organization_id = @org AND name <> sqlc.arg(name) AND owner_id = sqlc.narg(owner)\n"
        "  AND id NOT IN (sqlc.slice(ids)) AND status = ANY(sqlc.slice(statuses)) AND task_count > $1 AND '@x' <> @org;\n",
        "queries.sql",
    )
    assert query.sql == (
        "SELECT * FROM projects WHERE organization_id = $2 AND name <> $3 AND owner_id = $4\n"
        "  AND id <> ALL($5) AND status = ANY($6) AND task_count > $1 AND '@x' <> $2"
    )
    assert [(p.number, p.name, p.nullable, p.is_slice) for p in query.params] == [
        (1, None, False, False),
        (2, "org", False, False),
        (3, "name", False, False),
        (4, "owner", True, False),
        (5, "ids", False, True),
        (6, "statuses", False, True),
    ]


def test_a_remembered_parse_is_moved_to_its_new_lines_and_equals_a_fresh_one() -> None:
    """Watch mode passes a memo so only edited statements are scanned again; the result must not differ."""
    text = "".join(f"-- name: Q{i} :one\nSELECT {i}\n  WHERE 1 = @x{i};\n\n" for i in range(4))
    memo: dict = {}
    assert parse_queries(text, "queries.sql", memo) == parse_queries(text, "queries.sql")
    assert len(memo) == 4
    edited = "-- a comment\n\n" + text.replace("SELECT 2", "SELECT 2,\n 22")
    remembered = parse_queries(edited, "queries.sql", memo)
    assert remembered == parse_queries(edited, "queries.sql")
    assert [q.line for q in remembered] == [3, 7, 11, 16] and remembered[3].line_of(0) == 17
    broken = edited + "-- name: Q1 :one\nSELECT 1;\n"
    with pytest.raises(CodegenError) as caught:
        parse_queries(broken, "queries.sql", memo)
    assert caught.value.line == broken.count("\n") - 1 and "first at line 7" in caught.value.message


def test_argument_names_types_and_enums(analyze) -> None:
    [method] = analyze(
        "-- name: Q :many\nSELECT id FROM projects WHERE organization_id = $1 AND status = $2 AND id IN (sqlc.slice(ids))"
        " AND owner_id = sqlc.narg(owner) AND task_count > $3 LIMIT $4;"
    )
    assert [(a.name, a.type.annotation, a.nullable) for a in method.arguments] == [
        ("organization_id", "str", False),
        ("status", "ProjectStatus", False),
        ("task_count", "int", False),
        ("limit", "int", False),
        ("ids", "list[str]", False),
        ("owner", "str", True),
    ]
    assert method.returns == "value"


def test_result_shapes(analyze) -> None:
    whole, partial, single, embed, nothing = analyze(
        "-- name: A :one\nSELECT * FROM users WHERE id = $1;\n"
        "-- name: B :many\nSELECT id, name FROM users;\n"
        "-- name: C :one\nSELECT count(*) FROM users;\n"
        "-- name: D :many\nSELECT sqlc.embed(u), m.role FROM memberships m JOIN users u ON u.id = m.user_id;\n"
        "-- name: E :exec\nDELETE FROM users WHERE id = $1;\n"
    )
    assert (whole.returns, whole.row_class) == ("table", "User")
    assert (partial.returns, partial.row_class, [f.name for f in partial.fields]) == ("row", "BRow", ["id", "name"])
    assert single.returns == "value" and single.fields[0].type.annotation == "int" and not single.fields[0].nullable
    assert [(f.name, f.type.annotation) for f in embed.fields] == [("user", "User"), ("role", "MembershipRole")]
    assert nothing.returns == "none"


@pytest.mark.parametrize(
    ("join", "users_nullable", "memberships_nullable"),
    [("JOIN", False, False), ("LEFT JOIN", True, False), ("RIGHT JOIN", False, True), ("FULL JOIN", True, True)],
)
def test_outer_joins_make_the_other_side_nullable(analyze, join, users_nullable, memberships_nullable) -> None:
    [method] = analyze(
        f"-- name: Q :many\nSELECT m.role, u.email FROM memberships m {join} users u ON u.id = m.user_id;"
    )
    assert _nullable(method) == {"role": memberships_nullable, "email": users_nullable}


def test_expression_nullability(analyze) -> None:
    [method] = analyze(
        "-- name: Q :one\n"
        "SELECT count(*) AS n, coalesce(max(due_on), '2000-01-01') AS last, max(due_on) AS maybe, budget,\n"
        "       sqlc.narg(x)::text AS echoed, sqlc.arg(y)::text AS given, task_count + 1 AS next, owner_id IS NULL AS free\n"
        "FROM projects GROUP BY budget, task_count, owner_id;"
    )
    assert _nullable(method) == {
        "n": False,
        "last": False,
        "maybe": True,
        "budget": True,
        "echoed": True,
        "given": False,
        "next": False,
        "free": False,
    }


def test_unmappable_type_falls_back_to_any_with_a_warning(analyze) -> None:
    [method] = analyze("-- name: Q :one\nSELECT ARRAY[ROW(1, 'a')] AS p, point(1, 2) AS q, ARRAY['a']::citext[] AS r;")
    # psycopg gives a point as its text, and an array it has no loader for too: citext[] is parsed into a list
    assert [f.type.annotation for f in method.fields] == ["Any", "str", "list[str]"]
    assert method.warnings == ("Q: column p: no Python type for record[]; typed as Any",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "no queries"),
        ("SELECT 1;", 1, "no queries: annotate a statement"),
        ("-- name: A :one\nSELECT 1;\n\n-- name: A :one\nSELECT 2;", 4, "duplicate query name 'A' (first at line 1)"),
        ("-- name: A :first\nSELECT 1;", 1, "unknown query kind ':first'"),
        ("-- name: :one\nSELECT 1;", 1, "expected '-- name: Name :kind'"),
        ("-- name: A :one\nSELECT 1;\n-- name: B :one\n", 3, "annotation with no statement"),
        ("-- name: A :one\nSELECT 1;\n\n-- name: B :one\n-- doc\nSELEC 1;\n", 6, 'B: syntax error at or near "SELEC"'),
        ("-- name: A :one\nSELECT 1;\n-- name: B :many\nfoo\n  bar;", 4, 'B: syntax error at or near "foo"'),
        (
            "-- name: A :one\nSELECT 1;\n\n-- name: B :many\nSELECT id\nFROM users\nWHERE nosuch = 1;",
            7,
            'B: column "nosuch" does not exist',
        ),
        (
            "-- name: A :execlastid\nUPDATE users SET name = 'x' WHERE id = $1;",
            1,
            ":execlastid query returns no columns",
        ),
        ("-- name: A :many\nSELECT sqlc.embed(p) FROM users u;", 2, "sqlc.embed(p): no table 'p'"),
        ("-- name: A :many\nSELECT 1 WHERE 1 = sqlc.splice(x);", 2, "unknown macro sqlc.splice"),
        ("-- name: A :many\nSELECT 1 WHERE 1 = sqlc.slice(x);", 2, "sqlc.slice(x) must be written as"),
        ("-- name: A :copyfrom\nINSERT INTO users (name) SELECT 'x';", 1, ":copyfrom needs"),
    ],
)
def test_bad_input_names_the_line(analyze, text, line, message) -> None:
    with pytest.raises(CodegenError) as caught:
        analyze(text)
    assert caught.value.line == line and message in caught.value.message
    assert str(caught.value).startswith(f"queries.sql:{line}: ")
    assert caught.value.exit_code == 1
