"""Opening a tooling connection, in one place: libpq's failures become one-line errors that never show a password
(server down or unreachable: ServerError; a URL libpq cannot read: ConfigError)."""

from __future__ import annotations

from typing import Any

import psycopg

from database import config
from database.errors import ConfigError, ServerError, first_line


def unreachable(url: str, exc: BaseException) -> ServerError:
    """The one-line error for a server at ``url`` that could not be reached (down, refused, unknown database…)."""
    return ServerError(f"cannot connect to {config.redact(url)}: {first_line(exc)}")


def connect(url: str, *, connect_timeout: int = 10, **kwargs: Any) -> psycopg.Connection[Any]:
    """An autocommit connection to ``url`` (10 s to connect unless told); ``kwargs`` go to ``psycopg.connect``. The
    URL goes through ``config.libpq_url``, so a password with a bare ``@`` is still the password, not part of the
    host."""
    try:
        return psycopg.connect(config.libpq_url(url), autocommit=True, connect_timeout=connect_timeout, **kwargs)
    except psycopg.OperationalError as exc:
        raise unreachable(url, exc) from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid database URL {config.redact(url)}: {first_line(exc)}") from None
