"""Fixtures of the migration tooling tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from migration_fixtures import BRANCHED, write_migrations


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The branched migration tree of ``migration_fixtures`` in a temporary ``migrations/`` folder."""
    return write_migrations(tmp_path / "migrations", BRANCHED)
