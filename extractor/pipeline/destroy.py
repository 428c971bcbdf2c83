"""``make destroy``: uninstall the helmfile's releases, and on request their namespaces and CRDs.

:func:`destroy` runs, in this order:

1. with ``delete_crds``: lists the chart's CRDs that exist in the cluster (the CRDs of
   ``charts/<name>/presync/`` and so of the companion ``<name>-crds`` chart; CRDs another chart
   of the project also ships and that chart is not being destroyed are left alone) and every
   custom resource of them, except those Helm will remove with a release being destroyed
   (``meta.helm.sh/release-name``/``-namespace`` annotations). If any remains and ``force`` is
   not given it refuses, listing them, before anything is deleted;
2. ``helmfile destroy`` (``--selector name=<release>`` per selected entry; all releases by default);
3. with ``delete_namespaces``: deletes the namespaces the presync hooks create
   (``extraNamespaces``) and the releases' own namespaces, except namespaces a release that is not
   being destroyed still uses and ``default``/``kube-*``;
4. with ``delete_crds``: lists the custom resources again (an operator may have created some while
   going away; refused without ``force``), then deletes exactly those CRDs (and with them every
   custom resource left).

Without ``delete_crds`` the CRDs, and so every custom resource, stay. kubectl and helmfile run
with ``--context``/``--kube-context`` when ``kube_context`` is given. Progress lines (what is
listed and deleted) go to ``report``; nothing is printed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.config import load_config
from extractor.emit.crds_chart import crd_names
from extractor.errors import DestroyRefusedError, ToolError
from extractor.pipeline.update import CHARTS_DIR, HELMFILE_NAME, read_release_spec
from extractor.tools import find_tool, run_tool

__all__ = ["PROTECTED_NAMESPACES", "DestroyResult", "destroy"]

PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
KUBECTL_TIMEOUT = 120.0
"""Seconds one kubectl call may run."""
HELMFILE_TIMEOUT = 900.0
"""Seconds ``helmfile destroy`` may run."""
_SHOWN = 20


@dataclass
class DestroyResult:
    """What :func:`destroy` removed: release names, namespaces and CRD names (in order)."""

    releases: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    crds: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Kube:
    kubectl: str
    context: str | None

    def run(self, *args: str) -> str:
        context = ["--context", self.context] if self.context else []
        return run_tool("kubectl", [*context, *args], path=self.kubectl, timeout=KUBECTL_TIMEOUT).stdout

    def json(self, *args: str) -> Any:
        text = self.run(*args, "-o", "json")
        if not text.strip():
            return {"items": []}
        try:
            return json.loads(text)
        except ValueError:
            raise ToolError(f"kubectl {' '.join(args[:2])}: output is not JSON") from None


def _tool(name: str, given: Path | None) -> str:
    if given is not None:
        return str(given)
    found = find_tool(name)
    if found is None:
        raise ToolError(f"{name}: not found (run 'make tools' or set BUNDLE_EXTRACT_{name.upper()})")
    return str(found)


def _custom_resources(kube: _Kube, crds: Sequence[str], releases: Mapping[str, str]) -> list[str]:
    """``kind/namespace/name`` of every object of ``crds`` (those that exist) that no release in
    ``releases`` (name -> namespace) owns according to Helm's annotations."""
    if not crds:
        return []
    found = kube.json("get", "crd", *crds, "--ignore-not-found")
    remaining: list[str] = []
    for crd in found.get("items") or []:
        spec = crd.get("spec") or {}
        resource = f"{spec.get('names', {}).get('plural')}.{spec.get('group')}"
        for item in kube.json("get", resource, "--all-namespaces").get("items") or []:
            meta = item.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            owner = str(annotations.get("meta.helm.sh/release-name"))
            if owner in releases and annotations.get("meta.helm.sh/release-namespace") == releases[owner]:
                continue
            where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
            remaining.append(f"{item.get('kind')}/{where}{meta.get('name')}")
    return sorted(remaining)


def _refuse(remaining: list[str], when: str) -> DestroyRefusedError:
    shown = ", ".join(remaining[:_SHOWN]) + (f" and {len(remaining) - _SHOWN} more" if len(remaining) > _SHOWN else "")
    return DestroyRefusedError(f"{when}: {len(remaining)} custom resource(s) of these CRDs remain ({shown}); "
                               "delete them first or give FORCE=1 (--force) to delete them with the CRDs")


def destroy(
    config_path: Path,
    root: Path,
    *,
    bundles: Sequence[str] = (),
    delete_namespaces: bool = False,
    delete_crds: bool = False,
    force: bool = False,
    kube_context: str | None = None,
    helmfile: Path | None = None,
    helm: Path | None = None,
    kubectl: Path | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> DestroyResult:
    """Uninstall the selected releases (``bundles``; all entries when empty) of the project in
    ``root`` (see the module docstring); return what was removed.

    Raises :class:`extractor.errors.ConfigError` for an unknown entry or a chart that has not been generated,
    :class:`extractor.errors.DestroyRefusedError` when custom resources would be deleted without ``force`` (step 1:
    nothing deleted; step 4: releases and namespaces removed, CRDs kept), :class:`ToolError` when
    kubectl or helmfile fails.
    """
    config = load_config(config_path)
    selected = list(bundles) or [e.name for e in config.bundles]
    specs = {e.name: read_release_spec(root, e) for e in config.bundles if e.name in selected}
    unknown = [name for name in selected if name not in specs]
    if unknown:
        config.entry(unknown[0])  # raises ConfigError listing the known names
    others = [read_release_spec(root, e) for e in config.bundles
              if e.name not in specs and (root / CHARTS_DIR / e.name / "release.yaml").is_file()]
    kept_crds = {n for spec in others for n in crd_names(root / CHARTS_DIR / spec.name)}
    crds: list[str] = []
    if delete_crds:
        for name in specs:
            for crd in crd_names(root / CHARTS_DIR / name):
                if crd in kept_crds:
                    report(f"keeping CRD {crd}: chart of another release not being destroyed ships it too")
                elif crd not in crds:
                    crds.append(crd)
    kube = _Kube(_tool("kubectl", kubectl), kube_context)
    releases = {name: spec.namespace for name, spec in specs.items()}
    if delete_crds and crds:
        remaining = _custom_resources(kube, crds, releases)
        if remaining and not force:
            raise _refuse(remaining, "refusing to destroy (nothing was deleted)")
        for line in remaining:
            report(f"custom resource to delete with its CRD (--force): {line}")
    helmfile_args = [_tool("helmfile", helmfile), "--helm-binary", _tool("helm", helm),
                     "--file", str(root / HELMFILE_NAME)]
    if kube_context:
        helmfile_args += ["--kube-context", kube_context]
    if bundles:
        for name in specs:
            helmfile_args += ["--selector", f"name={name}"]
    report(f"helmfile destroy: {', '.join(specs)}")
    binary, *flags = helmfile_args
    run_tool("helmfile", [*flags, "destroy"], path=binary, cwd=root, timeout=HELMFILE_TIMEOUT,
             env={"HELMFILE_UPGRADE_NOTICE_DISABLED": "1"})
    result = DestroyResult(releases=list(specs))
    if delete_namespaces:
        used = {ns for spec in others for ns in (spec.namespace, *spec.extra_namespaces)}
        for spec in specs.values():
            for namespace in (*spec.extra_namespaces, spec.namespace):
                if namespace in PROTECTED_NAMESPACES or namespace in used or namespace in result.namespaces:
                    continue
                result.namespaces.append(namespace)
        if result.namespaces:
            report(f"deleting namespaces: {', '.join(result.namespaces)}")
            kube.run("delete", "namespace", *result.namespaces, "--ignore-not-found", "--wait=false")
    if delete_crds and crds:
        remaining = _custom_resources(kube, crds, {})
        if remaining and not force:
            raise _refuse(remaining, "releases removed, CRDs kept")
        listed = kube.json("get", "crd", *crds, "--ignore-not-found").get("items") or []
        present = [str(item["metadata"]["name"]) for item in listed]
        if present:
            for name in present:
                report(f"deleting CRD {name}")
            kube.run("delete", "crd", *present, "--ignore-not-found", f"--timeout={int(KUBECTL_TIMEOUT) - 10}s")
        result.crds = present
    return result
