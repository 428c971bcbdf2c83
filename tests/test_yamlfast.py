"""The yaml-rs path of the loaders (extractor.yamlfast) gives exactly the PyYAML path's data, or
leaves the text to it.

The PyYAML path (``yaml.load`` with :class:`extractor.yamlio.Loader`) is the reference. Every YAML
file of the real bundles, the corpus, the extra CRDs and OLM's conformance inputs is loaded both
ways: where the fast path answers, data and types are identical, and it does answer for most
large files (else it would be dead weight). Each construct it must leave alone is checked in a
document large enough to be considered.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from extractor import yamlio
from extractor.yamlfast import LOADED_MIN_CHARS, MIN_CHARS, NOT_HANDLED, load_fast, may_nest_deeper_than
from tests.conftest import REPO
from tests.support.tools import require_shared

FILLER = "".join(f"filler{i}:\n  description: plain text number {i}, with 'quotes'\n"
                 for i in range(MIN_CHARS // 50))


def reference(text: str | bytes) -> list[Any]:
    """The PyYAML path's documents."""
    return list(yaml.load_all(text, Loader=yamlio.Loader))


def fast(text: str | bytes) -> Any:
    return load_fast(text, yamlio.MAX_DEPTH, yamlio.MAX_NODES)


def identical(a: Any, b: Any, path: str = "$") -> str | None:
    """``None`` when ``a`` and ``b`` are equal with the same types and key order, else where not."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r:.60} vs {type(b).__name__} {b!r:.60}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)[:5]} vs {list(b)[:5]}"
        return next((r for k in a if (r := identical(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        return next((r for i, (x, y) in enumerate(zip(a, b, strict=True)) if (r := identical(x, y, f"{path}[{i}]"))),
                    None)
    if isinstance(a, float) and math.isnan(a):
        return None if math.isnan(b) else f"{path}: nan vs {b!r}"
    return None if a == b else f"{path}: {a!r:.80} vs {b!r:.80}"


def yaml_files() -> list[Path]:
    roots = [require_shared(name) for name in ("bundles", "corpus", "extra-crds", "olmv1-conformance")]
    roots.append(REPO / "tests" / "fixtures")
    return sorted(p for root in roots for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def test_every_real_yaml_file_loads_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file, whatever its size (the size thresholds are lifted: they only save time)."""
    import extractor.yamlfast

    monkeypatch.setattr(extractor.yamlfast, "MIN_CHARS", 0)
    monkeypatch.setattr(extractor.yamlfast, "LOADED_MIN_CHARS", 0)
    files = yaml_files()
    large = handled = handled_large = 0
    for path in files:
        data = path.read_bytes()
        got = fast(data)
        if len(data) >= MIN_CHARS:
            large += 1
        if got is NOT_HANDLED:
            continue
        handled += 1
        handled_large += len(data) >= MIN_CHARS
        documents = reference(data)
        assert len(documents) == 1, path
        assert identical(documents[0], got) is None, f"{path}: {identical(documents[0], got)}"
    assert len(files) > 500
    assert handled_large >= 0.9 * large, f"the fast path took only {handled_large} of {large} large files"
    assert handled >= 0.5 * len(files), f"the fast path took only {handled} of {len(files)} files"


def test_smaller_texts_take_the_fast_path_once_the_extension_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below MIN_CHARS a text goes the PyYAML way and does not load yaml-rs; once a large text has
    loaded it, texts from LOADED_MIN_CHARS on take the fast path, with the same data."""
    import extractor.yamlfast

    monkeypatch.setattr(extractor.yamlfast, "_loads", None)  # as in a fresh process
    middle = FILLER[: (MIN_CHARS + LOADED_MIN_CHARS) // 2].rsplit("\n", 1)[0] + "\n"
    tiny = FILLER[: LOADED_MIN_CHARS // 2].rsplit("\n", 1)[0] + "\n"
    assert LOADED_MIN_CHARS <= len(middle) < MIN_CHARS and len(tiny) < LOADED_MIN_CHARS
    assert fast(middle) is NOT_HANDLED and extractor.yamlfast._loads is None  # not even imported
    assert identical(fast(FILLER), reference(FILLER)[0]) is None  # a large text loads the extension
    assert identical(fast(middle), reference(middle)[0]) is None
    assert fast(tiny) is NOT_HANDLED
    assert identical(yamlio.load(middle), reference(middle)[0]) is None


def test_the_loaders_use_it_and_give_the_same_objects() -> None:
    """The sail bundle: each manifest loads the same through yamlio, and most of the large ones
    (the CRDs that make run and update-bundle slow) take the fast path."""
    manifests = sorted(require_shared("bundles", "servicemeshoperator3-v3.2.1", "manifests").glob("*.yaml"))
    large = [path for path in manifests if path.stat().st_size >= MIN_CHARS]
    taken = 0
    for path in manifests:
        data = path.read_bytes()
        taken += fast(data) is not NOT_HANDLED
        assert identical(yamlio.load(data), reference(data)[0]) is None
        assert identical(list(yamlio.load_all(data)), reference(data)) is None
    assert len(large) >= 10
    assert taken >= 0.9 * len(large), f"only {taken} of {len(large)} large sail manifests took the fast path"


@pytest.mark.parametrize(("construct", "pyyaml_value"), [
    ("value: !!str 12", {"value": "12"}),
    ("value: &a [1]\nother: *a", {"value": [1], "other": [1]}),
    ("base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2", {"merged": {"<<": {"x": 1}, "y": 2}}),  # no merge in 1.2
    ("value: 0b101", {"value": "0b101"}),
    ("value: 0X1F", {"value": "0X1F"}),
    ("value: 0O17", {"value": "0O17"}),
    ("value: -0x1", {"value": "-0x1"}),
    ("value: +0o7", {"value": "+0o7"}),
    ("value: 1_000", {"value": "1_000"}),
    ("value: 0x1_F", {"value": "0x1_F"}),
    ("value: \"a\u2028b\"", {"value": "a\u2028b"}),
])
def test_constructs_read_differently_are_left_to_pyyaml(construct: str, pyyaml_value: dict[str, Any]) -> None:
    text = FILLER + construct + "\n"
    assert len(text) >= MIN_CHARS
    assert fast(text) is NOT_HANDLED
    data = yamlio.load(text)
    assert {k: data[k] for k in pyyaml_value} == pyyaml_value


@pytest.mark.parametrize("text", [
    FILLER + "value: \x07\n",  # a control character libyaml refuses
    FILLER + "value: [unclosed\n",
    FILLER + "- a list item after a mapping\n",
])
def test_bad_text_is_left_to_pyyaml_and_its_error(text: str) -> None:
    assert fast(text) is NOT_HANDLED
    with pytest.raises(yaml.YAMLError):
        yamlio.load(text)


def test_documents_and_markers() -> None:
    assert fast("# a comment\n\n---\n" + FILLER) is not NOT_HANDLED
    assert fast(FILLER + "---\nsecond: 1\n") is NOT_HANDLED
    assert list(yamlio.load_all(FILLER + "---\nsecond: 1\n"))[1] == {"second": 1}
    assert fast(FILLER + "...\n") is NOT_HANDLED
    assert fast("%YAML 1.2\n---\n" + FILLER) is NOT_HANDLED
    assert fast(b"\xef\xbb\xbf" + FILLER.encode()) is NOT_HANDLED
    assert fast(FILLER.encode("utf-16")) is NOT_HANDLED
    assert fast(FILLER[:1000]) is NOT_HANDLED  # small: not worth it


def test_keys_duplicates_and_limits() -> None:
    assert fast(FILLER + "{a: 1}: x\n") is NOT_HANDLED  # a mapping as a key (PyYAML refuses it)
    text = "first: 1\n" + FILLER + "first: 2\n"
    got = fast(text)
    assert identical(got, reference(text)[0]) is None and next(iter(got)) == "first" and got["first"] == 2
    deep = FILLER + "deep: " + "[" * (yamlio.MAX_DEPTH + 5) + "]" * (yamlio.MAX_DEPTH + 5) + "\n"
    assert fast(deep) is NOT_HANDLED
    with pytest.raises(yamlio.LimitError):
        yamlio.load(deep)


@pytest.mark.parametrize(("seed", "alphabet"), [
    (1, "ab01:-?[]{},#&*!|>'\" .\n_+xX"),  # indicators, quotes, comments, anchors, tags
    (2, "ab :|>-+12\n  #'\"\\[]{},?"),  # block scalars and flow collections
    (3, "0123456789+-._eExXoObBaAfFinINfnaNtT[]{}, :\n#"),  # numbers, booleans, nulls
    (4, "!&*ax =:'\"\n -?#|>[],\\"),  # what looks like a tag or an anchor inside quoted text
])
def test_wherever_the_fast_path_answers_pyyaml_answers_the_same(
    seed: int, alphabet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random short texts in many places of a document: where load_fast answers, the PyYAML path
    reads the same data (it neither differs nor refuses the text). The size thresholds are lifted
    so that short texts are considered."""
    import extractor.yamlfast

    monkeypatch.setattr(extractor.yamlfast, "MIN_CHARS", 0)
    monkeypatch.setattr(extractor.yamlfast, "LOADED_MIN_CHARS", 0)
    rng = random.Random(seed)
    compared = 0
    for _ in range(1200):
        piece = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        for text in (piece, "a: " + piece, "- " + piece, "[" + piece + "]", "{" + piece + "}",
                     "k:\n  " + piece.replace("\n", "\n  "), "k:\n  - " + piece, "k:\n  x\n  [" + piece + "]",
                     "- - [" + piece + ", " + piece + "]", "r: '" + piece + "\n  " + piece + "'",
                     'r: "' + piece + "\n  " + piece + '"', "k:\n  " + piece + ": v\n  " + piece + ": w"):
            text += "\n"
            got = fast(text)
            if got is NOT_HANDLED:
                continue
            compared += 1
            try:
                documents = reference(text)
            except yaml.YAMLError as exc:
                raise AssertionError(f"{text!r}: yaml-rs reads {got!r}, PyYAML refuses it ({exc})") from None
            assert len(documents) == 1 and identical(documents[0], got) is None, (text, documents, got)
    assert compared > 3000


def _depth(text: str) -> int:
    """The real nesting of ``text``: the deepest collection in libyaml's events."""
    depth = deepest = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            deepest = max(deepest, depth)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return deepest


def _nested(rng: random.Random, depth: int) -> Any:
    """Random data nesting up to ``depth`` levels: mappings, lists, non-ASCII strings."""
    if depth == 0 or rng.random() < 0.15:
        return rng.choice(["é", "plain", 1, "ü ü"])
    if rng.random() < 0.5:
        return [_nested(rng, depth - 1) for _ in range(rng.randrange(1, 3))]
    return {f"k{rng.randrange(100)}": _nested(rng, depth - 1) for _ in range(rng.randrange(1, 3))}


@pytest.mark.parametrize("seed", range(40))
def test_the_nesting_bound_never_misses_deep_text(seed: int) -> None:
    """may_nest_deeper_than is False only where the text nests no deeper than the bound: random
    data dumped in block style (``- - -`` runs, indentation of 2 or 4) or with flow leaves, non-ASCII
    scalars, as text and as bytes."""
    rng = random.Random(seed)
    text = yaml.dump(_nested(rng, rng.randrange(2, 14)), Dumper=yaml.CSafeDumper, allow_unicode=True,
                     indent=rng.choice([2, 4]), default_flow_style=rng.choice([False, None]))
    depth = _depth(text)
    for bound in range(1, depth + 3):
        for data in (text, text.encode()):
            assert may_nest_deeper_than(data, bound) or depth <= bound, (bound, depth, text)


def test_the_nesting_bound_passes_ordinary_large_documents() -> None:
    """A deep budget left by the brackets and indentation of real CRDs: no false alarm (else every
    large document would take the slow event scan)."""
    crd = (require_shared("extra-crds") / "gateway-api-v1.4.0").rglob("*.yaml")
    text = max((path.read_bytes() for path in crd), key=len)
    assert len(text) > 100_000 and not may_nest_deeper_than(text, 10_000)
    assert may_nest_deeper_than(text.replace(b"\n", b"\n" + b" " * 10_000, 1), 10_000)  # one deep line
    assert may_nest_deeper_than(b"[" * 10_001 + b"]" * 10_001, 10_000)  # brackets alone
    assert not may_nest_deeper_than(b"[" * 6000 + b"]" * 6000 + b"\n" + b" " * 3000 + b"x\n", 10_000)
    assert may_nest_deeper_than(b"[" * 6000 + b"]" * 6000 + b"\n" + b"- " * 2000 + b"x\n", 10_000)  # together
