"""YAML I/O for bulk data: PyYAML's C loader and dumper, made lossless.

Bundle files are parsed with a YAML 1.2-like core schema so that nothing the bundle meant as a
string changes type: unquoted dates stay strings, ``=`` is a string, ``yes``/``no``/``on``/``off``
stay strings, ``0777`` is not an octal int, ``1:20`` is not a sexagesimal int. Only ``true``/``false``
(any case), ``null``/``~``/empty, decimal/hex/octal (``0o``) ints and decimal floats are typed.

Dumping uses ``yaml.CSafeDumper`` whose resolver is PyYAML's YAML 1.1 one, so every string that any
YAML 1.1 reader would mistype is quoted on output; so are the strings go-yaml v2 (Helm, Kubernetes'
sigs.k8s.io/yaml) or the YAML 1.2 core schema would type although PyYAML does not (``y``, ``n``,
``1e3``, ``0o17``).
Empty maps, lists and strings are always kept.

Limits (hostile input is refused quickly with :class:`LimitError`, a ``yaml.YAMLError``): nesting
deeper than :data:`MAX_DEPTH` collections, more than :data:`MAX_NODES` nodes once aliases are
expanded (a "billion laughs" document is a few hundred bytes that expand exponentially), and
aliases that refer to an enclosing node (cycles). libyaml's composer recurses in C, so text that
could nest deeper than it survives is scanned event by event first. :func:`load_json` applies the
same depth limit to JSON, :func:`check_limits` to data from other parsers (ruamel).

Longer than 400 lines: the loader, the dumper and the limits are one format's rules and share its
schema tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import yaml

from extractor.yamlfast import NOT_HANDLED, load_fast, may_nest_deeper_than

try:  # the C extension is required for speed; fall back only so that a broken build still works
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "Dumper",
    "JSONLimitError",
    "LimitError",
    "Loader",
    "check_limits",
    "dump",
    "dump_all",
    "load",
    "load_all",
    "load_json",
]

MAX_DEPTH = 200
"""Deepest nesting of mappings/sequences accepted (Kubernetes objects and CRD schemas stay far below)."""
MAX_NODES = 5_000_000
"""Most nodes one document may have with its aliases expanded (the sail bundle's largest has ~0.2M)."""
_C_SAFE_BOUND = 10_000  # libyaml's recursive composer is known to survive this nesting


class LimitError(yaml.YAMLError):
    """A document exceeds :data:`MAX_DEPTH` or :data:`MAX_NODES`, or has a recursive alias."""


class Loader(_BaseLoader):
    """Safe C loader with YAML 1.2 core-schema implicit typing (see module docstring)."""


Loader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS: list[tuple[str, re.Pattern[str], str]] = [
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), "~nN"),
    ("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        "-+.0123456789",
    ),
]
for _tag, _regexp, _first in _CORE_RESOLVERS:
    Loader.add_implicit_resolver(_tag, _regexp, list(_first))
# empty plain scalar resolves to null
Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _construct_int(loader: Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_BOOL_RE, _NULL_RE, _INT_RE, _FLOAT_RE = (r for _, r, _ in _CORE_RESOLVERS)
_SIMPLE_TAGS = frozenset({_STR, _SEQ, _MAP, "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
                          "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


def _fast_resolve(self: Loader, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
    """Tag resolution of the core schema above, without PyYAML's generic resolver loop (the C
    parser calls this once per scalar: ~85,000 times for the sail bundle)."""
    if kind is yaml.ScalarNode:
        if implicit[0]:  # plain scalar
            if value == "":
                return "tag:yaml.org,2002:null"
            first = value[0]
            if first in "tTfF" and _BOOL_RE.match(value):
                return "tag:yaml.org,2002:bool"
            if first in "~nN" and _NULL_RE.match(value):
                return "tag:yaml.org,2002:null"
            if first in "-+0123456789" and _INT_RE.match(value):
                return "tag:yaml.org,2002:int"
            if first in "-+.0123456789" and _FLOAT_RE.match(value):
                return "tag:yaml.org,2002:float"
        return _STR
    return _SEQ if kind is yaml.SequenceNode else _MAP


def _to_python(loader: Loader, root: yaml.Node) -> Any:
    """Build Python data from a composed node graph; the same result as the constructor for the
    core-schema tags, much faster. Raises ``_SlowPath`` for anything else (merge keys, explicit
    tags such as ``!!binary``), which then goes through the regular constructor, and
    :class:`LimitError` for the limits of the module docstring. An alias becomes a reference to the
    same Python object; its expanded size still counts against :data:`MAX_NODES`."""
    memo: dict[int, tuple[Any, int]] = {}
    active: set[int] = set()

    def convert(node: yaml.Node, depth: int) -> tuple[Any, int]:
        """``(value, expanded node count)``."""
        tag = node.tag
        if tag not in _SIMPLE_TAGS:
            raise _SlowPath
        if tag == _STR:
            return node.value, 1
        if tag != _MAP and tag != _SEQ:
            return loader.construct_object(node, deep=True), 1
        key = id(node)
        known = memo.get(key)
        if known is not None:
            return known
        if key in active:
            raise LimitError(f"an alias refers to a node that contains it{_mark(node)}")
        if depth > MAX_DEPTH:
            raise LimitError(f"nesting deeper than {MAX_DEPTH} levels{_mark(node)}")
        active.add(key)
        size = 1
        if tag == _MAP:
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag not in _SIMPLE_TAGS or key_node.tag in (_MAP, _SEQ):
                    raise _SlowPath
                k, k_size = convert(key_node, depth + 1)
                v, v_size = convert(value_node, depth + 1)
                out[k] = v
                size += k_size + v_size
            value: Any = out
        else:
            items: list[Any] = []
            for item in node.value:
                v, v_size = convert(item, depth + 1)
                items.append(v)
                size += v_size
            value = items
        if size > MAX_NODES:
            raise LimitError(f"more than {MAX_NODES} nodes with aliases expanded{_mark(node)}")
        active.discard(key)
        memo[key] = (value, size)
        return value, size

    return convert(root, 1)[0]


def _mark(node: yaml.Node | yaml.Event) -> str:
    mark = node.start_mark
    return f" (line {mark.line + 1})" if mark is not None else ""


def _check_nesting(text: str | bytes) -> None:
    """Refuse, before libyaml composes it, text nesting deeper than :data:`MAX_DEPTH` when the cheap
    bound says the composer might not survive it (the event scan is exact but slower)."""
    if not may_nest_deeper_than(text, _C_SAFE_BOUND):
        return
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise LimitError(f"nesting deeper than {MAX_DEPTH} levels{_mark(event)}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _SlowPath(Exception):
    pass


def _build(self: Loader, node: yaml.Node | None) -> Any:
    if node is None:
        return None
    try:
        return _to_python(self, node)
    except _SlowPath:
        try:
            data = self.construct_document(node)
        except RecursionError:
            raise LimitError(f"nesting deeper than {MAX_DEPTH} levels") from None
        check_limits(data)
        return data


def _get_data(self: Loader) -> Any:
    return _build(self, self.get_node())


def _get_single_data(self: Loader) -> Any:
    return _build(self, self.get_single_node())


Loader.resolve = _fast_resolve  # type: ignore[method-assign,assignment]
Loader.get_data = _get_data  # type: ignore[method-assign,assignment]
Loader.get_single_data = _get_single_data  # type: ignore[method-assign,assignment]


class Dumper(_BaseDumper):
    """Safe C dumper: block style, insertion order kept, no line folding, no aliases.

    The node graph is built by :func:`_node` in one tight recursion instead of PyYAML's generic
    representer dispatch, and implicit-tag resolution (which decides what to quote) is cached per
    string: the same bytes as PyYAML's own representer and resolver, in about a third of the time.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent(self, data: Any) -> None:
        self.serialize(_node(self, data))

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            key = (value, implicit[0], implicit[1])
            tag = _RESOLVED.get(key)
            if tag is None:
                tag = _BaseDumper.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]
                if tag == _STR and implicit[0] and _TYPED_ELSEWHERE.match(value):
                    tag = _TYPED_TAG  # not plain: quoted on output
                _RESOLVED[key] = tag
            return tag
        return _BaseDumper.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]


_RESOLVED: dict[tuple[Any, bool, bool], str] = {}
#: Strings PyYAML 1.1 leaves plain but go-yaml v2 (``y``/``n`` bools, ``1e3``) or YAML 1.2 core
#: (``0o17``, ``1.5e3``) would type: quoted on output.
_TYPED_ELSEWHERE = re.compile(
    r"^(?:[yYnN]|[-+]?0o[0-7]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$"
)
_TYPED_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_NULL_TAG = "tag:yaml.org,2002:null"


def _node(dumper: Dumper, data: Any) -> yaml.Node:
    """The representation graph of ``data``, as PyYAML's SafeRepresenter would build it with this
    module's string representer, ``default_flow_style=False`` and no aliases."""
    kind = type(data)
    if kind is str:
        return yaml.ScalarNode(_STR, data, style="|" if "\n" in data else None)
    if kind is dict:
        return yaml.MappingNode(_MAP, [(_node(dumper, k), _node(dumper, v)) for k, v in data.items()],
                                flow_style=False)
    if kind is list:
        return yaml.SequenceNode(_SEQ, [_node(dumper, v) for v in data], flow_style=False)
    if kind is bool:
        return yaml.ScalarNode(_BOOL_TAG, "true" if data else "false")
    if kind is int:
        return yaml.ScalarNode(_INT_TAG, str(data))
    if data is None:
        return yaml.ScalarNode(_NULL_TAG, "null")
    node: yaml.Node = dumper.represent_data(data)  # floats, subclasses, anything else: PyYAML's way
    return node


def _represent_str(dumper: Dumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


Dumper.add_representer(str, _represent_str)

_DUMP_OPTS: dict[str, Any] = {
    "Dumper": Dumper,
    "default_flow_style": False,
    "sort_keys": False,
    "allow_unicode": True,
    "width": 1 << 20,
    "indent": 2,
}


def load(text: str | bytes) -> Any:
    """Parse one YAML document with :class:`Loader`. Raises ``yaml.YAMLError`` on bad YAML
    (:class:`LimitError` past the limits of the module docstring)."""
    _check_nesting(text)
    value = load_fast(text, MAX_DEPTH, MAX_NODES)
    return yaml.load(text, Loader=Loader) if value is NOT_HANDLED else value


def load_checked(text: str | bytes, check: Callable[[yaml.Node | None], None]) -> Any:
    """:func:`load`, always through libyaml's composer: ``check`` sees the node graph (the source's
    structure: duplicate keys, say) before the data is built from it. Raises like :func:`load` and ``check``."""
    _check_nesting(text)
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        check(node)
        return _build(loader, node)
    finally:
        loader.dispose()


def load_all(text: str | bytes) -> Iterator[Any]:
    """Yield every document of a multi-document YAML stream (``None`` for empty documents).
    Raises like :func:`load`."""
    _check_nesting(text)
    value = load_fast(text, MAX_DEPTH, MAX_NODES)
    return yaml.load_all(text, Loader=Loader) if value is NOT_HANDLED else iter([value])


def check_limits(data: Any, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise :class:`LimitError` when ``data`` (dicts, lists, scalars; shared references allowed)
    nests deeper than ``max_depth``, has more than ``max_nodes`` nodes counting every reference, or
    contains itself. Iterative: safe on any input."""
    sizes: dict[int, int] = {}
    # (container, depth, state): state 0 = enter, 1 = leave
    stack: list[tuple[Any, int, int]] = [(data, 1, 0)]
    active: set[int] = set()
    while stack:
        node, depth, state = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        if state == 1:
            children = list(node.items()) if isinstance(node, dict) else node
            size = 1
            for child in children:
                for part in (child if isinstance(node, dict) else (child,)):
                    size += sizes.get(id(part), 1) if isinstance(part, dict | list) else 1
            if size > max_nodes:
                raise LimitError(f"more than {max_nodes} nodes with aliases expanded")
            sizes[key] = size
            active.discard(key)
            continue
        if key in sizes:
            continue
        if key in active:
            raise LimitError("a value refers to a value that contains it")
        if depth > max_depth:
            raise LimitError(f"nesting deeper than {max_depth} levels")
        active.add(key)
        stack.append((node, depth, 1))
        values = [v for kv in node.items() for v in kv] if isinstance(node, dict) else node
        for value in values:
            if isinstance(value, dict | list):
                stack.append((value, depth + 1, 0))


def load_json(data: str | bytes) -> Any:
    """``json.loads`` with the limits of :func:`check_limits`. Raises ``ValueError``: json's own for
    bad JSON, :class:`JSONLimitError` past the limits."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONLimitError(f"nesting deeper than {MAX_DEPTH} levels") from None
    try:
        check_limits(value)
    except LimitError as exc:
        raise JSONLimitError(str(exc)) from None
    return value


class JSONLimitError(ValueError):
    """JSON past the limits of :func:`check_limits` (a ``ValueError``, like ``json``'s own errors)."""


def dump(data: Any) -> str:
    """Serialise one document in block style, keys in insertion order."""
    return str(yaml.dump(data, **_DUMP_OPTS))


def dump_all(documents: Iterable[Any]) -> str:
    """Serialise documents as a ``---``-separated stream (each document starts with ``---``)."""
    return str(yaml.dump_all(documents, explicit_start=True, **_DUMP_OPTS))
