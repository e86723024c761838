"""A missing machine dependency skips a test on a developer's machine and fails it in CI (tests/needs.py)."""

from __future__ import annotations

import pytest
from needs import unavailable


def test_skips_where_the_machine_lacks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBTUI_TESTS_NEED_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no frobnicator"):
        unavailable("no frobnicator")


def test_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBTUI_TESTS_NEED_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="needed in CI: no frobnicator"):
        unavailable("no frobnicator")
