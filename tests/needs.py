"""What a test needs from the machine and cannot install itself (PgBouncer, openssl, a TLS-capable PostgreSQL, a
mountable tmpfs): where it is missing the test is skipped with the reason, except in CI (``.ci/run`` sets
``DBTUI_TESTS_NEED_ALL=1`` after installing what it can), where a missing part is a failure: CI never goes green
by skipping."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """This machine lacks what the test needs: skip with ``reason`` (fail in CI)."""
    if os.environ.get("DBTUI_TESTS_NEED_ALL") == "1":
        pytest.fail(f"needed in CI: {reason}")
    pytest.skip(reason)
