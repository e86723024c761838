"""``dbtui``: every TUI action as a subcommand; no subcommand opens the TUI.

Each area of the tool registers its subcommands from a module in ``dbtui.commands``; this module holds what they
share: global options, the run context, and turning errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from database.config import scrub
from database.errors import DbtuiError, first_line
from dbtui import commands, exit_codes
from dbtui.context import Context


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as our one-line format and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(scrub(f"dbtui: error: {message} (see 'dbtui --help')") + "\n")  # it may quote a URL
        raise SystemExit(exit_codes.USAGE)


# Global options that take a value: the word after one is not the command.
_VALUED = ("--project", "--database-url")


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand word of ``argv`` (the first that is neither a global option nor an option's value), if any;
    ``--proj DIR`` is ``--project DIR`` (argparse takes unambiguous abbreviations)."""
    words = iter(argv)
    for word in words:
        if word.startswith("--") and len(word) > 2 and any(option.startswith(word) for option in _VALUED):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; given the ``command`` about to run, with only that command's module registered."""
    parser = _Parser(prog="dbtui", description="Develop a Postgres schema: migrations, codegen, conventions, locks.")
    parser.add_argument(
        "--project", type=Path, metavar="DIR", help="project folder (default: found from the working directory)"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="database to use (default: $DATABASE_URL, then [tool.dbtui], then the embedded cluster)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in commands.modules(command):
        module.register(sub)
    return parser


class _NoticeHandler(logging.Handler):
    """Warnings the database packages log (a new cluster created, …): one scrubbed line each on stderr, written to
    the ``sys.stderr`` of the moment (the TUI captures it)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(scrub(record.getMessage()) + "\n")


def _show_notices() -> None:
    logger = logging.getLogger("database")
    if not any(isinstance(h, _NoticeHandler) for h in logger.handlers):
        handler = _NoticeHandler(logging.WARNING)
        logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dbtui`` console script; returns the exit code."""
    from database.dev.timing import mark

    mark("main")
    _show_notices()
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(command_of(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    ctx = Context(project_dir=args.project, database_url=args.database_url)
    from database.dev import server  # stdlib only: names this command in the record of a server it starts

    server.set_starter(
        " ".join(["dbtui", args.command or "(TUI)", *([args.db_command] if args.command == "db" else [])])
    )
    try:
        if args.command is None:
            from dbtui.app import run_app

            return run_app(ctx)
        return int(args.func(args, ctx) or 0)
    except DbtuiError as exc:
        if args.debug:
            sys.stderr.write(scrub(traceback.format_exc()))
        sys.stderr.write(scrub(f"dbtui: error: {exc}") + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("dbtui: interrupted\n")
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        return exit_codes.OK
    except Exception as exc:
        if args.debug:
            sys.stderr.write(scrub(traceback.format_exc()))
        if _is_connection_error(exc):
            sys.stderr.write(scrub(f"dbtui: error: cannot connect to the database: {first_line(exc)}") + "\n")
            return exit_codes.USAGE
        # a bug of ours: still one line unless --debug
        sys.stderr.write(
            scrub(f"dbtui: error: {type(exc).__name__}: {first_line(exc)} (run with --debug for details)") + "\n"
        )
        return exit_codes.USAGE
    finally:
        server.set_starter(None)


def run() -> NoReturn:
    """The program (console script, ``python -m dbtui.cli``): ``main``, then exit without the collector's last full
    passes over every object the run made. Freezing them (``gc.freeze``) takes ~0.1 s off every command's exit,
    a fifth of a ``dbtui codegen`` that asks the database (docs/codegen.md); objects are still freed as their
    modules are torn down, so connections and files close as before. Not in ``main``: a caller that stays alive
    (the tests) must keep collecting.

    ``dbtui codegen`` runs with the collector off from the start (``runner.collector_paused`` pauses it for the
    compile; turned on again at its end, the collector would first walk every object the compile made: ~30 ms)."""
    if command_of(sys.argv[1:]) == "codegen":
        gc.disable()
    code = main()
    gc.freeze()
    raise SystemExit(code)


def _is_connection_error(exc: BaseException) -> bool:
    """psycopg's OperationalError (server down, refused, unknown database…), without importing psycopg here."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


if __name__ == "__main__":
    run()
