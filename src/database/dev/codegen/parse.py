"""Stage 1: read ``queries.sql`` (sqlc's annotation language) into plain SQL with numbered parameters.

Statements are found with PostgreSQL's own lexer (pglast), so semicolons and ``@`` inside strings, comments and
dollar-quoted bodies are never mistaken for anything. Each statement is preceded by ``-- name: Name :kind``.
sqlc's parameter forms are rewritten to ``$n``:

- ``$1`` stays; ``@name``, ``sqlc.arg(name)`` and ``sqlc.narg(name)`` (may be NULL) get the next free numbers,
  one per distinct name;
- ``x IN (sqlc.slice(name))`` becomes ``x = ANY($n)`` (``NOT IN`` becomes ``<> ALL``), so the parameter is an array;
- ``sqlc.embed(t)`` in the select list becomes ``t.*`` and is remembered so the result gets a field holding t's row.

Replacements keep the statement's line breaks, so a server error position still maps to the right line.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from pglast import parser

from database.dev.codegen.errors import CodegenError
from database.dev.codegen.model import Embed, Param, Query
from database.dev.migration_tree import parse_error_at

KINDS = (
    "one",
    "many",
    "iter",
    "exec",
    "execrows",
    "execresult",
    "execlastid",
    "copyfrom",
    "batchexec",
    "batchone",
    "batchmany",
)
# ``-- name: Name :kind`` or ``/* name: Name :kind */`` (a block comment on one line), as sqlc reads them.
_ANNOTATION = re.compile(r"(?:--|/\*)\s*name:\s*(?P<rest>.*?)\s*(?:\*/)?\s*$", re.DOTALL)
_NAME_AND_KIND = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s+:(?P<kind>\w+)\s*")
_MACROS = ("arg", "narg", "slice", "embed")


def parse_queries(
    text: str, path: Path | str, memo: dict[str, Query | int] | None = None, warnings: list[str] | None = None
) -> list[Query]:
    """Every annotated query of the file, in order; a CodegenError at ``path:line`` for the first problem.

    A statement with no annotation is skipped, as sqlc does, with a ``path:line: warning:`` appended to
    ``warnings``. ``memo`` (watch mode): each statement's text (with its annotation) → its Query as if it began on
    line 1; a statement found there is not scanned again, only moved to its line. After a good parse it holds this
    file's statements only."""
    path = Path(path)
    try:
        slices = parser.split(text, with_parser=False, only_slices=True)
    except parser.ParseError as exc:
        message, line = parse_error_at(text, exc)
        raise CodegenError(f"cannot read: {message}", path=path, line=line) from None
    queries: list[Query] = []
    seen: dict[str, int] = {}
    parsed: dict[str, Query | int] = {}
    covered = 0
    line, counted = 1, 0  # the line of offset ``counted``
    for piece in slices:
        line, counted = line + text.count("\n", counted, piece.start), piece.start
        chunk = text[piece.start : piece.stop]
        known = memo.get(chunk) if memo is not None else None
        if known is None:
            query = _parse_statement(text, piece.start, piece.stop, path)
            known = query if isinstance(query, int) else _moved_down(query, 1 - line)
        else:
            query = known if isinstance(known, int) else _moved_down(known, line - 1)
        parsed[chunk] = known
        _no_stray_annotation(text, covered, piece.start, path)
        covered = piece.stop
        if isinstance(query, int):  # no annotation: the offset of its first token
            if warnings is not None:
                warnings.append(
                    f"{path}:{_line(text, piece.start + query)}: warning: statement has no "
                    "'-- name: Name :kind' annotation; skipped (as sqlc does)"
                )
            continue
        if query.name in seen:
            raise CodegenError(
                f"duplicate query name {query.name!r} (first at line {seen[query.name]})", path=path, line=query.line
            )
        seen[query.name] = query.line
        queries.append(query)
    _no_stray_annotation(text, covered, len(text), path)
    if not queries:
        raise CodegenError("no queries: annotate a statement as '-- name: Name :one'", path=path, line=1)
    if memo is not None:
        memo.clear()
        memo.update(parsed)
    return queries


def _moved_down(query: Query, lines: int) -> Query:
    return dataclasses.replace(query, line=query.line + lines, sql_line=query.sql_line + lines) if lines else query


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def _no_stray_annotation(text: str, start: int, stop: int, path: Path) -> None:
    """An annotation that is followed by no statement (for example, the last one of the file) is a mistake; so is
    one followed by text the splitter did not take for a statement (``SELEC 1;``): its syntax error is reported."""
    if "name:" not in text[start:stop]:  # the usual gap: white space and a semicolon
        return
    tokens = parser.scan(text[start:stop])
    for index, token in enumerate(tokens):
        annotation = _ANNOTATION.match(text[start + token.start : start + token.end + 1])
        if token.name in ("SQL_COMMENT", "C_COMMENT") and annotation:
            after = tokens[index + 1 :]
            words = [t for t in after if t.name not in ("SQL_COMMENT", "C_COMMENT", "ASCII_59")]
            if words:
                at = start + words[0].start
                ends = [start + t.start for t in after if t.name == "ASCII_59" and start + t.start > at]
                statement = text[at : ends[0] if ends else stop]
                try:
                    parser.parse_sql(statement)
                except parser.ParseError as exc:
                    message, line = parse_error_at(statement, exc)
                    found = _NAME_AND_KIND.match(annotation.group("rest"))
                    named = f"{found.group('name')}: " if found else ""
                    raise CodegenError(named + message, path=path, line=_line(text, at) + line - 1) from None
            raise CodegenError(
                "'-- name:' annotation with no statement after it", path=path, line=_line(text, start + token.start)
            )


def _parse_statement(text: str, start: int, stop: int, path: Path) -> Query | int:
    """The annotated statement ``text[start:stop]``; for one with no annotation, the offset of its SQL in the chunk."""
    chunk = text[start:stop]
    tokens = parser.scan(chunk)
    annotation: tuple[str, int] | None = None
    comments: list[str] = []  # the "--" lines after the annotation: the method's docstring, as sqlc does
    body = 0
    for index, token in enumerate(tokens):
        if token.name not in ("SQL_COMMENT", "C_COMMENT"):
            body = index
            break
        comment = chunk[token.start : token.end + 1]
        if _ANNOTATION.match(comment):
            if annotation is not None:
                raise CodegenError(
                    "two '-- name:' annotations for one statement", path=path, line=_line(text, start + token.start)
                )
            annotation = (comment, start + token.start)
        elif annotation is not None and token.name == "SQL_COMMENT":
            comments.append(comment[2:].strip())
    else:
        body = len(tokens)
    sql_start = start + tokens[body].start if body < len(tokens) else stop
    if annotation is None:
        return sql_start - start
    comment, at = annotation
    line = _line(text, at)
    rest = _ANNOTATION.match(comment).group("rest").strip()  # type: ignore[union-attr]
    found = _NAME_AND_KIND.fullmatch(rest)
    if not found:
        raise CodegenError(f"expected '-- name: Name :kind', got '-- name: {rest}'", path=path, line=line)
    name, kind = found.group("name"), found.group("kind")
    if kind not in KINDS:
        raise CodegenError(
            f"unknown query kind ':{kind}' (expected one of {', '.join(':' + k for k in KINDS)})", path=path, line=line
        )
    source = text[sql_start:stop].rstrip()
    rewritten, params, embeds = _rewrite(
        source, [t for t in tokens[body:]], start - sql_start, path, _line(text, sql_start)
    )
    return Query(name, kind, line, _line(text, sql_start), source, rewritten, params, embeds, tuple(comments))


class _Rewriter:
    """Collects parameters and replacements while walking one statement's tokens."""

    def __init__(self, source: str, path: Path, first_line: int) -> None:
        self.source = source
        self.path = path
        self.first_line = first_line
        self.params: dict[int, Param] = {}
        self.named: dict[str, int] = {}
        self.edits: list[tuple[int, int, str]] = []  # (start, stop, replacement)
        self.embeds: list[tuple[str, int]] = []  # (table, start in source)

    def error(self, message: str, offset: int) -> CodegenError:
        return CodegenError(message, path=self.path, line=self.first_line + self.source.count("\n", 0, offset))

    def named_param(self, name: str, offset: int, *, nullable: bool = False, is_slice: bool = False) -> int:
        number = self.named.get(name)
        if number is None:
            number = max(self.params, default=0) + 1
            self.named[name] = number
            self.params[number] = Param(number, name, nullable, is_slice)
            return number
        known = self.params[number]
        if (known.nullable, known.is_slice) != (nullable, is_slice):
            raise self.error(f"parameter {name!r} is used in two different forms", offset)
        return number

    def replace(self, start: int, stop: int, text: str) -> None:
        """Replace ``source[start:stop]``, keeping its line breaks so later lines do not move."""
        self.edits.append((start, stop, text + "\n" * self.source.count("\n", start, stop)))


def _rewrite(source: str, tokens: list, shift: int, path: Path, first_line: int):
    """Rewrite sqlc's parameter forms to ``$n``; token offsets are relative to the chunk, ``shift`` moves them."""
    toks = [
        (t.start + shift, t.end + shift + 1, t.name, source[t.start + shift : t.end + shift + 1])
        for t in tokens
        if t.start + shift < len(source)
    ]
    rw = _Rewriter(source, path, first_line)
    # Positional parameters keep their numbers; named ones are numbered after the highest of them.
    for _start, _, name, text in toks:
        if name == "PARAM":
            number = int(text[1:])
            rw.params.setdefault(number, Param(number))
    i = 0
    while i < len(toks):
        start, stop, name, text = toks[i]
        if name == "Op" and text == "@" and i + 1 < len(toks) and toks[i + 1][0] == stop and _is_word(toks[i + 1]):
            number = rw.named_param(_word(toks[i + 1][3]), start)
            rw.replace(start, toks[i + 1][1], f"${number}")
            i += 2
            continue
        if text.lower() == "sqlc" and i + 1 < len(toks) and toks[i + 1][3] == ".":
            i = _macro(rw, toks, i)
            continue
        i += 1
    out, last = [], 0
    for start, stop, text in sorted(rw.edits):
        out.append(source[last:start])
        out.append(text)
        last = stop
    out.append(source[last:])
    rewritten = "".join(out)
    embeds = tuple(Embed(table, _moved(rw.edits, at)) for table, at in rw.embeds)
    return rewritten, tuple(rw.params[n] for n in sorted(rw.params)), embeds


def _moved(edits: list[tuple[int, int, str]], offset: int) -> int:
    """Where ``offset`` of the source lands in the rewritten text."""
    return offset + sum(len(text) - (stop - start) for start, stop, text in edits if stop <= offset)


def _is_word(tok: tuple) -> bool:
    return tok[2] in ("IDENT", "SCONST") or tok[3].replace("_", "a").isalnum()


def _word(text: str) -> str:
    """A name as written: ``"Quoted"`` and ``'quoted'`` (sqlc's form) keep their case, bare words are folded."""
    if text[:1] in ('"', "'") and text[-1:] == text[:1]:
        return text[1:-1].replace(text[0] * 2, text[0])
    return text.lower()


def _macro(rw: _Rewriter, toks: list, i: int) -> int:
    """``sqlc.<macro>(<name>)`` at token ``i`` (``sqlc.embed(schema.table)`` too); returns the index after it."""
    start = toks[i][0]
    shape = [t[3] for t in toks[i + 1 : i + 4]]
    close = i + 4
    while close < len(toks) and toks[close][3] not in (")", "("):
        close += 1
    inner = toks[i + 4 : close]
    names = [t for k, t in enumerate(inner) if k % 2 == 0]
    well_formed = (
        len(shape) == 3
        and shape[2] == "("
        and close < len(toks)
        and toks[close][3] == ")"
        and names
        and all(_is_word(t) for t in names)
        and all(t[3] == "." for k, t in enumerate(inner) if k % 2)
        and len(inner) % 2 == 1
    )
    if not well_formed:
        raise rw.error("expected sqlc.arg(name), sqlc.narg(name), sqlc.slice(name) or sqlc.embed(table)", start)
    macro, parts = shape[1].lower(), [_word(t[3]) for t in names]
    arg, stop = parts[-1], toks[close][1]
    if macro not in _MACROS:
        raise rw.error(f"unknown macro sqlc.{macro} (expected one of {', '.join('sqlc.' + m for m in _MACROS)})", start)
    if len(parts) > (2 if macro == "embed" else 1):
        raise rw.error(f"sqlc.{macro} takes one name, not {'.'.join(parts)}", start)
    if macro == "embed":
        rw.replace(start, stop, ".".join(_quote(p) for p in parts) + ".*")
        rw.embeds.append((".".join(parts), start))
    elif macro == "slice":
        number = rw.named_param(arg, start, is_slice=True)
        before = [t[3].upper() for t in toks[max(i - 3, 0) : i]]
        after = toks[close + 1] if close + 1 < len(toks) else None
        if before[-2:] in (["ANY", "("], ["ALL", "("], ["SOME", "("]):
            rw.replace(start, stop, f"${number}")
        elif before[-2:] == ["IN", "("] and after is not None and after[3] == ")":
            negated = len(before) == 3 and before[0] == "NOT"
            first = toks[i - 3 if negated else i - 2][0]
            rw.replace(first, after[1], f"{'<> ALL' if negated else '= ANY'}(${number})")
            return close + 2
        else:
            raise rw.error(
                f"sqlc.slice({arg}) must be written as 'IN (sqlc.slice({arg}))' or '= ANY(sqlc.slice({arg}))'", start
            )
    else:
        number = rw.named_param(arg, start, nullable=macro == "narg")
        rw.replace(start, stop, f"${number}")
    return close + 1


def _quote(identifier: str) -> str:
    return identifier if re.fullmatch(r"[a-z_][a-z0-9_$]*", identifier) else '"' + identifier.replace('"', '""') + '"'
