"""The files and documents of a file-based catalog, streamed (operator-registry ``declcfg``'s walk).

Files: every regular file under the root, in sorted order, except ``.indexignore`` files and what
their gitignore-style patterns match (``declcfg.walkFiles``; patterns apply below the directory of
their ``.indexignore``: ``#`` comments, ``!`` negation, ``*``/``?``/``[...]``/``**``, a trailing ``/``
for directories, a ``/`` inside anchoring to that directory; the last matching pattern wins, and
nothing below an ignored directory comes back).
Symbolic links are followed only when they stay inside the root.

Documents: a file whose first non-blank character is ``{`` is a stream of JSON objects (``opm
render`` output), anything else a stream of YAML documents (``yaml.NewYAMLOrJSONDecoder``). Both
are read incrementally: at most one document is held in memory at a time, never a whole file.
JSON documents are decoded with :meth:`json.JSONDecoder.raw_decode` (to find where each ends in
the stream); YAML documents go through :func:`extractor.yamlio.load` with its limits. A document
over :data:`MAX_DOCUMENT_BYTES` is refused.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from extractor import yamlio
from extractor.errors import CatalogError
from extractor.files import read_bounded

__all__ = ["INDEX_IGNORE", "MAX_DOCUMENT_BYTES", "Document", "catalog_files", "iter_documents"]

INDEX_IGNORE = ".indexignore"
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
"""Largest single FBC document accepted (an ``olm.bundle`` carrying its manifests is a few MiB)."""
_CHUNK = 256 * 1024
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_YAML_MARKER = re.compile(rb"^(?:---|\.\.\.)(?:[ \t]|\r?\n|$)")


@dataclass(frozen=True)
class Document:
    """One FBC document: ``where`` names its file (relative to the catalog root), index and line."""

    where: str
    data: Any


# -- .indexignore ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pattern:
    negate: bool
    dir_only: bool
    anchored: bool
    regex: re.Pattern[str]


def _translate(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i) and (i == 0 or glob[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2:]:
            end = glob.index("]", i + 2)
            body = glob[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def _patterns(text: str) -> list[_Pattern]:
    found = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        line = line[1:] if line.startswith("\\") else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if line:
            found.append(_Pattern(negate, dir_only, anchored, re.compile(_translate(line))))
    return found


def _ignored(rules: list[tuple[tuple[str, ...], list[_Pattern]]], parts: tuple[str, ...]) -> bool:
    """gitignore's rule: a file is ignored when one of its directories is, else when the last
    pattern matching the file itself is not a negation."""
    for depth in range(1, len(parts) + 1):
        is_dir = depth < len(parts)
        status = False
        for base, patterns in rules:
            if len(base) >= depth or parts[: len(base)] != base:
                continue
            rel = parts[len(base):depth]
            for pattern in patterns:
                if pattern.dir_only and not is_dir:
                    continue
                if pattern.regex.fullmatch("/".join(rel) if pattern.anchored else rel[-1]):
                    status = not pattern.negate
        if status or not is_dir:
            return status
    return False


def catalog_files(root: Path) -> Iterator[tuple[str, Path]]:
    """``(path relative to root, path)`` of every FBC file under ``root`` (sorted, see the module
    docstring); ``root`` may be a single file. Raises :class:`CatalogError` for a symbolic link
    leaving the root and for unreadable directories."""
    if root.is_file():
        yield root.name, root
        return
    real_root = root.resolve()
    rules: list[tuple[tuple[str, ...], list[_Pattern]]] = []

    def fail(exc: OSError) -> None:
        raise CatalogError(f"{exc.filename}: cannot read the catalog directory ({exc.strerror})")

    for directory, dirnames, filenames in os.walk(root, onerror=fail, followlinks=False):
        here = Path(directory)
        base = here.relative_to(root).parts
        dirnames.sort()
        if INDEX_IGNORE in filenames:
            where = "/".join((*base, INDEX_IGNORE))
            try:  # a regular file of bounded size: a FIFO or a link to a device is refused, not waited on
                text = read_bounded(here / INDEX_IGNORE, where=where, error=CatalogError).decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CatalogError(f"{where}: cannot read ({exc})") from None
            rules.append((base, _patterns(text)))
        for name in sorted(filenames):
            parts = (*base, name)
            rel = "/".join(parts)
            path = here / name
            if name == INDEX_IGNORE or _ignored(rules, parts):
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    raise CatalogError(f"{rel}: symbolic link to {os.readlink(path)!r} leaves the catalog")
                if not target.is_file():
                    continue
            elif not path.is_file():
                continue
            yield rel, path


# -- documents ---------------------------------------------------------------------------------
def _json_documents(handle: IO[bytes], rel: str) -> Iterator[Document]:
    decoder = json.JSONDecoder()
    text_decoder = codecs.getincrementaldecoder("utf-8-sig")()
    buffer, pos, lines_before, index, eof = "", 0, 0, 0, False

    def more(size: int) -> None:
        nonlocal buffer, pos, lines_before, eof
        if len(buffer) - pos > MAX_DOCUMENT_BYTES:
            raise CatalogError(f"{rel}: document {index + 1}: larger than {MAX_DOCUMENT_BYTES} bytes")
        data = handle.read(size)
        try:
            text = text_decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise CatalogError(f"{rel}: not UTF-8 text") from None
        lines_before += buffer.count("\n", 0, pos)
        buffer, pos, eof = buffer[pos:] + text, 0, not data

    while True:
        pos = _WHITESPACE.match(buffer, pos).end()  # type: ignore[union-attr]
        if pos >= len(buffer):
            if eof:
                return
            more(_CHUNK)
            continue
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as exc:
            if not eof:
                more(max(_CHUNK, len(buffer) - pos))  # the document may continue: read as much again
                continue
            line = lines_before + buffer.count("\n", 0, exc.pos) + 1
            raise CatalogError(f"{rel}: document {index + 1}: invalid JSON at line {line}: {exc.msg}") from None
        except RecursionError:
            raise CatalogError(f"{rel}: document {index + 1}: nesting too deep") from None
        line = lines_before + buffer.count("\n", 0, pos) + 1
        index += 1
        yield Document(f"{rel}: document {index} (line {line})", value)
        pos = end


def _yaml_chunks(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(first line, text)`` of each YAML document, split at ``---``/``...`` marker lines."""
    lines: list[bytes] = []
    start, number, size, content = 1, 0, 0, False
    for raw in handle:
        number += 1
        if _YAML_MARKER.match(raw):
            if content:
                yield start, b"".join(lines)
                lines, size, content = [], 0, False
            if not lines:
                start = number
            if raw.startswith(b"---"):
                lines.append(raw)  # "--- {inline}" keeps its content; directives stay with their document
            continue
        stripped = raw.strip()
        if stripped and not stripped.startswith((b"#", b"%")):
            content = True
        lines.append(raw)
        size += len(raw)
        if size > MAX_DOCUMENT_BYTES:
            raise CatalogError(f"document at line {start}: larger than {MAX_DOCUMENT_BYTES} bytes")
    if content:
        yield start, b"".join(lines)


def _yaml_documents(handle: IO[bytes], rel: str) -> Iterator[Document]:
    index = 0
    try:
        for start, text in _yaml_chunks(handle):
            index += 1
            where = f"{rel}: document {index} (line {start})"
            try:
                value = yamlio.load(text)
            except RecursionError:
                raise CatalogError(f"{where}: nesting too deep") from None
            except yaml.YAMLError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
                raise CatalogError(f"{where}: invalid YAML: {first}") from None
            except UnicodeDecodeError:
                raise CatalogError(f"{rel}: not UTF-8 text") from None
            if value is not None:
                yield Document(where, value)
    except CatalogError as exc:
        message = str(exc)
        raise CatalogError(message if message.startswith(rel) else f"{rel}: {message}") from None


def iter_documents(root: Path) -> Iterator[Document]:
    """Every document of every FBC file under ``root`` (a directory or one file), file by file in
    sorted order. Raises :class:`CatalogError` naming the file, document and line for unreadable
    files and invalid JSON/YAML."""
    for rel, path in catalog_files(root):
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise CatalogError(f"{rel}: cannot read ({exc.strerror})") from None
        with handle:
            first = b""
            while not first:  # the first character that is not white space decides
                block = handle.read(_CHUNK)
                if not block:
                    break
                first = block.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
            handle.seek(0)
            reader = _json_documents if first == b"{" else _yaml_documents
            yield from reader(handle, rel)
