"""Fast throwaway migrated databases for tests and codegen.

``create_database()`` returns the URL of a fresh database cloned from a template built once per distinct
migrations content; ``drop_database(url)`` removes it. The pytest plugin (``database.pytest_plugin``) builds on it.
The work is done by ``database.dev.testdb``; it is imported on first use so that importing this module stays cheap.
"""

from __future__ import annotations


def create_database() -> str:
    """A fresh, fully migrated database of the current project; returns its URL."""
    from database.dev import testdb

    return testdb.create_database()


def drop_database(url: str) -> None:
    """Drop a database made by ``create_database()``."""
    from database.dev import testdb

    testdb.drop_database(url)
