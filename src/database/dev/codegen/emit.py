"""Stage 3: write the generated module from the catalog and the analysed queries.

The output is boring on purpose: frozen dataclasses, StrEnums, one method per query that runs a fixed SQL string
as a psycopg prepared statement and builds its dataclasses by position. It imports only the standard library and
psycopg (SQLAlchemy for type checking only), and the same input always gives the same bytes.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace

from database.dev.annotations import Annotations
from database.dev.codegen.model import (
    MODULE_NAMES,
    Argument,
    Catalog,
    Column,
    Field,
    Method,
    PyType,
    Table,
    identifier,
    unique_name,
)

INDENT = "    "


@dataclass(frozen=True)
class Module:
    """The generated source and a one-line signature per method (what watch mode shows).

    ``parts``: the source cut into its top-level statements and the querier's methods (each in an empty class), each
    compilable alone, and all of them compile exactly when the whole source does: watch mode byte-compiles only the
    parts it has not seen yet."""

    source: str
    signatures: tuple[str, ...]
    parts: tuple[str, ...]


def emit(catalog: Catalog, methods: list[Method], annotations: Annotations, *, queries: str, migrations: str) -> Module:
    """Render the module; ``queries`` and ``migrations`` are project-relative paths named in its header."""
    used = {m.table.oid for m in methods if m.table} | {f.embed.oid for m in methods for f in m.fields if f.embed}
    emitted = [t for t in catalog.tables if t.schema in catalog.search_path or t.oid in used]
    enums = [t for t in emitted if t.enum_values is not None]
    tables = [t for t in emitted if t.enum_values is None]
    methods = _named(methods, MODULE_NAMES | {t.class_name for t in emitted} | {e.class_name for e in catalog.enums})
    body: list[str] = []
    for table in enums:
        body.append(_enum(table.class_name, f"The rows of ``{table.name}``.", table.enum_values or ()))
    for enum in catalog.enums:
        body.append(_enum(enum.class_name, f"The ENUM type ``{enum.name}``.", enum.values))
    for table in tables:
        body.append(
            _dataclass(
                table.class_name,
                [_plain_field(c) for c in table.columns],
                annotations.description(table.name) or f"A row of ``{table.name}``.",
                {c.name: annotations.description(table.name, c.name) for c in table.columns},
            )
        )
    for method in methods:
        if method.returns == "row" and method.row_class is not None:  # a "row" method always names its class
            fields = [(f.name, _field_type(f)) for f in method.fields]
            body.append(_dataclass(method.row_class, fields, f"A result row of ``{method.query.name}``.", {}))
        if method.query.kind in _TAKES_ROWS:
            fields = [(a.name, _annotation(a.type, a.nullable)) for a in method.arguments]
            what = "to copy in" if method.query.kind == "copyfrom" else "of the batch"
            body.append(_dataclass(method.params_class, fields, f"One row for ``{method.query.name}`` {what}.", {}))
    parsed = sorted({t.parse_array for t in _types(emitted, methods) if t.parse_array})
    if parsed:
        body.append(_array_helpers(parsed))
    for method in methods:
        body.append(f"{method.sql_constant} = {_literal(method.sql)}")
    prelude, bodies = _querier_prelude(), ["\n".join(_method(m)) for m in methods]
    top = [_header(queries, migrations) + _imports(catalog, emitted, methods)] + body
    source = "\n\n\n".join(top + ["".join([prelude, *("\n\n" + b for b in bodies)])]) + "\n"
    parts = (*top, prelude, *(f"class AsyncQuerier:\n{b}" for b in bodies))
    return Module(source, tuple(_signature(m) for m in methods), parts)


def _named(methods: list[Method], taken: frozenset[str]) -> list[Method]:
    """The methods with names for their classes (``XRow``, ``XParams``) and SQL constants that no other name of the
    module has (a table ``user_rows`` is ``UserRow`` too; a query ``Uuid``'s constant would replace ``UUID``):
    numbered where the query's own would clash."""
    names = set(taken)
    classes: list[Method] = []
    for method in methods:
        made = [
            s for s, kind in (("Row", method.returns == "row"), ("Params", method.query.kind in _TAKES_ROWS)) if kind
        ]
        own = method.params_class.removesuffix("Params")
        bases = itertools.chain([own], (f"{own}{n}" for n in itertools.count(2)))
        base = next(b for b in bases if all(b + suffix not in names for suffix in made))
        names.update(base + suffix for suffix in made)
        classes.append(method if base == own else replace(method, class_base=base))
    named: list[Method] = []
    for method in classes:  # after every class: a constant gives way to a class
        own = method.sql_constant
        constant = unique_name(itertools.chain([own], (f"{own}_{n}" for n in itertools.count(2))), names)
        named.append(method if constant == own else replace(method, constant=constant))
    return named


def _header(queries: str, migrations: str) -> str:
    return (
        f'"""Typed queries: generated by `dbtui codegen` from {queries} and the schema of {migrations}/.\n\n'
        'Do not edit: change the queries or the migrations and run `dbtui codegen` again.\n"""\n\n'
    )


def _types(tables: list[Table], methods: list[Method]) -> list[PyType]:
    """Every type the module names: the emitted tables' columns, the methods' parameters and result fields."""
    types = [c.type for t in tables for c in t.columns]
    return types + [a.type for m in methods for a in m.arguments] + [f.type for m in methods for f in m.fields]


def _imports(catalog: Catalog, tables: list[Table], methods: list[Method]) -> str:
    types = _types(tables, methods)
    needed = {line for t in types for line in t.imports}
    stdlib = {"from dataclasses import dataclass", "from typing import TYPE_CHECKING, Any, cast"}
    stdlib |= {line for line in needed if not line.startswith("from typing ")}
    if any(t.enum_values is not None for t in tables) or catalog.enums or any(t.parse_array for t in types):
        stdlib.add("from enum import StrEnum")
    if any(m.query.kind in _TAKES_ROWS for m in methods):
        stdlib.add("from collections.abc import Iterable")
    if any(m.query.kind == "iter" for m in methods):
        stdlib.add("from collections.abc import AsyncIterator")
    merged: dict[str, set[str]] = {}
    for line in stdlib:
        module, names = line[len("from ") :].split(" import ")
        merged.setdefault(module, set()).update(n.strip() for n in names.split(","))
    lines = ["from __future__ import annotations", ""]
    lines += [
        f"from {module} import {', '.join(sorted(names, key=lambda n: (not n.isupper(), n)))}"
        for module, names in sorted(merged.items())
    ]
    if any(t.parse_array for t in types):
        lines += ["", "from psycopg import AsyncConnection, AsyncRawCursor, adapters", "from psycopg.abc import Loader"]
        lines.append("from psycopg.pq import Format")
    else:
        lines += ["", "from psycopg import AsyncConnection, AsyncRawCursor"]
    if any(a.type.json for m in methods for a in m.arguments):
        lines.append("from psycopg.types.json import Jsonb")
    lines += [
        "",
        "if TYPE_CHECKING:",
        f"{INDENT}from sqlalchemy.ext.asyncio import AsyncConnection as SQLAlchemyConnection",
    ]
    return "\n".join(lines)


def _annotation(pytype: PyType, nullable: bool) -> str:
    return f"{pytype.annotation} | None" if nullable else pytype.annotation


def _plain_field(column: Column) -> tuple[str, str]:
    return identifier(column.name), _annotation(column.type, column.nullable)


def _field_type(field: Field) -> str:
    return _annotation(field.type, field.nullable)


def _docstring(text: str, indent: str) -> str:
    """A docstring for any text from the annotations file: as written when it reads well so, else its repr."""
    if text.endswith('"') or any(not (c.isprintable() or c in "\n\t") for c in text):
        return f"{indent}{text!r}"
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'{indent}"""{text}"""'


def _dataclass(name: str, fields: list[tuple[str, str]], doc: str, comments: dict[str, str | None]) -> str:
    lines = ["@dataclass(frozen=True, slots=True)", f"class {name}:", _docstring(doc, INDENT), ""]
    for field_name, annotation in fields:
        comment = comments.get(field_name)
        if comment:
            lines.append(f"{INDENT}#: {''.join(c for c in ' '.join(comment.split()) if c.isprintable())}")
        lines.append(f"{INDENT}{field_name}: {annotation}")
    if not fields:
        lines.append(f"{INDENT}pass")
    return "\n".join(lines)


def _enum(class_name: str, doc: str, values: tuple[str, ...]) -> str:
    lines = [f"class {class_name}(StrEnum):", _docstring(doc, INDENT), ""]
    used: set[str] = set()
    for value in values:
        member = _member(value, used)
        used.add(member)
        lines.append(f"{INDENT}{member} = {value!r}")
    if not values:
        lines.append(f"{INDENT}pass")
    return "\n".join(lines)


def _member(value: str, used: set[str]) -> str:
    """A StrEnum member name for any value: ``'op!en'`` → ``OP_EN``, ``'2fa'`` → ``_2FA``, ``''`` → ``EMPTY``; never
    one of Enum's reserved ``_sunder_`` names, never a name already taken (``OP_EN_2``)."""
    base = re.sub(r"\W+", "_", value).strip("_").upper()
    if not base.isidentifier():
        base = re.sub(r"[^A-Z0-9_]+", "_", base.encode("ascii", "ignore").decode().upper()).strip("_")
    base = base or "EMPTY"
    if base[0].isdigit():
        base = "_" + base
    member, suffix = base, 2
    while member in used:
        member, suffix = f"{base}_{suffix}", suffix + 1
    return member


def _literal(text: str) -> str:
    text = text.strip()
    if "\\" in text or '"""' in text or text.endswith('"'):
        return repr(text)
    return f'"""\\\n{text}\n"""'


# --- the querier ------------------------------------------------------------------------------------------------------


def _querier_prelude() -> str:
    """The querier class up to its first method."""
    return "\n".join(
        [
            "class AsyncQuerier:",
            _docstring(
                "One method per query of queries.sql, run in the caller's transaction on its connection.", INDENT
            ),
            "",
            f'{INDENT}__slots__ = ("_conn", "_pg")',
            "",
            f"{INDENT}def __init__(self, conn: SQLAlchemyConnection | AsyncConnection[Any]) -> None:",
            f"{INDENT * 2}self._conn = conn",
            f"{INDENT * 2}self._pg: AsyncConnection[Any] | None = conn if isinstance(conn, AsyncConnection) else None",
            "",
            f"{INDENT}async def _cursor(self) -> AsyncRawCursor[Any]:",
            f"{INDENT * 2}if self._pg is None:  # SQLAlchemy: the psycopg connection under it, looked up once",
            f"{INDENT * 3}assert not isinstance(self._conn, AsyncConnection)",
            f"{INDENT * 3}raw = await self._conn.get_raw_connection()",
            f'{INDENT * 3}self._pg = cast("AsyncConnection[Any]", raw.driver_connection)',
            f"{INDENT * 2}return AsyncRawCursor(self._pg)",
        ]
    )


# Kinds whose method takes an iterable of ``<Name>Params`` rows instead of keyword arguments.
_TAKES_ROWS = ("copyfrom", "batchexec", "batchone", "batchmany")
_BATCH = ("batchexec", "batchone", "batchmany")


def _returns(method: Method) -> str:
    kind = method.query.kind
    if method.returns == "none":
        return "None"
    if method.returns in ("rowcount", "exists"):
        single = "int" if method.returns == "rowcount" else "bool"
        return f"list[{single}]" if kind in _BATCH else single
    if method.returns == "cursor":
        return "AsyncRawCursor[Any]"
    item: str = method.row_class if method.returns in ("table", "row") else _field_type(method.fields[0])  # type: ignore[assignment]
    optional = item if item.endswith("| None") else f"{item} | None"
    return {
        "one": optional,
        "execlastid": optional,
        "iter": f"AsyncIterator[{item}]",
        "batchone": f"list[{optional}]",
        "batchmany": f"list[list[{item}]]",
    }.get(kind, f"list[{item}]")


def _parameters(method: Method) -> str:
    if method.query.kind == "copyfrom":
        return f"self, rows: Iterable[{method.params_class}]"
    if method.query.kind in _BATCH:
        return f"self, params: Iterable[{method.params_class}]"
    if not method.arguments:
        return "self"
    return "self, *, " + ", ".join(f"{a.name}: {_annotation(a.type, a.nullable)}" for a in method.arguments)


def _signature(method: Method) -> str:
    return f"{method.method}({_parameters(method).removeprefix('self, ').removeprefix('self')}) -> {_returns(method)}"


def _dumped(argument: Argument, value: str) -> str:
    if not argument.type.json:
        return value
    return f"None if {value} is None else Jsonb({value})" if argument.nullable else f"Jsonb({value})"


def _loaded(pytype: PyType, nullable: bool, value: str) -> str:
    if pytype.parse_array:
        call = f"_array({value}, {pytype.parse_array}{f', {pytype.enum}' if pytype.enum else ''})"
    elif pytype.enum is not None:
        call = f"{pytype.enum}({value})"
    else:
        return value
    return f"None if {value} is None else {call}" if nullable else call


def _array_helpers(oids: list[int]) -> str:
    """What turns the text psycopg gives for an array it has no loader for into a list (model.PyType.parse_array)."""
    loaders = [
        f'{INDENT}{oid}: cast("type[Loader]", adapters.get_loader({oid}, Format.TEXT))({oid}, None),' for oid in oids
    ]
    return "\n".join(
        [
            "_ARRAYS: dict[int, Loader] = {",
            *loaders,
            "}",
            "",
            "",
            "def _array(text: str, oid: int, members: type[StrEnum] | None = None) -> list[Any]:",
            _docstring("An array psycopg has no loader for arrives as its text: parse it into a list.", INDENT),
            f"{INDENT}items: list[Any] = _ARRAYS[oid].load(text.encode())",
            f"{INDENT}return items if members is None else _members(items, members)",
            "",
            "",
            "def _members(items: list[Any], members: type[StrEnum]) -> list[Any]:",
            f"{INDENT}return [x if x is None else _members(x, members) if isinstance(x, list) else members(x) for x in items]",
        ]
    )


def _build(method: Method) -> str:
    """The expression turning a fetched tuple ``r`` into the method's row."""
    if method.returns == "value":
        field = method.fields[0]
        return _loaded(field.type, field.nullable, "r[0]")
    parts: list[str] = []
    index, total = 0, sum(f.width for f in method.fields)
    for field in method.fields:
        if field.embed is None:
            parts.append(_loaded(field.type, field.nullable, f"r[{index}]"))
        else:
            inner = [_loaded(c.type, c.nullable, f"r[{index + k}]") for k, c in enumerate(field.embed.columns)]
            row = _call(field.embed.class_name, inner, index, total)
            parts.append(f"None if r[{index}] is None else {row}" if field.nullable else row)
        index += field.width
    return _call(method.row_class, parts, 0, total)  # type: ignore[arg-type]


def _call(name: str, parts: list[str], start: int, total: int) -> str:
    """``name(...)`` of the row's columns ``start`` on; ``*r`` when they are the whole row (``total`` columns)."""
    if parts == [f"r[{start + k}]" for k in range(len(parts))]:
        whole = start == 0 and len(parts) == total
        return f"{name}(*r)" if whole else f"{name}(*r[{start}:{start + len(parts)}])"
    return f"{name}({', '.join(parts)})"


def _method(method: Method) -> list[str]:
    constant = method.sql_constant
    lines = [f"{INDENT}async def {method.method}({_parameters(method)}) -> {_returns(method)}:"]
    if method.query.comments:
        lines.append(_docstring("\n".join(method.query.comments), INDENT * 2))
    body = ["cur = await self._cursor()"]
    if method.query.kind == "copyfrom":
        values = ", ".join(_dumped(a, f"row.{a.name}") for a in method.arguments)
        body += [
            "count = 0",
            f"async with cur.copy({constant}) as copy:",
            f"{INDENT}for row in rows:",
            f"{INDENT * 2}await copy.write_row(({values}{',' if len(method.arguments) == 1 else ''}))",
            f"{INDENT * 2}count += 1",
            "return count",
        ]
    elif method.query.kind in _BATCH:
        body += _batch(method, constant)
    else:
        params = _tuple([_dumped(a, a.name) for a in method.arguments])
        if method.query.kind == "iter" and method.returns != "rowcount":
            body += [f"async for r in cur.stream({constant}, {params}):", f"{INDENT}yield {_build(method)}"]
            return lines + [INDENT * 2 + line for line in body]
        body.append(f"await cur.execute({constant}, {params}, prepare=True)")
        if method.returns == "rowcount":
            body.append("return cur.rowcount")
        elif method.returns == "exists":
            body.append("return await cur.fetchone() is not None")
        elif method.returns == "cursor":
            body.append("return cur")
        elif method.returns != "none":
            build = _build(method)
            if method.query.kind in ("one", "execlastid"):
                body += ["r = await cur.fetchone()", f"return None if r is None else {build}"]
            else:
                body.append(f"return [{build} for r in await cur.fetchall()]")
    return lines + [INDENT * 2 + line for line in body]


def _tuple(items: list[str]) -> str:
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def _batch(method: Method, constant: str) -> list[str]:
    """One ``executemany`` (psycopg sends it in one pipeline: one round trip), then each row's result in order."""
    kind = method.query.kind
    lines = [f"batch = [{_tuple([_dumped(a, f'p.{a.name}') for a in method.arguments])} for p in params]"]
    if kind == "batchexec":
        return lines + ["if batch:", f"{INDENT}await cur.executemany({constant}, batch)"]
    if method.returns == "exists":
        each = "(await cur.fetchone()) is not None"
    elif method.returns == "rowcount":
        each = "cur.rowcount"
    elif kind == "batchone":
        each = f"None if (r := await cur.fetchone()) is None else {_build(method)}"
    else:
        each = f"[{_build(method)} for r in await cur.fetchall()]"
    return lines + [
        "if not batch:",
        f"{INDENT}return []",
        f"await cur.executemany({constant}, batch, returning=True)",
        "out = []",
        "while True:",
        f"{INDENT}out.append({each})",
        f"{INDENT}if not cur.nextset():",
        f"{INDENT * 2}return out",
    ]
