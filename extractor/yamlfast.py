"""A faster path for :mod:`extractor.yamlio`'s loaders: large single-document YAML through yaml-rs.

yaml-rs (a YAML 1.2 parser written in Rust) builds Python data about six times faster than
libyaml's composer plus the Python conversion. It is used only where it gives exactly the data the
PyYAML path gives; everything else goes the PyYAML way, which stays the reference (and words the
errors). :func:`load_fast` returns :data:`NOT_HANDLED` for:

- text shorter than :data:`MIN_CHARS` (:data:`LOADED_MIN_CHARS` once the extension is loaded),
  longer than the node limit allows, bytes that are not BOM-less UTF-8, no final line break;
- anything but exactly one document (``---`` only as the first marker, no ``...``), directives;
- constructs the two schemas or parsers read differently, where a node may begin (after
  indentation and block indicators, after ``: ``, and inside flow collections): tags, anchors
  (libyaml allows fewer anchor names; PyYAML shares aliased objects and refuses cycles), numbers
  only YAML 1.2 or yaml-rs read as numbers (``1_000``, ``_1``, ``0b1``, ``0X1F``, ``0O7``,
  ``-0x1``); inside flow collections also ``?`` (always a key indicator for libyaml), pairs without
  value, characters that start no plain scalar for libyaml, lines continuing with an indicator;
- characters libyaml refuses or reads as line breaks (control characters, NEL, LS, PS, CR, BOM),
  an empty block scalar at the end of the text;
- a parse error, an empty document, a key that is not a scalar (or is null), too deep nesting.

The checks find the few characters that can start such a construct with C-speed searches and look
at each one's context. What looks like a tag or an anchor outside flow collections (``!= 'x'`` or
``&& has(y)`` continuing a quoted CEL rule) is verified after parsing instead (:func:`_verified`).
A false alarm only costs the slower path. ``tests/test_yamlfast.py`` compares both paths on every
YAML file of the real bundles and corpus, and on seeded random texts built from YAML's indicators.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["LOADED_MIN_CHARS", "MIN_CHARS", "NOT_HANDLED", "load_fast", "may_nest_deeper_than"]

MIN_CHARS = 32 * 1024
"""Shorter text goes the PyYAML way until the extension is loaded: importing it costs more."""
LOADED_MIN_CHARS = 4 * 1024
"""Once it is loaded, from this size on the fast path costs less than libyaml plus the conversion."""

NOT_HANDLED: Any = object()
"""Returned by :func:`load_fast` when the PyYAML path must load the text."""

_TOKEN = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.+-")
_NOT_ANCHOR_NAME = frozenset(" \t\n[]{},")
#: numbers only YAML 1.2 or yaml-rs read as numbers: 1_000, _1, 0b1, 0X1F, 0O7, -0x1
_NUMBER = (r"[-+._0-9][0-9a-zA-Z_.+-]*_[0-9a-zA-Z_.+-]*|_[0-9a-zA-Z_.+-]*"
           r"|[-+]?0[bBXO][0-9a-zA-Z_.+-]*|[-+]0[xXoO][0-9a-zA-Z_.+-]*")
_NODE_END = r"[ \t]*(?:#|\n|$|[,\]}]|:(?:[ \t\n]|$))"
_FLOW_START = r"[\[{,:](?:[ \t\n]|#[^\n]*)*"  # where a node may begin inside a flow collection
_REFUSED_IN_FLOW = (
    _FLOW_START + r"(?:!|&[^\s\[\]{},]|(?:" + _NUMBER + ")" + _NODE_END + ")"  # as outside, see _unsupported
    r"|:[\]},]"  # a pair without value ([a:]), which libyaml refuses
    r"|" + _FLOW_START + "[?|>:@`%]"  # "?" is always a key indicator for libyaml; the others start no scalar
    r"|\n[ \t]*[*&!?|>:@`%-]"  # a continuation line starting with an indicator: scanned differently
)
_SOURCES = (
    r"^(?:---|\.\.\.)(?=[ \t\n]|$)",  # document markers
    r"(?:[ \t]*(?:#[^\n]*)?\n)*",  # blank and comment lines
    r"0[bBXOxXoO]",  # where a number form of _NUMBER may be, besides "_", "+0", "-0" (a literal prefix: fast)
    "(?:" + _NUMBER + ")",
    _NODE_END,
    r"(?:[ \t]*[-?:](?=[ \t]|$))*[ \t]*|(?:---[ \t]+)(?:[ \t]*[-?:][ \t]+)*[ \t]*",  # block indicators only
    _REFUSED_IN_FLOW,
    r"[\x00-\x08\x0b\x0c\r\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]",
    r"[|>][-+0-9]*[ \t]*(?:#.*)?\Z",  # a block scalar header ending the text
    r"[\[\]{}'\"#]",  # what matters when looking for the end of a flow collection
    r"[0-9a-zA-Z_.+-]*",  # a token that could be a number
    r"[^\s'\",\[\]{}]*",  # the rest of what may be a tag or an anchor
    r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(/)|(\n))",  # escapes that could forge one
)
_ASCII_ALLOWED = b"\t\n" + bytes(range(0x20, 0x7F))
_patterns: tuple[re.Pattern[str], ...] | None = None
_SCALAR_TYPES = (str, int, float, bool, type(None))
_loads: Any = None


def _parser() -> Any:
    """yaml-rs's ``loads`` with the options matching the PyYAML path, or ``None`` when missing."""
    global _loads
    if _loads is None:
        try:
            import yaml_rs
        except ImportError:  # pragma: no cover  (a dependency; without it everything goes the PyYAML way)
            _loads = False
        else:
            last_wins = yaml_rs.DuplicateKeyPolicy.LastWins

            def loads(text: str) -> Any:
                return yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=last_wins)

            _loads = loads
    return _loads or None


def _compiled() -> tuple[re.Pattern[str], ...]:
    """:data:`_SOURCES`, compiled on first use (small documents never need them)."""
    global _patterns
    if _patterns is None:
        _patterns = tuple(re.compile(source, re.MULTILINE) for source in _SOURCES)
    return _patterns


def _positions(text: str, *needles: str) -> list[int]:
    """Every position of each of ``needles`` in ``text``, in order (``str.find``: C speed)."""
    found: list[int] = []
    for needle in needles:
        index = text.find(needle)
        while index != -1:
            found.append(index)
            index = text.find(needle, index + 1)
    return sorted(found)


class _Lines:
    """Line starts of ``text`` for positions visited in increasing order (each line found once)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.start, self.end = 0, -1

    def start_of(self, position: int) -> int:
        if not self.start <= position <= self.end:
            self.start = self.text.rfind("\n", 0, position) + 1
            end = self.text.find("\n", position)
            self.end = len(self.text) if end == -1 else end
        return self.start


def _node_starts(text: str, position: int, lines: _Lines, indicators: re.Pattern[str]) -> bool:
    """Whether a node may begin at ``position`` outside flow collections (inside them
    :data:`_REFUSED_IN_FLOW` looks): after indentation and block indicators (``- ``, ``? ``, ``: ``,
    ``--- ``) at the start of its line, or after ``: `` (a superset: a false alarm only costs the
    slower path)."""
    line = lines.start_of(position)
    before = position
    while before > line and text[before - 1] in " \t":
        before -= 1
    return (before == line or (before < position and text[before - 1] == ":")
            or indicators.fullmatch(text, line, position) is not None)


def _opens_flow(text: str, position: int, lines: _Lines, indicators: re.Pattern[str]) -> bool:
    """Whether the ``[``/``{`` at ``position`` opens a flow collection that is not empty: at column 0,
    after block indicators or ``:`` on its line, or first on a line after a line ending a key or a
    ``-``. An indented line that merely starts with ``[`` continues a scalar."""
    after = position + 1
    while after < len(text) and text[after] in " \t":
        after += 1
    if text[after:after + 1] in ("]", "}"):
        return False  # [] or {}: nothing inside to check
    line = lines.start_of(position)
    indented = position
    while indented > line and text[indented - 1] in " \t":
        indented -= 1
    if position == line or (indented > line and _node_starts(text, position, lines, indicators)):
        return True
    if indented > line:
        return False
    end = line - 1  # the previous line that is neither blank nor only a comment
    while end >= 0:
        start = text.rfind("\n", 0, end) + 1
        content = text[start:end].split(" #", 1)[0].strip(" \t")
        if content and not content.startswith("#"):
            return content.endswith(":") or content == "---" or not content.strip("-? ")
        end = start - 1
    return True  # the first content of the text


def _flow_end(text: str, start: int, special: re.Pattern[str]) -> int:
    """Where the flow collection opening at ``start`` closes (past its bracket), skipping quoted
    scalars and comments; the end of ``text`` when it never closes. ``special``: the characters that
    matter here (brackets, quotes, ``#``), so that the scan jumps between them at C speed."""
    depth, size = 0, len(text)
    found = special.search(text, start)
    while found is not None:
        index = found.start()
        char = text[index]
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
        elif char == "'":
            close = text.find("'", index + 1)
            while close != -1 and text.startswith("''", close):
                close = text.find("'", close + 2)
            index = size if close == -1 else close
        elif char == '"':
            close = index + 1
            while close < size and text[close] != '"':
                close += 2 if text[close] == "\\" else 1
            index = close
        elif index > 0 and text[index - 1] in " \t\n":  # "#" starting a comment
            newline = text.find("\n", index)
            index = size if newline == -1 else newline
        found = special.search(text, index + 1)
    return size


def _unsupported(text: str, characters_checked: bool = False, properties: set[str] | None = None) -> bool:
    """True when ``text`` holds a construct the module docstring lists (or might: a false alarm only
    costs the slower path). Finds the few characters that can start one with C-speed searches,
    then looks at each one's context, instead of trying a regex at every position (ten times
    faster on CRDs). ``characters_checked``: the caller has already refused the characters.
    ``properties``: when given, what looks like a tag or an anchor where a node may begin outside
    flow collections (``!=`` continuing a quoted CEL rule, say) is added to it (the text from the
    ``!``/``&`` up to a space, quote or bracket) instead of refusing the text: see :func:`_verified`."""
    (_, _, candidates, number, node_end, indicators, refused_in_flow, characters, header, special, token,
     property_text, _) = _compiled()
    if text.startswith("%") or "\n%" in text or (not characters_checked and characters.search(text) is not None):
        return True
    last = text.rstrip(" \t\n")
    if header.search(last, last.rfind("\n") + 1) is not None:
        return True  # an empty block scalar ending the text: libyaml and yaml-rs end it differently
    lines = _Lines(text)
    for position in _positions(text, "!", "&"):
        if _node_starts(text, position, lines, indicators) and (
                text[position] == "!" or text[position + 1:position + 2] not in _NOT_ANCHOR_NAME):
            if properties is None:
                return True
            found = property_text.match(text, position + 1)
            properties.add(text[position:found.end() if found is not None else position + 1])
    lines = _Lines(text)
    token_end = -1
    numbers = _positions(text, "_", "+0", "-0") + [found.start() for found in candidates.finditer(text)]
    for position in sorted(numbers):
        if position < token_end:
            continue  # a later candidate of a token already looked at
        start = position
        while start > 0 and position - start < 64 and text[start - 1] in _TOKEN:
            start -= 1
        if position - start == 64:  # a long run (base64, say): its start, matched backwards at C speed
            window = max(lines.start_of(position), position - 4096)
            run = token.match(text[window:position][::-1])
            start = position - (run.end() if run is not None else 0)
            if start == window != lines.start_of(position):
                return True  # a token of thousands of characters: not worth finding out
        ending = token.match(text, position)
        token_end = ending.end() if ending is not None else position
        if (number.fullmatch(text, start, token_end) and node_end.match(text, token_end)
                and _node_starts(text, start, lines, indicators)):
            return True
    lines = _Lines(text)
    flow_end = -1
    for position in _positions(text, "[", "{"):
        if position < flow_end or not _opens_flow(text, position, lines, indicators):
            continue
        flow_end = _flow_end(text, position, special)
        if refused_in_flow.search(text, position, flow_end):
            return True
    return False


def _single_document(text: str) -> bool:
    """True when ``text`` is one document: no ``...`` marker, and ``---`` only first, after blank
    and comment lines."""
    marker, before_first = _compiled()[:2]
    if "\n---" not in text and "\n..." not in text and not text.startswith(("---", "...")):
        return True
    markers = list(marker.finditer(text))
    if not markers:
        return True
    first = markers[0]
    return (len(markers) == 1 and text.startswith("---", first.start())
            and before_first.fullmatch(text, 0, first.start()) is not None)


def _valid(node: Any, depth: int, max_depth: int) -> int:
    """Nodes under ``node`` (itself included); ``-1`` when a key is not a scalar, a value has a type
    the PyYAML path never gives, or nesting passes ``max_depth``."""
    if depth > max_depth:
        return -1
    count = 1
    if type(node) is dict:
        for key, value in node.items():
            if key is None or type(key) not in _SCALAR_TYPES:  # None: maybe an empty key libyaml refuses
                return -1
            kind = type(value)
            if kind is dict or kind is list:
                size = _valid(value, depth + 1, max_depth)
                if size < 0:
                    return -1
                count += size + 1
            elif kind in _SCALAR_TYPES:
                count += 2
            else:
                return -1
    else:  # a list
        for value in node:
            kind = type(value)
            if kind is dict or kind is list:
                size = _valid(value, depth + 1, max_depth)
                if size < 0:
                    return -1
                count += size
            elif kind in _SCALAR_TYPES:
                count += 1
            else:
                return -1
    return count


_NESTING_RUN = bytes(0 if byte in b" \t?-" else 1 for byte in range(256))  # block nesting bytes -> 0


def may_nest_deeper_than(text: str | bytes, bound: int) -> bool:
    """False when ``text`` certainly nests no deeper than ``bound``: its flow brackets plus the longest
    run of spaces, tabs, ``-`` and ``?`` (a line's indentation and block indicators are one) stay
    within it. C speed only (a byte translation, a substring search): every document is checked."""
    if len(text) <= bound:
        return False
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    budget = bound - data.count(b"[") - data.count(b"{") - 1
    return budget < 1 or bytes(budget) in data.translate(_NESTING_RUN)


def load_fast(data: str | bytes, max_depth: int, max_nodes: int) -> Any:
    """The one document of ``data`` as yaml-rs reads it, or :data:`NOT_HANDLED` (see the module
    docstring for when). ``max_depth``/``max_nodes``: :mod:`extractor.yamlio`'s limits (past them:
    not handled, so that the PyYAML path reports them). Never raises for bad input."""
    if len(data) < (LOADED_MIN_CHARS if _loads else MIN_CHARS) or len(data) > max_nodes:
        return NOT_HANDLED
    checked = False
    if isinstance(data, bytes):
        if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            return NOT_HANDLED
        if data.isascii():  # the usual case: refused characters found at C speed
            if data.translate(None, _ASCII_ALLOWED):
                return NOT_HANDLED
            checked = True
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return NOT_HANDLED
    else:
        text = data
    properties: set[str] = set()
    if not text.endswith("\n") or not _single_document(text) or _unsupported(text, checked, properties):
        # without a final line break libyaml and yaml-rs end a block scalar differently
        return NOT_HANDLED
    if properties and _escapes_could_forge(text, properties):
        return NOT_HANDLED
    loads = _parser()
    if loads is None:
        return NOT_HANDLED
    try:
        value = loads(text)
    except Exception:  # the PyYAML path decides, and words the error
        return NOT_HANDLED
    if type(value) is not dict and type(value) is not list:
        return NOT_HANDLED  # a scalar or an empty document: rare, and cheap the other way
    if _valid(value, 1, max_depth) < 0 or (properties and not _verified(text, value, properties)):
        return NOT_HANDLED
    return value


def _strings(node: Any, found: list[str]) -> None:
    """Every string key and value under ``node`` (dicts and lists), appended to ``found``."""
    if type(node) is dict:
        for key, value in node.items():
            if type(key) is str:
                found.append(key)
            if type(value) is str:
                found.append(value)
            elif type(value) is dict or type(value) is list:
                _strings(value, found)
    else:
        for value in node:
            if type(value) is str:
                found.append(value)
            elif type(value) is dict or type(value) is list:
                _strings(value, found)


def _escapes_could_forge(text: str, properties: set[str]) -> bool:
    """Whether an escape of a double-quoted scalar could put into the data a character of one of
    ``properties`` that the text does not show there (``\\x21``, ``\\/``, an escaped line break that
    joins two lines), which would make :func:`_verified`'s counts unreliable."""
    characters = set("".join(properties))
    if "\\" in characters:
        return True
    for found in _compiled()[-1].finditer(text):
        number = found.group(1) or found.group(2) or found.group(3)
        if found.group(5) is not None or (found.group(4) or chr(int(number, 16))) in characters:
            return True
    return False


def _verified(text: str, value: Any, properties: set[str]) -> bool:
    """Whether none of ``properties`` (texts that look like a tag or an anchor, from
    :func:`_unsupported`) was one: each occurs as often in the strings of ``value`` as in ``text``.
    A real tag or anchor leaves the data, so the data would hold one occurrence fewer; the
    strings cannot gain one (quotes and brackets end a property text, folding only changes white
    space, :func:`_escapes_could_forge` refused the escapes that could), and a comment holding one
    makes the counts differ, which only costs the slower path."""
    found: list[str] = []
    _strings(value, found)
    joined = "\0".join(found)
    return all(text.count(item) == joined.count(item) for item in properties)
