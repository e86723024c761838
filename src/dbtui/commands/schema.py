"""``dbtui schema [--annotated] [--json]``: the schema with its descriptions, for people and coding assistants."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "schema",
        help="tables, columns, keys, indexes (with descriptions)",
        description="Show the database's tables, columns, keys and indexes with the descriptions from "
        "schema_annotations.yaml. --annotated prints schema.sql with the descriptions as SQL comments.",
    )
    parser.add_argument(
        "--annotated",
        action="store_true",
        help="print schema.sql with each table's and column's description as an SQL comment",
    )
    parser.add_argument("--json", action="store_true", help="print tables, columns and descriptions as JSON")
    parser.set_defaults(func=_schema)


def _schema(args: argparse.Namespace, ctx: Context) -> int:
    # imported when used, like every command's dependencies: fast start-up
    from database.dev.annotations import load_annotations
    from database.dev.catalog import read_catalog
    from database.dev.schema_view import annotated_schema, schema_data, schema_text

    project = ctx.project
    if args.annotated and not args.json:
        url = None if project.schema.is_file() else ctx.url()
        sys.stdout.write(annotated_schema(project, url))
        return 0
    annotations = load_annotations(project.annotations)
    catalog = read_catalog(ctx.url())
    if args.json:
        print(json.dumps(schema_data(catalog, annotations), indent=2))
    else:
        print(schema_text(catalog, annotations))
    return 0
