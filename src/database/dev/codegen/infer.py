"""Stage 2: types and nullability of each query, from the real database plus the query's structure.

The throwaway database prepares and describes every statement (parameter types, result columns, and for plain
column references the table and column they come from). pglast gives the structure the server does not report:
which side of an outer join a column comes from, what a parameter is compared with or inserted into, and whether
an expression can be NULL (``count(*)`` cannot, ``COALESCE(x, 0)`` cannot, ``max(x)`` can).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.enums import SetOperation
from pglast.parser import ParseError
from psycopg.pq import DiagnosticField, ExecStatus, Format
from psycopg.pq.abc import PGconn, PGresult

from database.dev.catalog import read_catalog
from database.dev.codegen.errors import CodegenError
from database.dev.codegen.model import (
    MODULE_NAMES,
    Argument,
    Catalog,
    Column,
    EnumClass,
    Field,
    Method,
    PyType,
    Query,
    Table,
    camel,
    class_name_for,
    identifier,
    method_name,
    snake,
    unique_name,
)
from database.dev.codegen.system import SystemRelations
from database.dev.codegen.trace import (
    Scope,
    Source,
    add_sources,
    derived_columns,
    expand_star,
    expr_nullable,
    output_list,
    star_of,
    statement_scope,
    traced_views,
    walk,
)

# --- types ------------------------------------------------------------------------------------------------------------


def _t(annotation: str, *imports: str) -> PyType:
    return PyType(annotation, imports)


_DATETIME, _DATE, _DECIMAL = "from datetime import datetime", "from datetime import date", "from decimal import Decimal"
_RANGE, _MULTIRANGE = "from psycopg.types.range import Range", "from psycopg.types.multirange import Multirange"
_IP = "from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network"
_RANGES = {
    "int4": ("int",),
    "int8": ("int",),
    "num": ("Decimal", _DECIMAL),
    "date": ("date", _DATE),
    "ts": ("datetime", _DATETIME),
    "tstz": ("datetime", _DATETIME),
}

# What psycopg's loaders give for the built-in types it adapts (text format, as the generated methods fetch). A type
# it has no loader for arrives as its text: ``str`` (bit strings, money, geometric types, tsvector, macaddr, xid,
# extension types such as citext or ltree), except arrays, which stay their literal text and so are typed Any.
_SCALARS: dict[str, PyType] = {
    **{n: _t("int") for n in ("int2", "int4", "int8", "oid")},
    **{n: _t("float") for n in ("float4", "float8")},
    "numeric": _t("Decimal", _DECIMAL),
    "bool": _t("bool"),
    "char": _t("str"),  # the one-byte "char" of the catalogs (relkind)
    "timestamptz": _t("datetime", _DATETIME),
    "timestamp": _t("datetime", _DATETIME),
    "date": _t("date", _DATE),
    "time": _t("time", "from datetime import time"),
    "timetz": _t("time", "from datetime import time"),
    "interval": _t("timedelta", "from datetime import timedelta"),
    "uuid": _t("UUID", "from uuid import UUID"),
    "bytea": _t("bytes"),
    "json": PyType("Any", ("from typing import Any",), json=True),
    "jsonb": PyType("Any", ("from typing import Any",), json=True),
    "inet": _t("IPv4Address | IPv6Address | IPv4Interface | IPv6Interface", _IP),  # an interface when it has a prefix
    "cidr": _t("IPv4Network | IPv6Network", _IP),
    "record": _t("tuple[str | None, ...]"),  # psycopg gives a row value's fields as text
    **{f"{n}range": _t(f"Range[{a[0]}]", _RANGE, *a[1:]) for n, a in _RANGES.items()},
    **{f"{n}multirange": _t(f"Multirange[{a[0]}]", _MULTIRANGE, *a[1:]) for n, a in _RANGES.items()},
}
_ANY = PyType("Any", ("from typing import Any",))


class TypeMap:
    """Python types of PostgreSQL type oids, read from pg_type once per oid (domains, arrays, extensions too)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.known: dict[int, PyType | None] = {}
        self.enums: dict[int, str] = {}  # ENUM type oid → its StrEnum class (set with the catalog)
        self._all: dict[int, tuple] | None = None

    def get(self, oid: int) -> PyType | None:
        """None when there is no good mapping (the caller falls back to Any and warns)."""
        if oid not in self.known:
            row = self._rows().get(oid)
            self.known[oid] = self._map(oid, row) if row else None
        return self.known[oid]

    def _rows(self) -> dict[int, tuple]:
        """All of pg_type in one query (a few hundred rows, ~ms), instead of a round trip per type."""
        if self._all is None:
            rows = self.conn.execute(
                "SELECT oid, typname, typcategory, typelem, typbasetype, typtype,"
                " typnamespace::regnamespace::text, typarray FROM pg_type"
            ).fetchall()
            self._all = {row[0]: row[1:] for row in rows}
        return self._all

    def _map(self, oid: int, row: tuple) -> PyType | None:
        name, category, elem, base, kind, namespace, _ = row
        if kind == "d":
            return self.get(base)
        if oid in self.enums:
            return PyType(self.enums[oid], enum=self.enums[oid])
        loaded = _loads(oid)
        if category == "A" and elem:
            inner = self.get(elem)
            if inner is None:
                return None
            if loaded:
                return PyType(f"list[{inner.annotation}]", inner.imports, json=inner.json)
            parser = self._array_parser(elem)  # psycopg gives this array as its literal text
            if parser == 0 or inner.json:
                return None
            return PyType(f"list[{inner.annotation}]", inner.imports, enum=inner.enum, parse_array=parser)
        if namespace == "pg_catalog" and name in _SCALARS and loaded:
            return _SCALARS[name]
        if kind == "p":  # pseudo-types: void, anyelement, …
            return None
        if kind == "c":  # a composite value arrives as its text: '(1,x)'
            return PyType("str")
        return PyType("str") if not loaded or category == "S" else None

    def _array_parser(self, elem: int) -> int:
        """The built-in array type whose psycopg loader parses the text of an array of ``elem``: text[] for an
        element psycopg hands back as a string (ENUM, extension type, composite), else the array of the domain's
        base type (int8[] for an array of a domain over bigint); 0 when there is none."""
        row = self._rows().get(elem)
        while row is not None and row[4] == "d":
            elem, row = row[3], self._rows().get(row[3])
        if row is None:
            return 0
        if elem in self.enums or not _loads(elem) or row[4] == "c":
            return _TEXT_ARRAY
        return row[6] if row[6] and _loads(row[6]) else 0


def _loads(oid: int) -> bool:
    """Whether psycopg has a text loader for ``oid`` (else it hands the value back as its text)."""
    return psycopg.adapters.get_loader(oid, Format.TEXT) is not None


_TEXT_ARRAY = 1009  # text[]: its loader parses any array literal into strings


# --- the catalog ------------------------------------------------------------------------------------------------------


def load_catalog(conn: psycopg.Connection, types: TypeMap) -> Catalog:
    """The project's one catalog (``database.dev.catalog``: tables and views of every schema, columns by attnum)
    typed for Python; a column referencing ``x_enum(value)`` is typed as x's StrEnum."""
    schema = read_catalog(conn, None, policy_expressions=False, views=True)
    search_path = schema.search_path
    names = _class_names(
        [(e.oid, e.schema, e.name, False) for e in schema.enums]
        + [(t.oid, t.schema, t.name, True) for t in schema.tables.values()],
        search_path,
    )
    enums = tuple(EnumClass(e.oid, e.schema, e.name, names[e.oid], e.labels) for e in schema.enums)
    types.enums.update((e.oid, e.class_name) for e in enums)
    values: dict[int, tuple[str, ...]] = {}
    for table in schema.tables.values():
        if table.name.endswith("_enum") and table.kind == "table" and table.column("value"):
            query = psycopg.sql.SQL("SELECT value::text FROM {} ORDER BY 1").format(
                psycopg.sql.Identifier(table.schema, table.name)
            )
            values[table.oid] = tuple(v for (v,) in conn.execute(query))
    by_reference = {  # as a foreign key names the table it references (catalog.Constraint.references)
        t.name if t.schema == "public" else f"{t.schema}.{t.name}": names[t.oid]
        for t in schema.tables.values()
        if t.oid in values
    }
    tables: list[Table] = []
    for table in sorted(schema.tables.values(), key=lambda t: (t.schema, t.name)):
        enum_refs: dict[str, str] = {}
        for key in table.foreign_keys:
            target = by_reference.get(key.references or "")
            if len(key.columns) == 1 and target and key.referenced_columns == ("value",):
                enum_refs.setdefault(key.columns[0], target)
        class_name = names[table.oid]
        columns = []
        for column in table.columns:
            if table.oid in values and column.name == "value":
                pytype = PyType(class_name, enum=class_name)
            elif column.name in enum_refs:
                pytype = PyType(enum_refs[column.name], enum=enum_refs[column.name])
            else:
                pytype = types.get(column.type_oid) or _ANY
            columns.append(Column(column.name, pytype, not column.not_null, column.position))
        tables.append(Table(table.oid, table.schema, table.name, class_name, tuple(columns), values.get(table.oid)))
    definitions = {t.oid: t.definition for t in schema.tables.values() if t.definition}
    return traced_views(Catalog(tuple(tables), search_path, enums), definitions)


def _class_names(entries: list[tuple[int, str, str, bool]], search_path: tuple[str, ...]) -> dict[int, str]:
    """Class names for ENUM types and tables (oid, schema, name, singular), unique in the generated module: in
    (schema, name) order the first keeps the name ``class_name_for`` gives (``users`` → ``User``); one that would
    take a name already given, or one the module binds itself (``Decimal``, ``AsyncQuerier``), gets its name
    unsingularized (``Users``), then as written (``StatusEnum``), then schema-qualified (``PublicUser``), then
    numbered (``User2``)."""
    taken = set(MODULE_NAMES) | {"None", "True", "False"}  # (and the keywords a class name could be)
    names: dict[int, str] = {}
    for oid, schema, name, singular in sorted(entries, key=lambda e: (e[1], e[2], e[3])):
        qualifier = None if schema in search_path else schema
        first = class_name_for(name, qualifier, singular=singular)
        plain = camel(f"{qualifier}_{name}" if qualifier else name)  # nothing dropped: ``status_enum`` → StatusEnum
        candidates = [first, class_name_for(name, qualifier, singular=False), plain, class_name_for(name, schema)]
        names[oid] = unique_name(itertools.chain(candidates, (f"{first}{n}" for n in itertools.count(2))), taken)
    return names


# --- the analysis -----------------------------------------------------------------------------------------------------


# Statements per pipelined batch: bounds what the server and libpq buffer before the answers are read.
PIPELINE_BATCH = 64


@dataclass
class _Described:
    param_oids: list[int]
    names: list[str]
    type_oids: list[int]
    origins: list[tuple[int, int]]  # (table oid, attnum); (0, 0) when not a plain column


@dataclass
class _Refused:
    """The server would not prepare the statement: its message, and the 1-based error position if it gave one."""

    message: str
    position: int | None


def _answer(prepared: PGresult, described: PGresult) -> _Described | _Refused:
    if prepared.status != ExecStatus.COMMAND_OK:
        message = (prepared.error_field(DiagnosticField.MESSAGE_PRIMARY) or b"").decode(errors="replace")
        position = prepared.error_field(DiagnosticField.STATEMENT_POSITION)
        return _Refused(message, int(position) if position else None)
    return _Described(
        [described.param_type(i) for i in range(described.nparams)],
        [described.fname(i).decode() for i in range(described.nfields)],
        [described.ftype(i) for i in range(described.nfields)],
        [(described.ftable(i), described.ftablecol(i)) for i in range(described.nfields)],
    )


def _describe_batch(conn: psycopg.Connection, statements: Sequence[str]) -> dict[str, _Described | _Refused]:
    """Prepare and describe statements in libpq pipeline mode: one round trip per batch instead of two per
    statement. A sync after each statement confines a refusal to that statement."""
    pgconn = conn.pgconn
    answers: dict[str, _Described | _Refused] = {}
    for start in range(0, len(statements), PIPELINE_BATCH):
        batch = statements[start : start + PIPELINE_BATCH]
        pgconn.enter_pipeline_mode()
        try:
            for statement in batch:
                pgconn.send_prepare(b"", statement.encode(), None)
                pgconn.send_describe_prepared(b"")
                pgconn.pipeline_sync()
            for statement in batch:
                prepared, described = _pipeline_result(pgconn), _pipeline_result(pgconn)
                sync = pgconn.get_result()
                if sync is None or sync.status != ExecStatus.PIPELINE_SYNC:
                    raise psycopg.OperationalError("lost the pipeline's sync point (connection broken?)")
                answers[statement] = _answer(prepared, described)
        finally:
            pgconn.exit_pipeline_mode()
    return answers


def _pipeline_result(pgconn: PGconn) -> PGresult:
    """The result of the next command in the pipeline (each is followed by a NULL)."""
    result = pgconn.get_result()
    if result is None or pgconn.get_result() is not None:
        raise psycopg.OperationalError("unexpected answer in the pipeline (connection broken?)")
    return result


class Analyzer:
    """Analyses queries against one database connection; reuse it to keep the connection and type cache warm."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.types = TypeMap(conn)
        self.catalog = load_catalog(conn, self.types)
        self._system = SystemRelations(conn, self.catalog, lambda oid: self.types.get(oid) or _ANY)
        self._described: dict[str, _Described | _Refused] = {}
        # Statements parsed ahead (``trace.parse_statements``, while this database was being made): each used once.
        self.statements: dict[str, ast.Node] = {}
        self._functions: dict[tuple[tuple[str, ...], int], tuple[str | None, ...]] = {}

    def describe_all(self, queries: Sequence[Query]) -> None:
        """Ask the server about all these statements at once; the next ``analyze`` of each uses the answer."""
        self._described = _describe_batch(self.conn, list(dict.fromkeys(q.sql for q in queries)))

    def analyze(self, query: Query, path: str) -> Method:
        stmt = self._statement(query, path)
        catalog = self._system.catalog_for(stmt)
        self._check_embeds(query, stmt, catalog, path)
        described = self._describe(query, path)
        warnings: list[str] = []
        targets = _param_targets(stmt, catalog, self._argument_names)
        arguments = self._arguments(query, described, targets, warnings, path)
        method = method_name(query.name)
        if query.kind == "copyfrom":
            return self._copyfrom(query, stmt, method, arguments, described, path)
        if query.kind == "execlastid" and not described.names:
            raise CodegenError(":execlastid query returns no columns (add RETURNING id)", path=path, line=query.line)
        if query.kind in ("exec", "batchexec"):
            return Method(query, method, query.sql, arguments, "none", warnings=tuple(warnings))
        if query.kind in ("execrows", "many", "iter", "batchmany") and not described.names:
            return Method(query, method, query.sql, arguments, "rowcount", warnings=tuple(warnings))
        if query.kind in ("one", "batchone") and not described.names:  # sqlc accepts these too: was there a row?
            return Method(query, method, query.sql, arguments, "exists", warnings=tuple(warnings))
        if query.kind == "execresult":
            return Method(query, method, query.sql, arguments, "cursor", warnings=tuple(warnings))
        fields, table = self._result(query, stmt, catalog, described, warnings, path)
        if query.kind == "execlastid":  # the id RETURNING gives back (PostgreSQL has no "last insert id")
            first = (
                replace(fields[0], nullable=True)
                if table is None
                else Field(fields[0].name, table.columns[0].type, True)
            )
            return Method(query, method, query.sql, arguments, "value", (first,), None, tuple(warnings))
        if table is not None:
            return Method(query, method, query.sql, arguments, "table", fields, table, tuple(warnings))
        returns = "value" if len(fields) == 1 and fields[0].embed is None else "row"
        return Method(query, method, query.sql, arguments, returns, fields, None, tuple(warnings))

    # -- the server's view

    def _describe(self, query: Query, path: str) -> _Described:
        answer = self._described.get(query.sql) or _describe_batch(self.conn, [query.sql])[query.sql]
        if isinstance(answer, _Refused):
            line = query.line_of(answer.position - 1) if answer.position else query.sql_line
            raise CodegenError(f"{query.name}: {answer.message or 'statement does not prepare'}", path=path, line=line)
        return answer

    def _statement(self, query: Query, path: str) -> ast.Node:
        parsed = self.statements.pop(query.sql, None)
        if parsed is not None:
            return parsed
        try:
            return parse_sql(query.sql)[0].stmt
        except ParseError as exc:
            self._describe(query, path)  # the server's message is the one to show
            raise CodegenError(f"{query.name}: cannot analyse: {exc}", path=path, line=query.line) from None

    def _check_embeds(self, query: Query, stmt: ast.Node, catalog: Catalog, path: str) -> None:
        scope, _ = _shape(stmt, catalog)
        for embed in query.embeds:
            source = scope.sources.get(embed.table)
            if source is None or source.table is None:
                raise CodegenError(
                    f"{query.name}: sqlc.embed({embed.table}): no table {embed.table!r} in the query's FROM",
                    path=path,
                    line=query.line_of(embed.offset),
                )
            if self.catalog.by_oid(source.table.oid) is None:  # nothing is emitted for PostgreSQL's own relations
                raise CodegenError(
                    f"{query.name}: sqlc.embed({embed.table}): {source.table.schema}.{source.table.name} is one of "
                    "PostgreSQL's own relations; select its columns instead",
                    path=path,
                    line=query.line_of(embed.offset),
                )

    def _argument_names(self, name: list[str], count: int) -> tuple[str | None, ...]:
        """The parameter names of the function ``name`` called with ``count`` arguments, where every candidate
        (overloads, variadic, defaults aside) agrees; None where they do not or it has none."""
        key = (tuple(name), count)
        if key not in self._functions:
            rows = self.conn.execute(
                "SELECT p.proargnames[1:%(count)s] FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE p.proname = %(name)s AND p.pronargs = %(count)s AND p.proargmodes IS NULL"
                " AND (n.nspname = %(schema)s OR %(schema)s IS NULL AND n.nspname = ANY(current_schemas(true)))",
                {"name": name[-1], "schema": name[-2] if len(name) > 1 else None, "count": count},
            ).fetchall()
            columns = (
                [set(names) for names in zip(*[r[0] for r in rows if r[0]])] if rows and all(r[0] for r in rows) else []
            )
            self._functions[key] = tuple(next(iter(c)) or None if len(c) == 1 else None for c in columns)
        return self._functions[key]

    def _pytype(self, oid: int, what: str, warnings: list[str]) -> PyType:
        mapped = self.types.get(oid)
        if mapped is None:
            name, array = self.conn.execute(
                "SELECT format_type(%s, NULL), typcategory = 'A' FROM pg_type WHERE oid = %s", (oid, oid)
            ).fetchone()
            why = " (psycopg loads it as text)" if array else ""
            warnings.append(f"{what}: no Python type for {name}{why}; typed as Any")
            return _ANY
        return mapped

    def _column(self, origin: tuple[int, int]) -> Column | None:
        """The table column a result column is (the describe's table oid and attnum), if it is a plain one."""
        table = self.catalog.by_oid(origin[0]) if origin[0] else None
        return table.attribute(origin[1]) if table else None

    # -- parameters

    def _arguments(
        self,
        query: Query,
        described: _Described,
        targets: dict[int, tuple[str, Column | None, bool]],
        warnings: list[str],
        path: str,
    ) -> tuple[Argument, ...]:
        declared = {p.number: p for p in query.params}
        arguments: list[Argument] = []
        used: set[str] = set()
        for index, oid in enumerate(described.param_oids):
            number = index + 1
            param = declared.get(number)
            column_name, column, assigned = targets.get(number, (None, None, False))
            base = (param.name if param and param.name else None) or column_name or f"p{number}"
            name = identifier(base)
            suffix = 2
            while name in used:
                name, suffix = f"{identifier(base)}_{suffix}", suffix + 1
            used.add(name)
            pytype = self._pytype(oid, f"{query.name}: parameter ${number} ({name})", warnings)
            if column is not None and column.type.enum:
                pytype = PyType(
                    f"list[{column.type.annotation}]" if param and param.is_slice else column.type.annotation,
                    enum=column.type.enum,
                )
            nullable = bool(param and param.nullable) or (assigned and column is not None and column.nullable)
            arguments.append(Argument(name, number, pytype, nullable))
        return tuple(arguments)

    # -- results

    def _result(
        self, query: Query, stmt: ast.Node, catalog: Catalog, described: _Described, warnings: list[str], path: str
    ) -> tuple[tuple[Field, ...], Table | None]:
        scope, exprs = _shape(stmt, catalog)
        columns: list[Column] = []
        for i, (name, nullable) in enumerate(
            zip(described.names, _nullability(query, stmt, scope, exprs, len(described.names), catalog))
        ):
            origin = self._column(described.origins[i])
            if origin is not None:
                pytype = origin.type
                if pytype == _ANY:  # said once per query that reads it
                    self._pytype(described.type_oids[i], f"{query.name}: column {name}", warnings)
            else:
                pytype = self._pytype(described.type_oids[i], f"{query.name}: column {name}", warnings)
            columns.append(Column(name, pytype, nullable))
        embeds = self._embeds(query, exprs, scope, columns, path)
        if not embeds:
            table = self._whole_table(described, columns)
            if table is not None:
                return tuple(Field(identifier(c.name), c.type, c.nullable) for c in columns), table
        fields: list[Field] = []
        used: set[str] = set()
        i = 0
        while i < len(columns):
            if i in embeds:
                table, nullable = embeds[i]
                fields.append(
                    Field(_unique(identifier(embeds_name(table)), used), PyType(table.class_name), nullable, table)
                )
                i += len(table.columns)
                continue
            fields.append(Field(_unique(identifier(columns[i].name), used), columns[i].type, columns[i].nullable))
            i += 1
        return tuple(fields), None

    def _whole_table(self, described: _Described, columns: list[Column]) -> Table | None:
        """The table whose every column, in order and with its own nullability, is exactly the result."""
        oids = {oid for oid, _ in described.origins}
        if len(oids) != 1 or 0 in oids:
            return None
        table = self.catalog.by_oid(oids.pop())
        if table is None or [n for _, n in described.origins] != [c.attnum for c in table.columns]:
            return None
        if table.enum_values is not None:
            return None
        if any(c.nullable != t.nullable for c, t in zip(columns, table.columns)):
            return None
        return table

    def _embeds(
        self, query: Query, exprs: list, scope: Scope, columns: list[Column], path: str
    ) -> dict[int, tuple[Table, bool]]:
        """Column index where each sqlc.embed starts → (table, whether the whole row may be missing)."""
        if not query.embeds:
            return {}
        starts: dict[int, tuple[Table, bool]] = {}
        position = 0
        widths = _widths(exprs, scope, len(columns))
        for embed in query.embeds:
            source = scope.sources[embed.table]  # checked before describing
            index = next(
                (k for k, e in enumerate(exprs) if isinstance(e, ast.ResTarget) and e.location == embed.offset), None
            )
            if index is None or widths is None:
                raise CodegenError(
                    f"{query.name}: sqlc.embed({embed.table}) must be an item of the select list, "
                    "and cannot be combined with an unqualified *",
                    path=path,
                    line=query.line_of(embed.offset),
                )
            position = sum(widths[:index])
            starts[position] = (source.table, source.nullable)
        return starts

    # -- COPY

    def _copyfrom(
        self,
        query: Query,
        stmt: ast.Node,
        method: str,
        arguments: tuple[Argument, ...],
        described: _Described,
        path: str,
    ) -> Method:
        values = getattr(getattr(stmt, "selectStmt", None), "valuesLists", None)
        if not isinstance(stmt, ast.InsertStmt) or not stmt.cols or not values or len(values) != 1:
            raise CodegenError(
                f"{query.name}: :copyfrom needs 'INSERT INTO table (columns) VALUES ($1, ...)'",
                path=path,
                line=query.line,
            )
        if stmt.returningClause or stmt.onConflictClause:
            raise CodegenError(
                f"{query.name}: :copyfrom cannot have RETURNING or ON CONFLICT", path=path, line=query.line
            )
        row = values[0]
        if len(row) != len(stmt.cols) or not all(isinstance(v, ast.ParamRef) for v in row):
            raise CodegenError(
                f"{query.name}: :copyfrom VALUES must be exactly one parameter per column", path=path, line=query.line
            )
        by_number = {a.number: a for a in arguments}
        ordered = tuple(by_number[v.number] for v in row)
        relation = stmt.relation
        names = [relation.schemaname, relation.relname] if relation.schemaname else [relation.relname]
        copy = (
            psycopg.sql.SQL("COPY {} ({}) FROM STDIN")
            .format(
                psycopg.sql.Identifier(*names),
                psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c.name) for c in stmt.cols),
            )
            .as_string(self.conn)
        )
        return Method(query, method, copy, ordered, "rowcount")


def _nullability(query: Query, stmt: ast.Node, scope: Scope, exprs: list, total: int, catalog: Catalog) -> list[bool]:
    """Whether each result column may be NULL, traced through the statement (see ``trace``); unknown: it may."""
    if isinstance(stmt, ast.SelectStmt) and stmt.op != SetOperation.SETOP_NONE:  # any branch may bring a NULL
        branches = derived_columns(stmt, catalog)
        return [n for _, n in branches] if branches and len(branches) == total else [True] * total
    nullable_params = {p.number for p in query.params if p.nullable}
    out = []
    for item in _align(exprs, scope, total) or [None] * total:
        if item is None:
            out.append(True)
        elif isinstance(item, tuple):
            out.append(scope.grouping_sets or item[0].column_nullable(item[1]))
        else:
            out.append(expr_nullable(item, scope, nullable_params))
    return out


def embeds_name(table: Table) -> str:
    """The field holding an embedded row is named after the table, singular (``users`` → ``user``)."""
    return snake(table.class_name)


def _unique(name: str, used: set[str]) -> str:
    candidate, suffix = name, 2
    while candidate in used:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    used.add(candidate)
    return candidate


# --- structure (pglast) -----------------------------------------------------------------------------------------------


def _shape(stmt: ast.Node, catalog: Catalog) -> tuple[Scope, list]:
    """The FROM items the output list sees (a set operation's leftmost branch names the columns), and the list."""
    scope = statement_scope(stmt, catalog)
    leftmost = stmt
    while isinstance(leftmost, ast.SelectStmt) and leftmost.op != SetOperation.SETOP_NONE:
        leftmost = leftmost.larg
    if leftmost is not stmt:
        scope = statement_scope(leftmost, catalog, scope.ctes)
    return scope, output_list(stmt)


def _widths(exprs: list, scope: Scope, total: int) -> list[int] | None:
    """How many result columns each select-list item gives; None when that cannot be known."""
    widths: list[int | None] = []
    for target in exprs:
        star, qualifier = star_of(target)
        expanded = expand_star(qualifier, scope) if star else None
        widths.append(len(expanded) if expanded is not None else None if star else 1)
    unknown = [i for i, w in enumerate(widths) if w is None]
    if len(unknown) == 1:
        widths[unknown[0]] = total - sum(w for w in widths if w is not None)
    if unknown and len(unknown) != 1 or sum(w for w in widths if w is not None) != total:
        return None
    return [w for w in widths if w is not None]  # every width is known by now


def _align(exprs: list, scope: Scope, total: int) -> list[ast.Node | tuple[Source, str] | None] | None:
    """For each result column: its select-list expression, or for a ``*`` the (FROM item, column) it expands to
    (None when the ``*`` cannot be expanded)."""
    widths = _widths(exprs, scope, total)
    if widths is None:
        return None
    out: list[ast.Node | tuple[Source, str] | None] = []
    for target, width in zip(exprs, widths):
        star, qualifier = star_of(target)
        if not star:
            out.append(target.val)
            continue
        expanded = expand_star(qualifier, scope)
        out.extend(expanded if expanded is not None and len(expanded) == width else [None] * width)
    return out


def _param_targets(
    stmt: ast.Node, catalog: Catalog, argument_names: Callable[[list[str], int], tuple[str | None, ...]]
) -> dict[int, tuple[str, Column | None, bool]]:
    """``$n`` → (column it is compared with or stored into, that column if known, whether it is stored); else the
    function argument it is passed as (``say_hello($1)`` → ``s``, as sqlc names it)."""
    scope, _ = _shape(stmt, catalog)
    nodes = list(walk(stmt))  # walked once: the loops below read the tree three times
    for node in nodes:  # every FROM item anywhere (subqueries, CTEs) can resolve a compared column
        if (
            isinstance(node, ast.RangeVar)
            and (node.alias.aliasname if node.alias else node.relname) not in scope.sources
        ):
            add_sources(node, False, scope, catalog)
    found: dict[int, tuple[str, Column | None, bool]] = {}

    def column_of(ref: ast.ColumnRef, tables: list[Table]) -> tuple[str, Column | None] | None:
        names = [f.sval for f in ref.fields if isinstance(f, ast.String)]
        if not names:
            return None
        if len(names) > 1:
            source = scope.sources.get(names[-2])
            tables = [source.table] if source and source.table else []
        matches = [c for t in tables for c in t.columns if c.name == names[-1]]
        return names[-1], (matches[0] if matches else None)

    def param_number(node: Any) -> int | None:
        while isinstance(node, ast.TypeCast):
            node = node.arg
        return node.number if isinstance(node, ast.ParamRef) else None

    all_tables = list({id(s.table): s.table for s in scope.sources.values() if s.table}.values())
    relation = getattr(stmt, "relation", None)
    own = catalog.by_name(relation.relname, relation.schemaname or None) if isinstance(relation, ast.RangeVar) else None
    if isinstance(stmt, ast.InsertStmt) and stmt.cols and isinstance(stmt.selectStmt, ast.SelectStmt):
        for values in stmt.selectStmt.valuesLists or ():
            for target, value in zip(stmt.cols, values):
                number = param_number(value)
                if number is not None:
                    column = next((c for c in own.columns if c.name == target.name), None) if own else None
                    found.setdefault(number, (target.name, column, True))
    if isinstance(stmt, ast.UpdateStmt):
        for target in stmt.targetList or ():
            number = param_number(target.val)
            if number is not None:
                column = next((c for c in own.columns if c.name == target.name), None) if own else None
                found.setdefault(number, (target.name, column, True))
    for node in nodes:
        if isinstance(node, ast.A_Expr):
            for this, other in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
                number = param_number(this)
                if number is not None and isinstance(other, ast.ColumnRef):
                    resolved = column_of(other, all_tables)
                    if resolved:
                        found.setdefault(number, (resolved[0], resolved[1], False))
        if isinstance(node, ast.SelectStmt):
            for clause, name in ((node.limitCount, "limit"), (node.limitOffset, "offset")):
                number = param_number(clause)
                if number is not None:
                    found.setdefault(number, (name, None, False))
    for node in nodes:
        passed = [param_number(getattr(a, "arg", a)) for a in getattr(node, "args", None) or ()]
        if isinstance(node, ast.FuncCall) and any(n is not None and n not in found for n in passed):
            names = argument_names([f.sval for f in node.funcname], len(node.args))
            for arg, name in zip(node.args, names + (None,) * len(node.args)):
                if isinstance(arg, ast.NamedArgExpr):
                    name = arg.name
                    arg = arg.arg
                number = param_number(arg)
                if number is not None and name:
                    found.setdefault(number, (name, None, False))
    return found
