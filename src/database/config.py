"""Where the project is and which database to talk to.

Only the standard library is used here: the runtime imports this module in production.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from database.errors import ConfigError

DEFAULTS = {
    "migrations": "migrations",
    "queries": "queries.sql",
    "schema": "schema.sql",
    "annotations": "schema_annotations.yaml",
    "orm": "src/database/orm.py",
    "data_dir": ".dbtui",
}
# Seconds an embedded server that dbtui started may sit with no client connected before it stops itself (0: never).
DEFAULT_IDLE_TIMEOUT = 900


@dataclass(frozen=True)
class Project:
    """A folder with ``pyproject.toml``; paths are absolute, resolved from ``[tool.dbtui]``."""

    root: Path
    migrations: Path
    queries: Path
    schema: Path
    annotations: Path
    orm: Path
    data_dir: Path
    database_url: str | None = None
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    direct_database_url: str | None = None
    pooler: str | None = None

    @classmethod
    def load(cls, root: Path) -> Project:
        """Read ``root/pyproject.toml``; a broken file is a ConfigError naming file and line."""
        root = root.resolve()
        pyproject = root / "pyproject.toml"
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no pyproject.toml in {root}") from None
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"^(.*?)\s*\(at line (\d+), column \d+\)$", str(exc))
            message, line = (found.group(1), int(found.group(2))) if found else (str(exc), None)
            raise ConfigError(f"invalid TOML: {message}", path=pyproject, line=line) from None
        settings = data.get("tool", {}).get("dbtui", {})
        if not isinstance(settings, dict):
            raise ConfigError("[tool.dbtui] must be a table", path=pyproject)
        unknown = sorted(set(settings) - set(DEFAULTS) - set(_OTHER_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key in [tool.dbtui]: {', '.join(unknown)} (known: {', '.join([*DEFAULTS, *_OTHER_KEYS])})",
                path=pyproject,
            )
        paths = {}
        for key, default in DEFAULTS.items():
            value = settings.get(key, default)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"[tool.dbtui] {key} must be a non-empty string", path=pyproject)
            # The data folder is not resolved: a link planted there must reach dbtui's checks, not be followed.
            paths[key] = Path(os.path.normpath(root / value)) if key == "data_dir" else (root / value).resolve()
        for key in _STRING_KEYS:
            if settings.get(key) is not None and not isinstance(settings[key], str):
                raise ConfigError(f"[tool.dbtui] {key} must be a string", path=pyproject)
        idle = settings.get("idle_timeout", DEFAULT_IDLE_TIMEOUT)
        if isinstance(idle, bool) or not isinstance(idle, int) or idle < 0:
            raise ConfigError(
                "[tool.dbtui] idle_timeout must be a whole number of seconds, 0 to never stop", path=pyproject
            )
        pooler = settings.get("pooler") or None
        if pooler is not None:
            check_pooler(pooler, f"[tool.dbtui] pooler in {pyproject}")
        return cls(
            root=root,
            database_url=settings.get("database_url") or None,
            direct_database_url=settings.get("direct_database_url") or None,
            pooler=pooler,
            idle_timeout=idle,
            **paths,
        )


def find_project(start: Path | str | None = None) -> Project:
    """The nearest folder at or above ``start`` (default: the working directory) holding ``pyproject.toml``.

    A ``pyproject.toml`` with a ``[tool.dbtui]`` table wins over a nearer one without it, so running from a
    sub-package of a monorepo still finds the database project.
    """
    here = Path(start or os.getcwd()).resolve()
    candidates = [d for d in (here, *here.parents) if (d / "pyproject.toml").is_file()]
    if not candidates:
        raise ConfigError(
            f"no pyproject.toml found in {here} or any parent; run inside a project or pass --project DIR"
        )
    for folder in candidates:
        try:
            if "dbtui" in tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}):
                return Project.load(folder)
        except tomllib.TOMLDecodeError:
            return Project.load(folder)  # raises with file and line
    return Project.load(candidates[0])


_STRING_KEYS = ("database_url", "direct_database_url", "pooler")
_OTHER_KEYS = (*_STRING_KEYS, "idle_timeout")
POOLER_MODES = ("auto", "none", "session", "transaction")
_configured_url: str | None = None
_configured_pooler: str | None = None


def configure(url: str | None) -> None:
    """Set the database URL for this process; it wins over every other source. ``None`` clears it."""
    global _configured_url
    _configured_url = url


def check_pooler(mode: str, source: str) -> str:
    """``mode`` if it is a pooler mode we know; else a ConfigError naming where it came from."""
    if mode not in POOLER_MODES:
        raise ConfigError(f"{source} must be one of {', '.join(POOLER_MODES)}, got {mode!r:.40}")
    return mode


def configure_pooler(mode: str | None) -> None:
    """Say what sits between this process and the server (``POOLER_MODES``); ``None`` goes back to the settings."""
    global _configured_pooler
    _configured_pooler = None if mode is None else check_pooler(mode, "the configured pooler mode")


def pooler_mode(project: Project | None = None) -> str:
    """What is between the runtime's URL and PostgreSQL: configure_pooler() · $DATABASE_POOLER · [tool.dbtui]
    pooler · ``auto`` (detected per connection: a pooler hands out its own cancel key, not the backend's pid).

    ``transaction`` (PgBouncer's ``pool_mode = transaction``, most managed poolers) turns server-side prepared
    statements off; ``none`` and ``session`` keep them. Without a project (an app deployed without its
    pyproject.toml) the setting is simply not read.
    """
    if _configured_pooler:
        return _configured_pooler
    if os.environ.get("DATABASE_POOLER"):
        return check_pooler(os.environ["DATABASE_POOLER"], "DATABASE_POOLER")
    if project is None:
        try:
            project = find_project()
        except ConfigError:
            return "auto"
    return project.pooler or "auto"


def direct_url_if_set(project: Project | None = None) -> str | None:
    """$DATABASE_DIRECT_URL · [tool.dbtui] direct_database_url: a URL to the server itself, bypassing any pooler,
    for the tooling that needs a whole session (migrations, codegen, checks, the TUI); None when neither is set."""
    if os.environ.get("DATABASE_DIRECT_URL"):
        return check_url(os.environ["DATABASE_DIRECT_URL"], "DATABASE_DIRECT_URL")
    project = project or find_project()
    if project.direct_database_url:
        return check_url(project.direct_database_url, f"direct_database_url in {project.root / 'pyproject.toml'}")
    return None


def replica_url_if_set() -> str | None:
    """$DATABASE_REPLICA_URL: where read-only transactions go (``xact_admin(readonly=True)``); None: the primary."""
    url = os.environ.get("DATABASE_REPLICA_URL")
    return check_url(url, "DATABASE_REPLICA_URL") if url else None


def libpq_url(url: str) -> str:
    """The URL as libpq takes it (``postgresql://``), every parameter kept: sslmode, sslrootcert, passfile…

    The user and password are re-escaped from what ``_userinfo`` found, so a password holding a bare ``@`` (or ``/``)
    reaches the server as the password, never as part of "the host" that every connection error quotes.
    """
    url = "postgresql://" + check_url(url, "the database URL").split("://", 1)[1]
    found = _userinfo(url)
    if found is None:
        return url
    scheme, user, password, rest = found
    if password is None:
        return url
    return f"{scheme}{quote(unquote(user), safe='')}:{quote(unquote(password), safe='')}@{rest}"


def check_url(url: str, source: str) -> str:
    """``url`` if it is a PostgreSQL URL libpq can read; else a ConfigError naming where it came from (never echoing
    a password). Checked here, once, so a typo in the URL is never reported as a failure of what used it."""
    from psycopg import ProgrammingError, conninfo

    _remember_password(url)  # before anything parses it: from now on scrub() masks it however a parser quotes it
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(
            f"{source} is not a PostgreSQL URL (expected postgresql://user@host/dbname, got {scrub(url)!r:.60})"
        )
    try:
        conninfo.conninfo_to_dict(url if scheme != "postgresql+psycopg" else "postgresql" + url[len(scheme) :])
    except UnicodeDecodeError:
        raise ConfigError(
            f"{source} is not a valid PostgreSQL URL: a %-escape in it is not UTF-8 (in {scrub(url)!r:.80})"
        ) from None
    except ProgrammingError as exc:
        detail = scrub(str(exc).strip().splitlines()[0]) if str(exc).strip() else "unreadable"
        raise ConfigError(f"{source} is not a valid PostgreSQL URL: {detail} (in {scrub(url)!r:.80})") from None
    return url


def psycopg_dialect_url(url: str) -> str:
    """The URL with the ``postgresql+psycopg://`` scheme that SQLAlchemy and yoyo use to pick psycopg 3."""
    return "postgresql+psycopg://" + libpq_url(url).split("://", 1)[1]


def database_url_if_set(project: Project | None = None) -> str:
    """The URL from configure() · $DATABASE_URL · [tool.dbtui] database_url; LookupError when none is set."""
    if _configured_url:
        return check_url(_configured_url, "the configured database URL")
    if os.environ.get("DATABASE_URL"):
        return check_url(os.environ["DATABASE_URL"], "DATABASE_URL")
    project = project or find_project()
    if project.database_url:
        return check_url(project.database_url, f"database_url in {project.root / 'pyproject.toml'}")
    raise LookupError("no database URL configured")


UrlFallback = Callable[[Project], str]
FALLBACK_ENTRY_POINTS = "database.url_fallback"
_url_fallback: UrlFallback | None = None


def register_url_fallback(fallback: UrlFallback | None) -> None:
    """Tooling registers here where a project's database is when no URL is set (the embedded development cluster).

    The runtime never imports tooling: it knows the fallback only through this hook, or through the
    ``database.url_fallback`` entry point that the tooling distribution declares (so an app run in development, which
    imports only the runtime, still finds the embedded cluster). ``None`` clears it.
    """
    global _url_fallback
    _url_fallback = fallback


def _fallback() -> UrlFallback | None:
    if _url_fallback is None:
        from importlib.metadata import entry_points  # only in development: production sets a URL

        for entry in entry_points(group=FALLBACK_ENTRY_POINTS):
            register_url_fallback(entry.load())
            break
    return _url_fallback


def database_url(project: Project | None = None) -> str:
    """Resolve the admin database URL: configure() · $DATABASE_URL · [tool.dbtui] database_url · the fallback that
    tooling registered (the embedded development cluster)."""
    try:
        return database_url_if_set(project)
    except LookupError:
        pass
    fallback = _fallback()
    if fallback is None:
        raise ConfigError(
            "no database URL: set DATABASE_URL or database_url in [tool.dbtui] (the embedded development cluster "
            "comes with the dbtui tooling, which is not installed)"
        )
    return fallback(project or find_project())


# Greedy to the last '@' of the token: a password may hold a bare '@'.
_URL_PASSWORD = re.compile(r"(://[^:/?#@\s'\"]*:)[^\s'\"]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)
# Passwords of every URL check_url() saw, as any parser might quote them (longest first when masking).
_passwords: set[str] = set()


def _userinfo(url: str) -> tuple[str, str, str | None, str] | None:
    """``url`` as (``scheme://``, user, password or None, the rest after ``@``), found without parsing it: the user
    part ends at the last ``@`` before the query, as Python's urlsplit reads it (libpq stops at the first ``@``, and
    a URL that a parser rejects is exactly the one whose error would quote the password). None: no user part."""
    scheme, sep, rest = url.partition("://")
    query = rest.find("?")
    at = rest.rfind("@", 0, query if query >= 0 else len(rest))
    if not sep or at < 0:
        return None
    if "/" in rest[:at]:  # an '@' in the path, not in a password: the user part, if any, ends at the first '@'
        at = rest.find("@")
        if "/" in rest[:at]:
            return None
    user, colon, password = rest[:at].partition(":")
    return f"{scheme}://", user, password if colon else None, rest[at + 1 :]


def _remember_password(url: str) -> None:
    found = _userinfo(url)
    if found is None or not found[2]:
        return
    password = found[2]
    _passwords.update({password, unquote(password)})
    if "@" in password:  # libpq takes what follows the first '@' for the host, and quotes the host in its errors
        _passwords.add(password.split("@", 1)[1] + "@")


def scrub(text: str) -> str:
    """Any text (an error, a log line) with passwords replaced by ``***``: in URLs, in ``password=`` keywords, and
    the password of every URL the project was given, wherever a parser quoted it (a bad ``%``-escape token, the
    "host" after a bare ``@``). Everything we print about a database passes through here."""
    text = _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
    for password in sorted(_passwords, key=len, reverse=True):
        text = text.replace(password, "***@" if password.endswith("@") else "***")
    return text


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``: safe for logs, errors and the TUI header."""
    found = _userinfo(url)
    if found is None or found[2] is None:
        return url
    scheme, user, _, rest = found
    return f"{scheme}{user}:***@{rest}"
