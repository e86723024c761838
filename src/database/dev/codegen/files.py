"""Writing the outputs: atomically, the ORM only once it compiles, and with bytecode that cannot go stale.

Python checks a timestamp ``.pyc`` against its source by whole-second mtime and size, so an ``orm.py`` rewritten
within the same second with the same size would load the old bytecode in the next process. ``write_atomic(…,
bytecode=True)`` writes the new source's bytecode itself, hash-checked (PEP 552), before the source replaces the old one: whatever
a process imports at any moment, the interpreter compares the source's hash and never runs old code.
"""

from __future__ import annotations
import __future__

import contextlib
import importlib.util
import os
from pathlib import Path

from database.errors import DbtuiError


def validate_module(
    source: str, name: str, parts: tuple[str, ...] = (), compiled: frozenset[str] = frozenset()
) -> None:
    """Byte-compile the generated module before it replaces the old one: never write one that cannot load.

    With its ``parts`` (``emit.Module.parts``), only those not in ``compiled`` (known good) are compiled, and the
    whole source only to locate a failure."""
    flags = __future__.annotations.compiler_flag  # the parts are compiled as the module's first line says
    try:
        for part in parts or (source,):
            if part not in compiled:
                compile(part, name, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:  # a bug in the emitter: keep the old file and say where
        line = None
        try:
            compile(source, name, "exec", flags=flags, dont_inherit=True)
        except SyntaxError as whole:
            line = whole.lineno
        raise DbtuiError(
            f"generated module does not compile ({exc.msg}); the old file is kept", path=name, line=line
        ) from None


def write_atomic(path: Path, text: str | bytes, *, bytecode: bool | bytes = False, lazy: bool = False) -> bool:
    """Write through a temporary file in the same folder and rename it over ``path``: readers never see half a file.

    ``bytecode`` (a Python module): first write the new text's hash-checked ``.pyc`` where the import system looks
    for it (``__pycache__`` or ``sys.pycache_prefix``), so no process ever runs bytecode of an older text; given as
    bytes (a .pyc made before for this text and path), those are written instead of compiling again. ``lazy``: when
    the ``.pyc`` there is hash-checked already, leave it (an importer finds its hash differs from the new text's,
    compiles the text and writes a hash-checked ``.pyc`` again): watch mode does not compile the whole module on
    every save. Returns True when it wrote the new text's bytecode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = str(path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"))
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # (tempfile costs ~10 ms to import)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(text.encode() if isinstance(text, str) else text)
        wrote = False
        if isinstance(bytecode, bytes):
            with contextlib.suppress(OSError):
                write_atomic(Path(importlib.util.cache_from_source(str(path))), bytecode)
                wrote = True
        elif bytecode and not (lazy and has_checked_bytecode(path)):
            wrote = _write_bytecode(temporary, path)
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return wrote


def has_checked_bytecode(path: Path) -> bool:
    """True when the ``.pyc`` the import system reads for ``path`` is hash-checked (PEP 552 flags 0b11) for this
    interpreter: whatever text replaces ``path``, an importer compares hashes before running that bytecode."""
    try:
        with open(importlib.util.cache_from_source(str(path)), "rb") as file:
            header = file.read(8)
    except OSError:
        return False
    return header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:8], "little") == 0b11


def _write_bytecode(source: str, path: Path) -> bool:
    import py_compile  # (imports traceback & co.: only when there is no stored bytecode to write)

    try:
        py_compile.compile(
            source,
            cfile=importlib.util.cache_from_source(str(path)),
            dfile=str(path),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except OSError:
        return False  # e.g. a read-only __pycache__: the interpreter compiles the source itself, and keeps checking by
        # hash any .pyc this function wrote before
    return True
