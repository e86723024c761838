"""One module per area of the CLI; each has ``register(subparsers)`` and sets ``func`` on its parsers.

``COMMANDS`` names the module of every subcommand, so a run imports and registers only the module of the command it
runs (each module costs its imports and its parsers at start-up); ``--help``, a mistyped command and the TUI register
them all.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = ("db", "locks", "check", "migrations", "codegen", "schema")  # the order of ``dbtui --help``
COMMANDS = {
    "db": "db",
    "locks": "locks",
    "check": "check",
    "status": "migrations",
    "migrate": "migrations",
    "rollback": "migrations",
    "new-migration": "migrations",
    "codegen": "codegen",
    "watch": "codegen",
    "schema": "schema",
}


def modules(command: str | None = None) -> list[ModuleType]:
    """The command modules to register: the one of ``command`` when it is a known command, else all of them."""
    names = [COMMANDS[command]] if command in COMMANDS else MODULES
    return [importlib.import_module(f"dbtui.commands.{name}") for name in names]
