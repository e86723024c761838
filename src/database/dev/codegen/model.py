"""The plain data passed between the stages (and stored in the codegen cache): no database, no parser.

``parse`` produces ``Query`` values, ``infer`` the ``Catalog`` and one ``Method`` per query, ``emit`` reads them.
Everything here is frozen dataclasses of strings, numbers, tuples and each other, so ``cache`` can store it as JSON
and load it back without importing psycopg or pglast.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

# --- parsed queries ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One ``$number`` of the rewritten statement; ``name`` is set for the named forms."""

    number: int
    name: str | None = None
    nullable: bool = False  # sqlc.narg
    is_slice: bool = False  # sqlc.slice: an array parameter


@dataclass(frozen=True)
class Embed:
    """``sqlc.embed(table)``: ``table.*`` starts at ``offset`` of the rewritten SQL."""

    table: str
    offset: int


@dataclass(frozen=True)
class Query:
    """One annotated statement, rewritten to plain SQL; ``sql_line`` is the file line of its first character."""

    name: str
    kind: str
    line: int
    sql_line: int
    source: str
    sql: str
    params: tuple[Param, ...]
    embeds: tuple[Embed, ...]
    comments: tuple[str, ...] = ()  # comment lines between the annotation and the statement

    def line_of(self, offset: int) -> int:
        """The queries.sql line holding character ``offset`` of the rewritten SQL."""
        return self.sql_line + self.sql.count("\n", 0, max(offset, 0))


# --- plain data handed to the emitter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PyType:
    """A Python annotation for a database type; ``enum`` names the StrEnum values (or an array's elements) are
    converted to; ``parse_array`` is set for an array psycopg has no loader for (it hands back the array's text):
    the oid of the built-in array type whose loader parses that text."""

    annotation: str
    imports: tuple[str, ...] = ()
    enum: str | None = None
    json: bool = False  # parameters are wrapped in psycopg's Jsonb so dicts and lists can be sent
    parse_array: int = 0


@dataclass(frozen=True)
class Column:
    """A table's column (``attnum`` as PostgreSQL numbers it, holes after DROP COLUMN) or a result column (0)."""

    name: str
    type: PyType
    nullable: bool
    attnum: int = 0


@dataclass(frozen=True)
class Table:
    """A table of the schema; ``class_name`` is its dataclass (or StrEnum, for ``*_enum`` tables)."""

    oid: int
    schema: str
    name: str
    class_name: str
    columns: tuple[Column, ...]
    enum_values: tuple[str, ...] | None = None  # set for *_enum tables

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def attribute(self, attnum: int) -> Column | None:
        """The column a statement's describe reports as ``(oid, attnum)``: by number, never by position."""
        return self._by_attnum.get(attnum)

    @cached_property
    def _by_attnum(self) -> dict[int, Column]:  # (looked up for every result column of every query)
        return {c.attnum: c for c in reversed(self.columns)}  # the first of equal numbers wins, as a scan finds it


@dataclass(frozen=True)
class EnumClass:
    """A PostgreSQL ENUM type, emitted as a StrEnum like the ``*_enum`` tables."""

    oid: int
    schema: str
    name: str
    class_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """Tables and views of every schema; ``search_path`` resolves unqualified names (and says which are emitted)."""

    tables: tuple[Table, ...]
    search_path: tuple[str, ...] = ("public",)
    enums: tuple[EnumClass, ...] = ()

    def by_oid(self, oid: int) -> Table | None:
        return self._by_oid.get(oid)

    def by_name(self, name: str, schema: str | None = None) -> Table | None:
        """What PostgreSQL means by ``[schema.]name``: the first schema of the search path that has it."""
        for candidate in (schema,) if schema else self.search_path:
            table = self._by_name.get((candidate, name))
            if table is not None:
                return table
        return None

    # Indexes built on first use (a catalog is looked up several times for every query; 500 queries over 100 tables
    # spent more time scanning it than describing them). The first of equal keys wins, as a scan finds it.
    @cached_property
    def _by_oid(self) -> dict[int, Table]:
        return {t.oid: t for t in reversed(self.tables)}

    @cached_property
    def _by_name(self) -> dict[tuple[str, str], Table]:
        return {(t.schema, t.name): t for t in reversed(self.tables)}


@dataclass(frozen=True)
class Argument:
    """A keyword-only parameter of the generated method, bound to ``$number``."""

    name: str
    number: int
    type: PyType
    nullable: bool


@dataclass(frozen=True)
class Field:
    """One field of a result: a single column, or (``embed``) a run of ``width`` columns forming a table's row."""

    name: str
    type: PyType
    nullable: bool
    embed: Table | None = None

    @property
    def width(self) -> int:
        return len(self.embed.columns) if self.embed else 1


@dataclass(frozen=True)
class Method:
    """Everything the emitter needs for one query. ``returns``: none, table, value, row, rowcount, cursor."""

    query: Query
    method: str
    sql: str
    arguments: tuple[Argument, ...]
    returns: str
    fields: tuple[Field, ...] = ()
    table: Table | None = None
    warnings: tuple[str, ...] = ()
    # Set by the emitter only where the query's own names would clash with another name of the module:
    class_base: str = ""  # of its ``XRow``/``XParams`` classes (the query's name in CamelCase)
    constant: str = ""  # of its SQL text (the method's name in capitals)

    @property
    def row_class(self) -> str | None:
        if self.returns == "table":
            return self.table.class_name  # type: ignore[union-attr]
        if self.returns == "row":
            return (self.class_base or camel(self.query.name)) + "Row"
        return None

    @property
    def params_class(self) -> str:
        return (self.class_base or camel(self.query.name)) + "Params"

    @property
    def sql_constant(self) -> str:
        return self.constant or self.method.upper()


# --- names ------------------------------------------------------------------------------------------------------------


# What the generated module binds at its top level besides its classes and SQL constants (imports, helpers, the
# querier): a class or constant named so would replace it. tests/dev/codegen checks the emitter binds no other.
MODULE_NAMES = frozenset(
    {
        *("annotations", "dataclass", "TYPE_CHECKING", "Any", "cast", "StrEnum", "Iterable", "AsyncIterator"),
        *("AsyncConnection", "AsyncRawCursor", "SQLAlchemyConnection", "Jsonb", "Loader", "Format", "adapters"),
        *("Decimal", "date", "datetime", "time", "timedelta", "UUID", "Range", "Multirange"),
        *("IPv4Address", "IPv6Address", "IPv4Interface", "IPv6Interface", "IPv4Network", "IPv6Network"),
        *("AsyncQuerier", "_ARRAYS", "_array", "_members"),
    }
)


def unique_name(candidates: Iterable[str], taken: set[str]) -> str:
    """The first candidate not in ``taken`` (which it joins): generated names never replace one another."""
    name = next(c for c in candidates if c not in taken)
    taken.add(name)
    return name


# Words of a CamelCase name, as sqlc reads acronyms: ``GetVampireIDs`` → Get, Vampire, IDs; ``HTTPServer`` → HTTP,
# Server; an acronym's plural keeps its ``s`` (``IDs``, ``URLs``).
_WORDS = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")


def snake(name: str) -> str:
    """``OrganizationsList`` → ``organizations_list``, ``GetVampireIDs`` → ``get_vampire_ids`` (snake_case stays)."""
    if name == name.lower():
        return name
    lead = name[: len(name) - len(name.lstrip("_"))]
    parts = ["_".join(w.lower() for w in _WORDS.findall(chunk)) for chunk in name.split("_") if chunk]
    return lead + "_".join(p for p in parts if p)


# Members of the generated querier that a method must not replace.
QUERIER_MEMBERS = frozenset({"_conn", "_pg", "_cursor"})


def method_name(query: str) -> str:
    """The querier method of a query: snake_case, never a keyword (``In`` → ``in_``), a querier member or a dunder."""
    name = identifier(snake(query))
    if name in QUERIER_MEMBERS or name in ("self", "rows", "params"):
        name += "_"
    return name


def camel(name: str) -> str:
    """``GetUser`` or ``get_user`` → ``GetUser``: the CamelCase of a query's (or any) name."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", snake(name)) if part)


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def class_name_for(table: str, schema: str | None = None, *, singular: bool = True) -> str:
    """``organizations`` → ``Organization``; ``membership_role_enum`` → ``MembershipRole``; a ``schema`` (given for
    tables off the search path) comes first: ``audit.events`` → ``AuditEvent``. ENUM types keep their number
    (``singular=False``: ``status`` → ``Status``)."""
    base = table[: -len("_enum")] if table.endswith("_enum") else table
    base = f"{schema}_{base}" if schema else base
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", base) if p]
    if parts and singular and not table.endswith("_enum"):
        parts[-1] = _singular(parts[-1])
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Table"
    return name if name[0].isalpha() else "T" + name


def identifier(name: str) -> str:
    """A valid, non-keyword Python identifier for a column or parameter name."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = "_" + text
    if not text.isidentifier():  # word characters Python does not take at that place: keep the ASCII ones
        text = "_" + re.sub(r"[^A-Za-z0-9_]", "_", text)
    if text.startswith("__"):  # a class would mangle it, or it is one of the class's own (``__init__``, ``__slots__``)
        return text.rstrip("_") + "___"
    return text + "_" if keyword.iskeyword(text) or text in RESERVED else text


# Names the generated methods use for themselves: a parameter or field called so gets a trailing underscore.
RESERVED = frozenset({"self", "rows", "params", "cur", "r"})
