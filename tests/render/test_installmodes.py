"""Target namespaces resolved like OLMv1 render.go, with its error wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.errors import RenderError
from extractor.model import RenderOptions
from extractor.render import render
from extractor.render.installmodes import own_namespace_note, resolve_target_namespaces
from tests.render import load, make_csv, write_bundle
from tests.support.tools import require_shared


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


@pytest.mark.parametrize(
    "modes",
    [("OwnNamespace", "SingleNamespace"), ("OwnNamespace", "MultiNamespace"),
     ("OwnNamespace", "SingleNamespace", "MultiNamespace")],
)
def test_own_namespace_is_the_default_without_all_namespaces(modes: tuple[str, ...]) -> None:
    """Class 1 of issue 13: a departure from OLMv1 (which requires a watch namespace there), with a note."""
    assert _resolve(modes, None) == ("op-ns",)
    note = own_namespace_note(make_csv(modes=modes), "op-ns", None)
    assert note == ("demo-operator.v1.0.0: no AllNamespaces install mode: watching the install namespace 'op-ns' "
                    "(OwnNamespace; OLMv1 would require a watch namespace; set watchNamespaces / "
                    "--watch-namespace for another)")
    # an explicit watch namespace still wins, and needs no note
    watch = ("elsewhere",) if "SingleNamespace" in modes else ("a", "b")
    assert _resolve(modes, watch) == watch
    assert own_namespace_note(make_csv(modes=modes), "op-ns", ("elsewhere",)) is None


@pytest.mark.parametrize("modes", [("OwnNamespace",), ("AllNamespaces", "OwnNamespace", "SingleNamespace"),
                                   ("SingleNamespace",)])
def test_no_note_where_olmv1_has_the_same_default(modes: tuple[str, ...]) -> None:
    assert own_namespace_note(make_csv(modes=modes), "op-ns", None) is None


def test_own_single_bundle_renders_in_its_namespace_with_a_note(tmp_path: Path) -> None:
    """The render carries the note; Roles land in the install namespace (OwnNamespace)."""
    bundle = load(write_bundle(tmp_path, make_csv(modes=("OwnNamespace", "SingleNamespace"))))
    manifests = render(bundle, RenderOptions(install_namespace="op-ns"))
    assert manifests.target_namespaces == ("op-ns",)
    assert [n for n in manifests.notes if "OwnNamespace" in n] == [
        own_namespace_note(bundle.csv, "op-ns", None)]
    roles = [o for o in manifests.objects if o["kind"] == "Role"]
    assert roles and {r["metadata"]["namespace"] for r in roles} == {"op-ns"}
    deployment = next(o for o in manifests.objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == "op-ns"


def test_kubernaut_renders_without_a_watch_namespace() -> None:
    """The corpus bundle that failed with 'exactly one target namespace must be specified'."""
    directory = require_shared("corpus", "kubernaut-operator-1.5.12")
    manifests = render(load(directory), RenderOptions(install_namespace="kubernaut"))
    assert manifests.target_namespaces == ("kubernaut",)
    assert any("watching the install namespace 'kubernaut'" in n for n in manifests.notes)
