"""Codegen: schema.sql and a typed async ORM from queries.sql (sqlc's query language), checked against a real database.

Stages, with plain dataclasses between them: ``parse`` (queries.sql → rewritten SQL and parameters), ``infer``
(types and nullability from a throwaway migrated database and the query structure), ``emit`` (the module).
``runner`` runs them once (``dbtui codegen``); ``watch`` reruns them on every save (``dbtui watch``, the TUI).
"""

from database.dev.codegen.errors import CodegenError
from database.dev.codegen.runner import Compiler, Output, Result, generate

__all__ = ["CodegenError", "Compiler", "Output", "Result", "generate"]
