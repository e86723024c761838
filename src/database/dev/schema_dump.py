"""The squashed schema of a database as deterministic SQL: what ``schema.sql`` holds and ``migrate --dry-run`` diffs.

``pg_dump -s`` keeps every detail that matters (COLLATE "C", CHECKs, defaults, triggers, policies, functions,
indexes); we leave out owners, privileges, tablespaces, the migration tool's own tables and the lines that change
from run to run (pg_dump 18's ``\\restrict`` keys, version banners), then append the rows of the ``*_enum`` tables,
which are part of the schema in this project's conventions.

A template's dump is kept with it (``dump_clone``/``kept_dump``): the schema of a fresh clone is its template's,
and pg_dump's start-up and catalog reads are most of a codegen run that must ask the database (docs/codegen.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg import sql

from database import config
from database.dev import pg, server
from database.dev.cache_file import prune, save_json
from database.dev.timing import mark
from database.errors import ServerError

if TYPE_CHECKING:
    from database.dev.testdb import Clone

# Bookkeeping tables of the migration tooling: not part of the application's schema (pg_dump patterns).
EXCLUDED_TABLES = ("_yoyo_*", "yoyo_lock", "_dbtui_*")

# pg_dump lines that differ between runs or machines without the schema differing, and session settings that only
# newer servers know (pg_dump 17+ writes ``SET transaction_timeout``, which PostgreSQL 16 and older refuse): left out
# so that schema.sql loads into every supported server (14-18).
_DROPPED = re.compile(
    r"^(\\restrict |\\unrestrict |-- Dumped from database version |-- Dumped by pg_dump version "
    r"|SET transaction_timeout = )"
)
_BANNER = re.compile(r"^--\n-- PostgreSQL database dump( complete)?\n--\n", re.MULTILINE)


def dump_schema(url: str) -> str:
    """The schema of ``url`` plus its enum rows, byte-stable for the same schema and server major version."""
    binaries = server.find_binaries()
    args = [
        binaries.tool("pg_dump"),
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--no-tablespaces",
        *(f"--exclude-table={pattern}" for pattern in EXCLUDED_TABLES),
        "--dbname",
        url,
    ]
    # The enum rows are read while pg_dump runs (its start-up and catalog reads take most of its time).
    with ThreadPoolExecutor(1, thread_name_prefix="dbtui-enum-rows") as pool:
        rows = pool.submit(enum_rows, url)
        mark("pg_dump started")
        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        if done.returncode != 0:  # pg_dump's error first: the enum rows' would say less
            detail = done.stderr.strip().splitlines()
            raise ServerError(
                f"pg_dump of {config.redact(url)} failed: {detail[-1] if detail else f'exit {done.returncode}'}"
            )
        mark("pg_dump done")
        enums = rows.result()
    body = "".join(line for line in done.stdout.splitlines(keepends=True) if not _DROPPED.match(line))
    body = _BANNER.sub("", body).strip("\n")  # only the ends: blank lines inside function bodies are content
    header = (
        f"-- Squashed schema: pg_dump -s (PostgreSQL {binaries.major}) of a freshly migrated database, "
        "plus the rows of the *_enum tables.\n-- Written by dbtui; do not edit.\n"
    )
    return header + "\n" + body + "\n" + (f"\n{enums}" if enums else "")


def enum_rows(url: str) -> str:
    """``INSERT`` statements for the rows of every ``*_enum`` table, tables and rows in a stable order."""
    with pg.connect(url) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND c.relname LIKE '%\\_enum'"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
            ' ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"'
        ).fetchall()
        statements = []
        for schema, table in tables:
            cursor = conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(schema, table)))
            rows = cursor.fetchall()
            if not rows:
                continue
            columns = sql.SQL(", ").join([sql.Identifier(d.name) for d in cursor.description or ()])
            values = sql.SQL(",\n    ").join(
                sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in row)) for row in rows
            )
            statement = sql.SQL("INSERT INTO {} ({}) VALUES\n    {};").format(
                sql.Identifier(schema, table), columns, values
            )
            statements.append(statement.as_string(conn))
    return "\n\n".join(statements) + "\n" if statements else ""


# --- the dump kept with its template ----------------------------------------------------------------------------------
# One JSON file per template build in the user's dbtui folder, named by a hash of what the text depends on: the
# server, the template's name (the migrations' digest) and oid (a template dropped and built again has another, so
# its dump is made again: never the text of a build before), pg_dump's version and this module's source.

KEPT_DUMPS = 32  # files kept, the most recently written (each a schema.sql: tens to hundreds of KB)


def kept_dump(clone: Clone) -> str | None:
    """The dump kept for ``clone``'s template build (``dump_clone`` of an earlier clone of it), if any. ``clone``
    must be as ``testdb`` made it: its schema is its template's."""
    try:
        path = _kept_path(clone)
        data = json.loads(path.read_bytes())
        return data["schema"] if data.get("key") == path.stem and isinstance(data["schema"], str) else None
    except (OSError, ValueError, KeyError, TypeError, ServerError):
        return None


def dump_clone(clone: Clone) -> str:
    """``dump_schema`` of a fresh ``clone``, kept for the next clone of the same template build (``kept_dump``)."""
    schema = dump_schema(clone.url)
    with contextlib.suppress(OSError, ServerError):  # not kept: the next run dumps again
        path = _kept_path(clone)
        save_json(path, {"key": path.stem, "schema": schema})
        prune(path.parent, KEPT_DUMPS)
    return schema


def _kept_path(clone: Clone) -> Path:
    identity = [
        config.redact(clone.server_url),
        clone.template,
        clone.template_oid,
        server.find_binaries().version,
        _source_digest(),
    ]
    name = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]
    return server.kept_dumps_dir() / f"{name}.json"


@functools.cache
def _source_digest() -> str:
    """This module's source: a change to how the dump is made or filtered never serves a text made before it."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
