"""Fixtures for the compiler tests: an analyser on a migrated database, and throwaway projects."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

from database.config import Project
from database.dev import testdb
from database.dev.codegen import Result, generate
from database.dev.codegen.infer import Analyzer, Method
from database.dev.codegen.parse import parse_queries


@pytest.fixture
def analyze(migrated_database: str) -> Iterator[Callable[[str], list[Method]]]:
    """Compile a queries.sql text against this repo's schema, stage by stage (no files written)."""
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        analyzer = Analyzer(conn)
        yield lambda text: [analyzer.analyze(q, "queries.sql") for q in parse_queries(text, "queries.sql")]


@dataclass
class Compiled:
    """A generated ORM, imported, and a fresh migrated database to run its methods on."""

    project: Project
    result: Result
    orm: ModuleType
    url: str

    def run(self, body: Callable[[object], Awaitable[None]]) -> None:
        """Run ``body(querier)`` on a psycopg connection to the database, committed at the end."""

        async def main() -> None:
            async with await psycopg.AsyncConnection.connect(self.url) as conn:
                await body(self.orm.AsyncQuerier(conn))

        asyncio.run(main())


@pytest.fixture
def compile_project(tmp_path: Path, server_url: str) -> Iterator[Callable[..., Compiled]]:
    """Write a project (migrations in order, queries.sql), run ``dbtui codegen`` on it, import its orm.py."""
    made: list[str] = []

    def compile_(migrations: list[str], queries: str, name: str = "app", annotations: str | None = None) -> Compiled:
        root = tmp_path / name
        (root / "migrations").mkdir(parents=True)
        for number, up in enumerate(migrations, 1):
            depends = f"-- depends: {number - 1:04d}_m\n" if number > 1 else ""
            (root / "migrations" / f"{number:04d}_m.sql").write_text(depends + up + "\n")
        (root / "queries.sql").write_text(queries)
        if annotations is not None:
            (root / "schema_annotations.yaml").write_text(annotations)
        (root / "pyproject.toml").write_text('[tool.dbtui]\norm = "orm.py"\ndata_dir = ".dbtui"\n')
        project = Project.load(root)
        result = generate(project, url=server_url)
        spec = importlib.util.spec_from_file_location(f"orm_{name}_{len(made)}", project.orm)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        made.append(testdb.create_database(project=project, url=server_url))
        return Compiled(project, result, module, made[-1])

    yield compile_
    for url in made:
        testdb.drop_database(url)
