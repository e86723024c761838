"""Fixtures for the compiler tests: an analyser on a migrated database, and throwaway projects."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from database.dev.codegen.infer import Analyzer, Method
from database.dev.codegen.parse import parse_queries



@pytest.fixture
def analyze(migrated_database: str) -> Iterator[Callable[[str], list[Method]]]:
    """Compile a queries.sql text against this repo's schema, stage by stage (no files written)."""
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        analyzer = Analyzer(conn)
        yield lambda text: [analyzer.analyze(q, "queries.sql") for q in parse_queries(text, "queries.sql")]
