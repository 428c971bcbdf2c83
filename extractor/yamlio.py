"""YAML I/O for bulk data: PyYAML's C loader and dumper, made lossless.

Bundle files are parsed with a YAML 1.2-like core schema so that nothing the bundle meant as a
string changes type: unquoted dates stay strings, ``=`` is a string, ``yes``/``no``/``on``/``off``
stay strings, ``0777`` is not an octal int, ``1:20`` is not a sexagesimal int. Only ``true``/``false``
(any case), ``null``/``~``/empty, decimal/hex/octal (``0o``) ints and decimal floats are typed.

Dumping uses ``yaml.CSafeDumper`` whose resolver is PyYAML's YAML 1.1 one, so every string that any
YAML 1.1 reader (Kubernetes' sigs.k8s.io/yaml included) would mistype is quoted on output.
Empty maps, lists and strings are always kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

try:  # the C extension is required for speed; fall back only so that a broken build still works
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = ["Dumper", "Loader", "dump", "dump_all", "load", "load_all"]


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
    core-schema tags, much faster. Returns the sentinel ``_SLOW`` for anything else (merge keys,
    explicit tags such as ``!!binary``), which then goes through the regular constructor."""
    memo: dict[int, Any] = {}

    def convert(node: yaml.Node) -> Any:
        known = memo.get(id(node))
        if known is not None:
            return known
        tag = node.tag
        if tag not in _SIMPLE_TAGS:
            raise _SlowPath
        if tag == _STR:
            return node.value
        if tag == _MAP:
            out: dict[Any, Any] = {}
            memo[id(node)] = out
            for key_node, value_node in node.value:
                if key_node.tag not in _SIMPLE_TAGS or key_node.tag in (_MAP, _SEQ):
                    raise _SlowPath
                out[convert(key_node)] = convert(value_node)
            return out
        if tag == _SEQ:
            items: list[Any] = []
            memo[id(node)] = items
            items.extend(convert(item) for item in node.value)
            return items
        return loader.construct_object(node, deep=True)

    return convert(root)


class _SlowPath(Exception):
    pass


def _build(self: Loader, node: yaml.Node | None) -> Any:
    if node is None:
        return None
    try:
        return _to_python(self, node)
    except _SlowPath:
        return self.construct_document(node)


def _get_data(self: Loader) -> Any:
    return _build(self, self.get_node())


def _get_single_data(self: Loader) -> Any:
    return _build(self, self.get_single_node())


Loader.resolve = _fast_resolve  # type: ignore[method-assign,assignment]
Loader.get_data = _get_data  # type: ignore[method-assign,assignment]
Loader.get_single_data = _get_single_data  # type: ignore[method-assign,assignment]


class Dumper(_BaseDumper):
    """Safe C dumper: block style, insertion order kept, no line folding, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


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
    """Parse one YAML document with :class:`Loader`. Raises ``yaml.YAMLError`` on bad YAML."""
    return yaml.load(text, Loader=Loader)


def load_all(text: str | bytes) -> Iterator[Any]:
    """Yield every document of a multi-document YAML stream (``None`` for empty documents)."""
    return yaml.load_all(text, Loader=Loader)


def dump(data: Any) -> str:
    """Serialise one document in block style, keys in insertion order."""
    return str(yaml.dump(data, **_DUMP_OPTS))


def dump_all(documents: Iterable[Any]) -> str:
    """Serialise documents as a ``---``-separated stream (each document starts with ``---``)."""
    return str(yaml.dump_all(documents, explicit_start=True, **_DUMP_OPTS))
