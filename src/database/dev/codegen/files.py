"""Writing the outputs: atomically, the ORM only once it compiles, and with bytecode that cannot go stale.

Python checks a timestamp ``.pyc`` against its source by whole-second mtime and size, so an ``orm.py`` rewritten
within the same second with the same size would load the old bytecode in the next process. The ORM is written with a
hash-checked ``.pyc`` (PEP 552) in place before the source replaces the old one: whatever a process imports at any
moment, the interpreter compares the source's hash and never runs old code. That ``.pyc`` is the new text's
(``compile_module``: the one compile that also checks the module), or, in watch mode, whatever hash-checked ``.pyc`` is
there already (``has_checked_bytecode``): an importer finds its hash differs, compiles the text and writes a
hash-checked ``.pyc`` again, so a save does not byte-compile the whole module.
"""

from __future__ import annotations
import __future__

import contextlib
import importlib.util
import marshal
import os
from pathlib import Path

from database.errors import DbtuiError

# The header flags of a hash-based .pyc whose source is checked on import (PEP 552).
_CHECKED_HASH = 0b11


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


def compile_module(source: str, path: Path, name: str) -> bytes:
    """The hash-checked ``.pyc`` of ``source`` to be written at ``path``, as the import system would compile it; a
    module that does not compile is refused (``name``: the path to report) and the old file is kept."""
    data = source.encode()
    try:
        code = compile(data, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:  # a bug in the emitter
        raise DbtuiError(
            f"generated module does not compile ({exc.msg}); the old file is kept", path=name, line=exc.lineno
        ) from None
    header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH.to_bytes(4, "little") + importlib.util.source_hash(data)
    return header + marshal.dumps(code)


def has_checked_bytecode(path: Path) -> bool:
    """True when the ``.pyc`` the import system reads for ``path`` is hash-checked for this interpreter: whatever
    text replaces ``path``, an importer compares hashes before running that bytecode."""
    try:
        with open(importlib.util.cache_from_source(str(path)), "rb") as file:
            header = file.read(8)
    except OSError:
        return False
    return header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:8], "little") == _CHECKED_HASH


def write_atomic(path: Path, text: str | bytes, *, bytecode: bool | bytes | None = False) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``: readers never see half a file.

    ``bytecode`` (a Python module): first write the new text's hash-checked ``.pyc`` where the import system looks
    for it (``__pycache__`` or ``sys.pycache_prefix``), so no process ever runs bytecode of an older text; given as
    bytes (``compile_module``'s, or a .pyc made before for this text and path), those are written."""
    write_together({path: (text, bytecode)})


def write_together(files: dict[Path, tuple[str | bytes, bool | bytes | None]]) -> None:
    """``write_atomic`` for several files (path → text, bytecode): every temporary file is written before the first
    rename, so a folder that cannot be written or a full disk replaces none of them (schema.sql and orm.py stay a
    pair); a DbtuiError names the file."""
    if not files:
        return
    ready: list[tuple[str, Path]] = []
    path = next(iter(files))
    try:
        for path, (text, bytecode) in files.items():
            ready.append((_temporary(path, text, bytecode), path))
        for temporary, path in ready:
            os.replace(temporary, path)
    except OSError as exc:
        kept = "; the old file is kept" if path.exists() else ""
        raise DbtuiError(f"cannot write {path}: {exc.strerror or exc}{kept}") from None
    finally:
        for temporary, _ in ready:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _temporary(path: Path, text: str | bytes, bytecode: bool | bytes | None) -> str:
    """The temporary file that will replace ``path`` (its .pyc, if any, already in place): see ``write_atomic``."""
    if bytecode is True:
        assert isinstance(text, str)
        bytecode = compile_module(text, path, path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = str(path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"))
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # (tempfile costs ~10 ms to import)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(text.encode() if isinstance(text, str) else text)
        if bytecode:
            with contextlib.suppress(DbtuiError, OSError):  # e.g. a read-only __pycache__: the interpreter compiles
                # the source itself, and keeps checking by hash any .pyc written here before
                write_atomic(Path(importlib.util.cache_from_source(str(path))), bytecode)
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary
