"""Target-namespace resolution, following OLMv1 ``rukpak/render/render.go``
(``defaultTargetNamespacesForBundle``, ``validateTargetNamespaces``) and its error wording.

One departure from OLMv1: a bundle that supports OwnNamespace but not AllNamespaces defaults to
its install namespace even when it also supports SingleNamespace or MultiNamespace (OLMv1 then
requires a ``watchNamespace`` and fails with "exactly one target namespace must be specified");
:func:`own_namespace_note` words the note shown for it.
"""

from __future__ import annotations

import re

from extractor.bundle.csv import (
    ALL_NAMESPACES,
    MULTI_NAMESPACE,
    OWN_NAMESPACE,
    SINGLE_NAMESPACE,
    supported_install_modes,
)
from extractor.errors import RenderError
from extractor.model import KubeObject

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _go_list(values: list[str] | tuple[str, ...]) -> str:
    """Go's ``%v`` formatting of a ``[]string``."""
    return "[" + " ".join(values) + "]"


def default_target_namespaces(csv: KubeObject, install_namespace: str) -> tuple[str, ...]:
    """The default targets: ``("",)`` with AllNamespaces (OLMv1); else the install namespace when
    OwnNamespace is supported (OLMv1 does so only when neither SingleNamespace nor MultiNamespace
    is; with them it has no default: see :func:`own_namespace_note`); else ``()`` (none)."""
    modes = supported_install_modes(csv)
    if ALL_NAMESPACES in modes:
        return ("",)
    if OWN_NAMESPACE in modes:
        return (install_namespace,)
    return ()


def own_namespace_note(csv: KubeObject, install_namespace: str,
                       watch_namespaces: tuple[str, ...] | None) -> str | None:
    """The one-line note for a render that defaulted to OwnNamespace where OLMv1 has no default
    (OwnNamespace with SingleNamespace or MultiNamespace, no AllNamespaces, no watch namespaces
    given), else ``None``."""
    if watch_namespaces:
        return None
    modes = supported_install_modes(csv)
    if ALL_NAMESPACES in modes or OWN_NAMESPACE not in modes or not modes & {SINGLE_NAMESPACE, MULTI_NAMESPACE}:
        return None
    csv_name = (csv.get("metadata") or {}).get("name", "")
    return (f"{csv_name}: no AllNamespaces install mode: watching the install namespace {install_namespace!r} "
            "(OwnNamespace; OLMv1 would require a watch namespace; set watchNamespaces / --watch-namespace "
            "for another)")


def _problem(modes: set[str], install_namespace: str, targets: tuple[str, ...]) -> str | None:
    listed = _go_list(sorted(modes))
    distinct = set(targets)
    if not distinct:
        if MULTI_NAMESPACE in modes:
            return "at least one target namespace must be specified"
        return "exactly one target namespace must be specified"
    if distinct == {""}:
        if ALL_NAMESPACES in modes:
            return None
        return f"supported install modes {listed} do not support targeting all namespaces"
    if len(distinct) == 1:
        if targets[0] == install_namespace:
            if OWN_NAMESPACE not in modes:
                return f"supported install modes {listed} do not support targeting own namespace"
            return None
        if SINGLE_NAMESPACE in modes:
            return None
    else:
        if OWN_NAMESPACE not in modes and install_namespace in distinct:
            return f"supported install modes {listed} do not support targeting own namespace"
        if MULTI_NAMESPACE in modes and "" not in distinct:
            return None
    return f"supported install modes {listed} do not support target namespaces {_go_list(targets)}"


def resolve_target_namespaces(
    csv: KubeObject, install_namespace: str, watch_namespaces: tuple[str, ...] | None
) -> tuple[str, ...]:
    """Resolve the target namespaces of a render.

    ``watch_namespaces``: ``None`` (or empty) = OLM's default for the CSV's install modes,
    otherwise the requested targets (``("",)`` = all namespaces). Returns the targets in the given
    order. Raises :class:`RenderError` with OLMv1's wording (bundle/config.go for a malformed
    namespace name, render.go otherwise), e.g. ``invalid option(s): invalid
    target namespaces []: exactly one target namespace must be specified``.
    """
    targets = (
        tuple(watch_namespaces) if watch_namespaces else default_target_namespaces(csv, install_namespace)
    )
    for namespace in targets:
        if namespace and (len(namespace) > 253 or not _DNS1123_SUBDOMAIN.match(namespace)):
            raise RenderError(
                f"invalid 'watchNamespace' \"{namespace}\": namespace must consist of lower case "
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            )
    problem = _problem(supported_install_modes(csv), install_namespace, targets)
    if problem is not None:
        csv_name = (csv.get("metadata") or {}).get("name", "")
        raise RenderError(
            f"{csv_name}: invalid option(s): invalid target namespaces {_go_list(targets)}: {problem}"
        )
    return targets


def is_all_namespaces(targets: tuple[str, ...]) -> bool:
    """True when ``targets`` means all namespaces (OLMv1: exactly ``[""]``)."""
    return targets == ("",)
