"""PostgreSQL's own relations (``information_schema``, ``pg_catalog``), for tracing the queries that read them.

They are not part of the project's catalog: nothing is emitted for them, and reading all two hundred with their
view definitions costs ~0.2 s and parsing those ~0.6 s. So only the relations a query names are read, then the
relations their definitions read in turn, once per analysis, and their views are traced like the project's
(``trace.traced_views``): ``information_schema.columns.table_name`` is ``pg_class.relname`` cast to a domain, NOT
NULL; its ``column_default`` is a CASE with an ``ELSE NULL``, nullable.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from pglast import ast, parse_sql
from pglast.parser import ParseError

from database.dev.codegen.model import Catalog, Column, PyType, Table, class_name_for
from database.dev.codegen.trace import traced_views, walk

SCHEMAS = ("pg_catalog", "information_schema")

# A relation's columns with their NOT NULL flags (pg_catalog's tables have them) and, for a view, its definition.
_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.atttypid::int8 ORDER BY a.attnum),
       array_agg(a.attnotnull ORDER BY a.attnum), array_agg(a.attnum::int ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = ANY(%(schemas)s) AND c.relname = ANY(%(names)s) AND c.relkind IN ('r', 'v', 'm')
GROUP BY c.oid, n.nspname, c.relname
"""


def _relation_names(stmt: ast.Node) -> set[tuple[str | None, str]]:
    """The relations a statement (or view definition) reads that may be system ones: ``(schema, name)``, schema
    None when unqualified; WITH queries and relations of other schemas aside."""
    nodes = list(walk(stmt))
    ctes = {n.ctename for n in nodes if isinstance(n, ast.CommonTableExpr)}
    return {
        (n.schemaname or None, n.relname)
        for n in nodes
        if isinstance(n, ast.RangeVar) and (n.schemaname in SCHEMAS or not n.schemaname and n.relname not in ctes)
    }


class SystemRelations:
    """The project's catalog, extended on demand with the system relations the analysed queries read.

    PostgreSQL looks names up in ``pg_catalog`` before the search path (unless the path lists it), so the extended
    catalog does too: an unqualified ``pg_class`` is the system one."""

    def __init__(self, conn: psycopg.Connection, project: Catalog, pytype: Callable[[int], PyType]) -> None:
        self._conn = conn
        self._pytype = pytype
        self._asked: set[str] = set()
        path = project.search_path if "pg_catalog" in project.search_path else ("pg_catalog", *project.search_path)
        self.project = project
        self.catalog = Catalog(project.tables, path, project.enums)

    def catalog_for(self, stmt: ast.Node) -> Catalog:
        """The catalog to trace ``stmt`` with: the project's alone unless the statement names a system relation."""
        names = {
            name
            for schema, name in _relation_names(stmt)
            if schema is not None or name.startswith("pg_") or self.project.by_name(name) is None
        }
        if not names:
            return self.project
        self._read(names)
        return self.catalog

    def _read(self, names: set[str]) -> None:
        """Read the named system relations and, transitively, those their views read; trace the new views."""
        wanted = names - self._asked
        tables: list[Table] = []
        definitions: dict[int, str] = {}
        while wanted:
            self._asked |= wanted
            rows = self._conn.execute(_RELATIONS, {"schemas": list(SCHEMAS), "names": sorted(wanted)}).fetchall()
            wanted = set()
            for oid, schema, name, definition, attnames, typids, notnulls, attnums in rows:
                columns = tuple(
                    Column(n, self._pytype(t), not nn, k) for n, t, nn, k in zip(attnames, typids, notnulls, attnums)
                )
                tables.append(Table(oid, schema, name, class_name_for(name, schema), columns))
                if definition is None:
                    continue
                definitions[oid] = definition
                try:
                    wanted |= {n for _, n in _relation_names(parse_sql(definition)[0].stmt)} - self._asked
                except ParseError:  # traced as unknown (nullable) by traced_views too
                    continue
        if tables:
            extended = Catalog(self.catalog.tables + tuple(tables), self.catalog.search_path, self.catalog.enums)
            self.catalog = traced_views(extended, definitions)
