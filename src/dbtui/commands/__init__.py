"""One module per area of the CLI; each has ``register(subparsers)`` and sets ``func`` on its parsers."""

from dbtui.commands import check, codegen, db, locks, migrations, schema

COMMAND_MODULES = [db, locks, check, migrations, codegen, schema]
