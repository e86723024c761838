"""What a statement's names refer to, and whether each value it returns may be NULL (pglast's parse tree).

PostgreSQL's describe tells a result column's type, and for a plain column its table and attnum, but never whether
it may be NULL. This module follows each value to where it comes from: a table column (NOT NULL or not), the outer
side of a LEFT/RIGHT/FULL join, a subquery in FROM, a CTE, a view or materialized view (their definitions are
traced the same way, once, when the catalog is read), a set operation's branches, or an expression.

The rule is one-sided: a value is NOT NULL only when that is proven. Anything not understood — an unknown function,
an ambiguous name, a recursive CTE, ``GROUPING SETS`` — may be NULL. Functions are trusted only from the lists below:
PostgreSQL built-ins that never return NULL, or never do for non-NULL arguments (``STRICT`` alone does not say that:
``array_position`` and ``->>`` are strict and return NULL for values that are not).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, JoinType, SetOperation, SQLValueFunctionOp, SubLinkType
from pglast.parser import ParseError

from database.dev.codegen.model import Catalog, Table

# Built-ins that never return NULL, whatever their arguments.
NEVER_NULL = frozenset(
    {
        "count",
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "now",
        "clock_timestamp",
        "statement_timestamp",
        "transaction_timestamp",
        "random",
        "gen_random_uuid",
        "generate_id",
        "concat",
        "current_database",
        "json_build_object",
        "jsonb_build_object",
        "json_build_array",
        "jsonb_build_array",
        "pg_backend_pid",
        "txid_current",
        "timeofday",
        "version",
    }
)
# Built-ins that return NULL only for a NULL argument (and are not aggregates, which give NULL over no rows).
NULL_ONLY_FROM_ARGUMENTS = frozenset(
    {
        "abs",
        "age",
        "ascii",
        "btrim",
        "cardinality",
        "ceil",
        "ceiling",
        "char_length",
        "character_length",
        "chr",
        "date_part",
        "date_trunc",
        "decode",
        "degrees",
        "div",
        "encode",
        "exp",
        "extract",
        "floor",
        "format_type",
        "generate_series",
        "initcap",
        "isfinite",
        "justify_days",
        "justify_hours",
        "justify_interval",
        "left",
        "length",
        "ln",
        "log",
        "lower",
        "lpad",
        "ltrim",
        "make_date",
        "make_interval",
        "make_time",
        "make_timestamp",
        "make_timestamptz",
        "md5",
        "mod",
        "octet_length",
        "overlay",
        "pg_get_userbyid",  # "unknown (OID=n)" for a role that is gone
        "pi",
        "position",
        "power",
        "quote_ident",
        "quote_literal",
        "radians",
        "repeat",
        "replace",
        "reverse",
        "right",
        "round",
        "rpad",
        "rtrim",
        "sha256",
        "sign",
        "split_part",
        "sqrt",
        "strpos",
        "substr",
        "to_char",
        "to_hex",
        "to_json",
        "to_jsonb",
        "to_timestamp",
        "translate",
        "trim",
        "trunc",
        "upper",
        "timezone",
        "jsonb_typeof",
        "json_typeof",
        "array_to_string",
        "starts_with",
    }
)
# Aggregates that give NULL over no rows, and otherwise only for NULL inputs (array_agg and json_agg never do): NOT NULL
# in a group of a plain GROUP BY, which always holds a row, when their argument is.
NULL_ONLY_FOR_NO_ROWS = frozenset(
    {"min", "max", "sum", "avg", "bool_and", "bool_or", "every", "bit_and", "bit_or", "string_agg"}
)
NEVER_NULL_IN_A_GROUP = frozenset({"array_agg", "json_agg", "jsonb_agg"})

# Operators that return NULL only for a NULL operand (not ``->>`` and friends, which miss keys).
NULL_ONLY_FROM_OPERANDS = frozenset(
    {
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "=",
        "<>",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "||",
        "~~",
        "!~~",
        "~~*",
        "!~~*",
        "~",
        "~*",
        "!~",
        "!~*",
        "&&",
        "@>",
        "<@",
        "|/",
        "@",
        "&",
        "|",
        "#",
        "<<",
        ">>",
    }
)


@dataclass
class Source:
    """A FROM item: a table (``table``), or a derived relation (subquery, CTE, function) with its ``columns``
    (name, may be NULL) in order; None when they are not known. ``nullable``: on the outer side of a join."""

    table: Table | None
    nullable: bool
    columns: tuple[tuple[str, bool], ...] | None = None

    def names(self) -> list[str] | None:
        if self.table is not None:
            return [c.name for c in self.table.columns]
        return None if self.columns is None else [name for name, _ in self.columns]

    def column_nullable(self, name: str) -> bool:
        """Whether this item's column ``name`` may be NULL (unknown or ambiguous: it may)."""
        if self.table is not None:
            column = self.table.column(name)
            return column is None or column.nullable or self.nullable
        found = [nullable for column, nullable in self.columns or () if column == name]
        return len(found) != 1 or found[0] or self.nullable


@dataclass
class Scope:
    """The FROM items a select list sees: by name (alias, table name, ``schema.table``) and in FROM order; ``ctes``:
    the WITH queries visible, by name (None: columns not known)."""

    sources: dict[str, Source] = field(default_factory=dict)
    order: list[Source] = field(default_factory=list)
    ctes: dict[str, tuple[tuple[str, bool], ...] | None] = field(default_factory=dict)
    merged: bool = False  # a JOIN … USING or NATURAL JOIN merges columns: an unqualified * is not a plain list
    grouped: bool = False  # GROUP BY (plain): every group has a row, so max(x) of a NOT NULL x is NOT NULL
    grouping_sets: bool = False  # ROLLUP, CUBE, GROUPING SETS: a column outside an aggregate may be NULL
    catalog: Catalog | None = None  # to trace subqueries in expressions

    def add(self, name: str, source: Source) -> None:
        self.sources[name] = source
        self.order.append(source)


def walk(node: object, *, into_subqueries: bool = True) -> Iterator[ast.Node]:
    """Every node of a parse tree, depth first (``into_subqueries=False``: a subquery's node, not what it holds)."""
    if isinstance(node, ast.Node):
        yield node
        if into_subqueries or not isinstance(node, ast.SubLink):
            for name in node:
                yield from walk(getattr(node, name), into_subqueries=into_subqueries)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item, into_subqueries=into_subqueries)


def add_sources(item: ast.Node | None, nullable: bool, scope: Scope, catalog: Catalog) -> None:
    """Register a FROM item (and, for a join, both sides: the outer side of an outer join may be NULL)."""
    if isinstance(item, ast.RangeVar):
        cte = None if item.schemaname else item.relname
        if cte is not None and cte in scope.ctes:
            source = Source(None, nullable, _renamed(scope.ctes[cte], item.alias))
        else:
            source = Source(catalog.by_name(item.relname, item.schemaname or None), nullable)
        scope.add(item.alias.aliasname if item.alias else item.relname, source)
        if item.schemaname and not item.alias:  # sqlc.embed(schema.table) and schema.table.column name it so
            scope.sources[f"{item.schemaname}.{item.relname}"] = source
    elif isinstance(item, ast.JoinExpr):
        kind = item.jointype
        scope.merged = scope.merged or bool(item.usingClause) or bool(item.isNatural)
        add_sources(item.larg, nullable or kind in (JoinType.JOIN_RIGHT, JoinType.JOIN_FULL), scope, catalog)
        add_sources(item.rarg, nullable or kind in (JoinType.JOIN_LEFT, JoinType.JOIN_FULL), scope, catalog)
    elif isinstance(item, ast.RangeSubselect) and item.alias:
        columns = derived_columns(item.subquery, catalog, scope.ctes)
        scope.add(item.alias.aliasname, Source(None, nullable, _renamed(columns, item.alias)))
    elif isinstance(item, ast.RangeFunction):
        columns = _function_columns(item, scope)
        name = item.alias.aliasname if item.alias else (columns[0][0] if columns and len(columns) == 1 else None)
        if name:
            scope.add(name, Source(None, nullable, columns))


def _renamed(
    columns: tuple[tuple[str, bool], ...] | None, alias: ast.Alias | None
) -> tuple[tuple[str, bool], ...] | None:
    """``AS x(a, b)`` renames the first columns of a derived relation."""
    if columns is None or alias is None or not alias.colnames:
        return columns
    names = [n.sval for n in alias.colnames]
    return tuple((names[i] if i < len(names) else name, nullable) for i, (name, nullable) in enumerate(columns))


def _function_columns(item: ast.RangeFunction, scope: Scope) -> tuple[tuple[str, bool], ...] | None:
    """A function in FROM: one column (named after the alias or the function) for a scalar-returning call."""
    if len(item.functions or ()) != 1 or item.ordinality:
        return None
    call = item.functions[0][0]
    if not isinstance(call, ast.FuncCall) or item.functions[0][1]:
        return None
    name = call.funcname[-1].sval
    column = (
        item.alias.colnames[0].sval
        if item.alias and item.alias.colnames
        else (item.alias.aliasname if item.alias else name)
    )
    return ((column, expr_nullable(call, scope, set())),)


def statement_scope(
    stmt: ast.Node, catalog: Catalog, ctes: dict[str, tuple[tuple[str, bool], ...] | None] | None = None
) -> Scope:
    """The scope of one SELECT (its WITH queries and FROM items) or of an INSERT/UPDATE/DELETE (its table, FROM
    or USING items)."""
    scope = Scope(ctes=dict(ctes or {}), catalog=catalog)
    with_clause = getattr(stmt, "withClause", None)
    if with_clause is not None:
        for cte in with_clause.ctes:
            columns = None if with_clause.recursive else derived_columns(cte.ctequery, catalog, scope.ctes)
            if columns is not None and cte.aliascolnames:
                names = [n.sval for n in cte.aliascolnames]
                columns = tuple((names[i] if i < len(names) else n, v) for i, (n, v) in enumerate(columns))
            scope.ctes[cte.ctename] = columns
    if isinstance(stmt, ast.SelectStmt):
        for item in stmt.fromClause or ():
            add_sources(item, False, scope, catalog)
        scope.grouping_sets = any(isinstance(n, ast.GroupingSet) for n in walk(stmt.groupClause))
        scope.grouped = bool(stmt.groupClause) and not scope.grouping_sets
    elif isinstance(stmt, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        add_sources(stmt.relation, False, scope, catalog)
        for item in getattr(stmt, "fromClause", None) or getattr(stmt, "usingClause", None) or ():
            add_sources(item, False, scope, catalog)
    return scope


def output_list(stmt: ast.Node) -> list:
    """The select list (of the leftmost branch of a set operation, which names the columns) or RETURNING list."""
    if isinstance(stmt, ast.SelectStmt):
        while stmt.op != SetOperation.SETOP_NONE:
            stmt = stmt.larg
        return list(stmt.targetList or ())
    returning = getattr(stmt, "returningClause", None)
    return list((returning.exprs if returning is not None else None) or ())


def derived_columns(
    stmt: ast.Node, catalog: Catalog, ctes: dict[str, tuple[tuple[str, bool], ...] | None] | None = None
) -> tuple[tuple[str, bool], ...] | None:
    """The output columns of a subquery, CTE or view definition: (name, may be NULL) in order; None when unknown."""
    if isinstance(stmt, ast.SelectStmt) and stmt.op != SetOperation.SETOP_NONE:
        left = derived_columns(stmt.larg, catalog, ctes)
        right = derived_columns(stmt.rarg, catalog, ctes)
        if left is None or right is None or len(left) != len(right):
            return None
        return tuple((name, a or b) for (name, a), (_, b) in zip(left, right))
    if isinstance(stmt, ast.SelectStmt) and stmt.valuesLists:
        rows = stmt.valuesLists
        scope = Scope(ctes=dict(ctes or {}))
        return tuple(
            (f"column{i + 1}", any(expr_nullable(row[i], scope, set()) for row in rows)) for i in range(len(rows[0]))
        )
    if not isinstance(stmt, (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        return None
    scope = statement_scope(stmt, catalog, ctes)
    out: list[tuple[str, bool]] = []
    for target in output_list(stmt):
        star, qualifier = star_of(target)
        if star:
            expanded = expand_star(qualifier, scope)
            if expanded is None:
                return None
            out.extend((name, scope.grouping_sets or source.column_nullable(name)) for source, name in expanded)
            continue
        name = target_name(target)
        if name is None:
            return None
        out.append((name, expr_nullable(target.val, scope, set())))
    return tuple(out)


def target_name(target: ast.ResTarget) -> str | None:
    """The column name PostgreSQL gives a select-list item (``AS`` name, column name, function name, …)."""
    if target.name:
        return target.name
    value = target.val
    while isinstance(value, ast.TypeCast) and isinstance(value.arg, (ast.TypeCast, ast.ColumnRef, ast.FuncCall)):
        value = value.arg
    if isinstance(value, ast.ColumnRef):
        return value.fields[-1].sval if isinstance(value.fields[-1], ast.String) else None
    if isinstance(value, ast.FuncCall):
        return value.funcname[-1].sval
    if isinstance(value, ast.TypeCast):
        return value.typeName.names[-1].sval  # PostgreSQL's internal name (int4 for int): a miss, never a wrong hit
    named = {ast.CoalesceExpr: "coalesce", ast.CaseExpr: "case", ast.A_ArrayExpr: "array", ast.RowExpr: "row"}
    return named.get(type(value), "?column?")


def star_of(target: ast.Node) -> tuple[bool, str | None]:
    """Whether a select-list item is ``*`` or ``x.*``, and x (``schema.table`` for ``schema.table.*``)."""
    value = getattr(target, "val", None)
    if isinstance(value, ast.ColumnRef) and isinstance(value.fields[-1], ast.A_Star):
        names = [f.sval for f in value.fields[:-1]]
        return True, ".".join(names) if names else None
    return False, None


def expand_star(qualifier: str | None, scope: Scope) -> list[tuple[Source, str]] | None:
    """The (FROM item, column) pairs a ``*`` or ``x.*`` gives, in order; None when that is not known."""
    if qualifier is not None:
        source = scope.sources.get(qualifier) or scope.sources.get(qualifier.rpartition(".")[2])
        names = source.names() if source else None
        return None if names is None or source is None else [(source, n) for n in names]
    if scope.merged:
        return None
    out: list[tuple[Source, str]] = []
    for source in scope.order:
        names = source.names()
        if names is None:
            return None
        out.extend((source, n) for n in names)
    return out


def column_nullable(ref: ast.ColumnRef, scope: Scope) -> bool:
    """A column reference: NULL when its column allows it or its FROM item is an outer join's side."""
    names = [f.sval for f in ref.fields if isinstance(f, ast.String)]
    if not names or len(names) != len(ref.fields):
        return True
    if len(names) > 1:
        qualifier = ".".join(names[:-1])
        source = scope.sources.get(qualifier) or (scope.sources.get(names[-2]) if len(names) > 2 else None)
        candidates = [source] if source else []
    else:
        candidates = [s for s in scope.order if names[-1] in (s.names() or ())]
    if len(candidates) != 1:
        return True
    return candidates[0].column_nullable(names[-1])


def _function(call: ast.FuncCall) -> str | None:
    """A built-in's name, when the call can only mean the built-in (unqualified or ``pg_catalog.``)."""
    names = [f.sval for f in call.funcname]
    if len(names) == 2 and names[0] != "pg_catalog" or len(names) > 2:
        return None
    return names[-1]


def expr_nullable(expr: ast.Node | None, scope: Scope, nullable_params: set[int]) -> bool:
    """Conservative: True unless the expression cannot be NULL."""

    def may(e: ast.Node | None) -> bool:
        return expr_nullable(e, scope, nullable_params)

    if expr is None:
        return True
    if isinstance(expr, ast.ColumnRef):  # (aggregates that would read it under grouping sets are nullable anyway)
        return scope.grouping_sets or column_nullable(expr, scope)
    if isinstance(expr, ast.A_Const):
        return bool(expr.isnull)
    if isinstance(expr, (ast.TypeCast, ast.CollateClause)):
        return may(expr.arg)
    if isinstance(expr, ast.ParamRef):
        return expr.number in nullable_params
    if isinstance(expr, ast.CoalesceExpr):
        return all(may(a) for a in expr.args)
    if isinstance(expr, ast.MinMaxExpr):  # GREATEST/LEAST skip NULLs
        return all(may(a) for a in expr.args)
    if isinstance(expr, ast.FuncCall):
        name = _function(expr)
        if name in NEVER_NULL:
            return False
        if name in NULL_ONLY_FROM_ARGUMENTS and not expr.agg_star and not expr.func_variadic:
            return any(may(a) for a in expr.args or ())
        if scope.grouped and expr.over is None and expr.agg_filter is None and not expr.func_variadic:
            if name in NEVER_NULL_IN_A_GROUP:
                return False
            if name in NULL_ONLY_FOR_NO_ROWS and expr.args:
                return may(expr.args[0])
        return True
    if isinstance(expr, (ast.NullTest, ast.BooleanTest, ast.A_ArrayExpr, ast.RowExpr, ast.GroupingFunc)):
        return False
    if isinstance(expr, ast.SQLValueFunction):
        return expr.op == SQLValueFunctionOp.SVFOP_CURRENT_SCHEMA  # NULL with an empty search_path
    if isinstance(expr, ast.SubLink):
        if expr.subLinkType == SubLinkType.EXPR_SUBLINK:
            return _scalar_subquery_nullable(expr.subselect, scope)
        return expr.subLinkType not in (SubLinkType.EXISTS_SUBLINK, SubLinkType.ARRAY_SUBLINK)
    if isinstance(expr, ast.BoolExpr):
        return any(may(a) for a in expr.args)
    if isinstance(expr, ast.A_Expr):
        kind = expr.kind
        if kind in (A_Expr_Kind.AEXPR_DISTINCT, A_Expr_Kind.AEXPR_NOT_DISTINCT):
            return False
        sides = [e for e in (expr.lexpr, expr.rexpr) if e is not None]
        operands: list[ast.Node] = [x for e in sides for x in (e if isinstance(e, (list, tuple)) else [e])]
        if kind == A_Expr_Kind.AEXPR_OP and {n.sval for n in expr.name} <= NULL_ONLY_FROM_OPERANDS:
            return any(may(e) for e in operands)
        if kind in (
            A_Expr_Kind.AEXPR_LIKE,
            A_Expr_Kind.AEXPR_ILIKE,
            A_Expr_Kind.AEXPR_BETWEEN,
            A_Expr_Kind.AEXPR_NOT_BETWEEN,
        ):
            return any(may(e) for e in operands)
        return True
    if isinstance(expr, ast.CaseExpr):
        results = [w.result for w in expr.args] + [expr.defresult]
        return any(r is None or may(r) for r in results)
    return True


def _scalar_subquery_nullable(select: ast.Node, outer: Scope) -> bool:
    """``(SELECT count(*) FROM t …)``: an aggregate without GROUP BY, HAVING or LIMIT gives exactly one row, so the
    value is NULL only if its expression may be; any other subquery may give no row (NULL)."""
    if (
        outer.catalog is None
        or not isinstance(select, ast.SelectStmt)
        or select.op != SetOperation.SETOP_NONE
        or select.groupClause
        or select.havingClause
        or select.limitCount
        or select.limitOffset
        or len(select.targetList or ()) != 1
    ):
        return True
    value = select.targetList[0].val
    aggregate = NEVER_NULL_IN_A_GROUP | NULL_ONLY_FOR_NO_ROWS | {"count"}
    calls = [n for n in walk(value, into_subqueries=False) if isinstance(n, ast.FuncCall) and n.over is None]
    if not any(_function(c) in aggregate for c in calls):
        return True
    return expr_nullable(value, statement_scope(select, outer.catalog, outer.ctes), set())


def traced_views(catalog: Catalog, definitions: dict[int, str]) -> Catalog:
    """Views and materialized views with each column's nullability traced through their definitions (every view
    column is "nullable" in pg_attribute); a view is traced after the views it reads."""
    done: dict[int, Table] = {t.oid: t for t in catalog.tables if t.oid not in definitions}
    tables = {t.oid: t for t in catalog.tables}

    def trace(oid: int, seen: frozenset[int]) -> Table:
        if oid in done:
            return done[oid]
        table = tables[oid]
        try:
            stmt = parse_sql(definitions[oid])[0].stmt
        except ParseError:
            done[oid] = table
            return table
        for node in walk(stmt):  # views it reads first
            if isinstance(node, ast.RangeVar):
                used = catalog.by_name(node.relname, node.schemaname or None)
                if used is not None and used.oid in definitions and used.oid not in seen | {oid}:
                    trace(used.oid, seen | {oid})
        current = Catalog(tuple(done.get(t.oid, t) for t in catalog.tables), catalog.search_path, catalog.enums)
        columns = derived_columns(stmt, current)
        if columns is not None and len(columns) == len(table.columns):
            table = replace(
                table, columns=tuple(replace(c, nullable=c.nullable and n) for c, (_, n) in zip(table.columns, columns))
            )
        done[oid] = table
        return table

    for oid in definitions:
        trace(oid, frozenset())
    return Catalog(tuple(done[t.oid] for t in catalog.tables), catalog.search_path, catalog.enums)
