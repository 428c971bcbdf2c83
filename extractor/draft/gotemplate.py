"""Emit YAML that carries Go-template (Helm/helmfile) expressions, without text templating.

Objects are ordinary dict trees in which some values are :class:`Tpl` (a scalar whose text is
partly a Go expression) or some keys are :class:`Block` (a whole line of template text, e.g.
``{{- include "x.imagePullSecrets" . | nindent 2 }}``). :func:`dump_template` serialises the tree
with :mod:`extractor.yamlio` while those nodes are unique placeholder tokens, then puts the
template text in place of exactly those tokens. Literal ``{{`` in the data is escaped so that
Helm renders the bundle's text unchanged; nothing else in the bundle content is touched.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from extractor import yamlio
from extractor.errors import EmitError

__all__ = ["Block", "Go", "Tpl", "contains_template", "dump_template", "escape_template_text", "go_string"]


@dataclass(frozen=True)
class Go:
    """A Go template action body, e.g. ``Go(".Release.Namespace")`` -> ``{{ .Release.Namespace }}``."""

    expr: str

    def render(self) -> str:
        return "{{ " + self.expr + " }}"


@dataclass(frozen=True)
class Tpl:
    """A YAML string scalar built from literal parts and :class:`Go` actions.

    Emitted double-quoted: literal parts are YAML-escaped, actions are inserted verbatim (they
    must not contain ``"`` or ``\\``; use helpers in ``_helpers.tpl`` for anything longer).
    ``Tpl(Go(".Release.Namespace"))`` -> ``"{{ .Release.Namespace }}"``.
    """

    parts: tuple[str | Go, ...]

    def __init__(self, *parts: str | Go) -> None:
        for part in parts:
            if isinstance(part, Go) and ('"' in part.expr or "\\" in part.expr):
                raise EmitError(f"Go action {part.expr!r} cannot be embedded in a quoted scalar")
        object.__setattr__(self, "parts", tuple(parts))

    def render(self) -> str:
        """The double-quoted scalar text. Literal parts render to themselves through Go's
        text/template: ``{{`` is escaped, and so is a ``{`` just before an action (``x{`` followed by
        ``{{ .Release.Namespace }}`` would otherwise open an action one character early)."""
        out = ['"']
        for index, part in enumerate(self.parts):
            if isinstance(part, Go):
                out.append(part.render())
                continue
            text = escape_template_text(_double_quote_body(part))
            following = self.parts[index + 1] if index + 1 < len(self.parts) else None
            if isinstance(following, Go) and text.endswith("{"):
                text = text[:-1] + '{{"{"}}'
            out.append(text)
        out.append('"')
        return "".join(out)


@dataclass(frozen=True)
class Block:
    """A mapping key standing for whole line(s) of template text at that key's indentation.

    The key's value is ignored (use ``None``). Multi-line text is indented line by line. As the
    first key of a list item, its first line follows the item's ``- `` and the others are
    indented to the item's keys.
    """

    text: str
    order: int = 0


def _double_quote_body(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


_TOKEN_PREFIX = "zzgotpl"
_TOKEN_RE = re.compile(rf"{_TOKEN_PREFIX}[0-9]+x")


def escape_template_text(text: str) -> str:
    """Make literal ``text`` render to itself through Go's text/template (escapes ``{{``).

    ``{{`` is the only sequence text/template acts on outside an action (``}}``, ``{{-``,
    ``{{/*`` and backticks all need an opening ``{{`` to mean anything).
    """
    return text.replace("{{", '{{"{{"}}')


def go_string(text: str) -> str:
    """``text`` as a Go string literal for use inside a template action (``"a\\"b"``).

    JSON's string escapes are a subset of Go's interpreted string literal escapes; non-ASCII text
    stays as UTF-8 (Go reads it as is; ``\\u`` surrogate pairs would not survive). Inside a string
    literal ``}}`` does not end the action, so any text is safe.
    """
    return json.dumps(text, ensure_ascii=False)


def contains_template(data: Any) -> bool:
    """True if ``data`` holds any :class:`Tpl` or :class:`Block` node."""
    if isinstance(data, Tpl | Block):
        return True
    if isinstance(data, dict):
        return any(contains_template(k) or contains_template(v) for k, v in data.items())
    if isinstance(data, list):
        return any(contains_template(v) for v in data)
    return False


def dump_template(data: Any) -> str:
    """Serialise ``data`` to YAML text, replacing :class:`Tpl` values and :class:`Block` keys.

    Returns text ending in a newline. Raises :class:`EmitError` if the data itself contains the
    placeholder token pattern (which would make the substitution ambiguous).
    """
    counter = itertools.count()
    scalars: dict[str, str] = {}
    blocks: dict[str, str] = {}

    def swap(node: Any) -> Any:
        if isinstance(node, Tpl):
            token = f"{_TOKEN_PREFIX}{next(counter)}x"
            scalars[token] = node.render()
            return token
        if isinstance(node, dict):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                if isinstance(key, Block):
                    token = f"{_TOKEN_PREFIX}{next(counter)}x"
                    blocks[token] = key.text
                    out[token] = None
                else:
                    out[key] = swap(value)
            return out
        if isinstance(node, list):
            return [swap(v) for v in node]
        if isinstance(node, str) and _TOKEN_RE.search(node):
            raise EmitError(f"value {node!r} collides with the template placeholder pattern")
        return node

    # Bundle text is data, not template: a literal "{{" (PrometheusRule descriptions, alm-examples...)
    # must reach the rendered manifest unchanged, so it is written as the Go action {{"{{"}}.
    text = escape_template_text(yamlio.dump(swap(data)))
    if not scalars and not blocks:
        return text
    lines = []
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip(" ")
        item = stripped.startswith("- ")  # a Block as the first key of a list item
        body = stripped[2:] if item else stripped
        head = body.split(":", 1)[0]
        if head in blocks and body.rstrip("\n") in (f"{head}: null", f"{head}:"):
            indent = line[: len(line) - len(stripped)]
            for index, block_line in enumerate(blocks[head].splitlines()):
                prefix = indent + ("- " if index == 0 else "  ") if item else indent
                lines.append(f"{prefix}{block_line}\n" if block_line else "\n")
            continue
        lines.append(_TOKEN_RE.sub(lambda m: scalars.get(m.group(0), m.group(0)), line))
    return "".join(lines)
