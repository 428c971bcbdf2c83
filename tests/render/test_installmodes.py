"""Target namespaces resolved like OLMv1 render.go, with its error wording."""

from __future__ import annotations

import pytest

from extractor.errors import RenderError
from extractor.render.installmodes import resolve_target_namespaces
from tests.render import make_csv


def _resolve(modes: tuple[str, ...], watch: tuple[str, ...] | None) -> tuple[str, ...]:
    return resolve_target_namespaces(make_csv(modes=modes), "op-ns", watch)


def test_defaults() -> None:
    assert _resolve(("AllNamespaces", "OwnNamespace"), None) == ("",)
    assert _resolve(("OwnNamespace",), None) == ("op-ns",)


@pytest.mark.parametrize(
    ("modes", "watch", "expected"),
    [
        (("OwnNamespace", "SingleNamespace"), ("op-ns",), ("op-ns",)),
        (("SingleNamespace",), ("other",), ("other",)),
        (("MultiNamespace",), ("a", "b"), ("a", "b")),
        (("AllNamespaces",), ("",), ("",)),
    ],
)
def test_accepted(modes: tuple[str, ...], watch: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert _resolve(modes, watch) == expected


@pytest.mark.parametrize(
    ("modes", "watch", "message"),
    [
        (
            ("SingleNamespace",),
            None,
            "invalid target namespaces []: exactly one target namespace must be specified",
        ),
        (
            ("MultiNamespace",),
            None,
            "invalid target namespaces []: at least one target namespace must be specified",
        ),
        (
            ("OwnNamespace",),
            ("",),
            "invalid target namespaces []: supported install modes [OwnNamespace] do not support targeting "
            "all namespaces",
        ),
        (
            ("SingleNamespace",),
            ("op-ns",),
            "invalid target namespaces [op-ns]: supported install modes [SingleNamespace] do not support "
            "targeting own namespace",
        ),
        (
            ("OwnNamespace",),
            ("elsewhere",),
            "invalid target namespaces [elsewhere]: supported install modes [OwnNamespace] do not support "
            "target namespaces [elsewhere]",
        ),
        (
            ("MultiNamespace", "SingleNamespace"),
            ("a", "op-ns"),
            "invalid target namespaces [a op-ns]: supported install modes [MultiNamespace SingleNamespace] "
            "do not support targeting own namespace",
        ),
        (
            ("AllNamespaces", "SingleNamespace"),
            ("a", "b"),
            "invalid target namespaces [a b]: supported install modes [AllNamespaces SingleNamespace] do not "
            "support target namespaces [a b]",
        ),
    ],
)
def test_rejected(modes: tuple[str, ...], watch: tuple[str, ...] | None, message: str) -> None:
    with pytest.raises(RenderError) as info:
        _resolve(modes, watch)
    assert str(info.value) == f"demo-operator.v1.0.0: invalid option(s): {message}"


def test_malformed_watch_namespace() -> None:
    with pytest.raises(RenderError, match=r'^invalid \'watchNamespace\' "Bad_NS": namespace must consist of'):
        _resolve(("SingleNamespace",), ("Bad_NS",))
