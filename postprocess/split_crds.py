"""``split-crds`` (default on): CRDs leave the chart templates and are applied by a presync hook.

Every ``CustomResourceDefinition`` in ``draft.objects`` becomes a :class:`CRDFile` of group
``"bundle"`` holding the bundle file's exact bytes (``draft.raw_crds[name]``; a CRD the render
changed is dumped with :mod:`extractor.yamlio`). The helmfile applies each group with
``kubectl apply --server-side --force-conflicts`` (the Sail CRDs are 0.5-0.7 MB: too big for
client-side apply's last-applied annotation and for Helm's release Secret), and the chart's
``.helmignore`` keeps ``presync/`` out of the package.

``helmfile apply`` runs a release's hooks only when helm-diff reports a change, so the chart gets
a ConfigMap ``<chart>-crd-checksums`` whose data maps each CRD name (every group, including CRDs
other post-processors added before) to ``sha256:<hex>`` of its file: a CRD change is a chart diff.

CRDs of conversion webhooks are the exception to byte-for-byte: OLM's render points
``spec.conversion.webhook.clientConfig.service`` at the webhook Service in the install namespace
and adds ``cert-manager.io/inject-ca-from: <ns>/<cert>``. A CRD is cluster-scoped, shared by every
release and applied outside Helm, so it cannot follow ``.Release.Namespace``; it is written with the
install namespace and listed in ``draft.namespace_bound_crds``. The helmfile then refuses (presync
hook ``namespace-guard``) to install the release in any other namespace: to move such an
operator, change ``namespace:`` in bundles.yaml and regenerate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from extractor import yamlio
from extractor.draft import ChartDraft, CRDFile
from extractor.errors import PostProcessError
from postprocess._common import Options, copy_draft, kind_of, name_of

__all__ = ["BUNDLE_GROUP", "DOC", "binds_namespace", "checksum_configmap_name", "run"]

DOC = "move CRDs to presync/ (byte-for-byte, server-side applied) and add a CRD checksum ConfigMap"
BUNDLE_GROUP = "bundle"


def checksum_configmap_name(chart: str) -> str:
    """Name of the ConfigMap carrying the CRD checksums of chart ``chart``."""
    return f"{chart}-crd-checksums"


def _is_crd(obj: Mapping[str, Any]) -> bool:
    return kind_of(dict(obj)) == "CustomResourceDefinition" and str(obj.get("apiVersion", "")).startswith(
        "apiextensions.k8s.io/"
    )


def binds_namespace(crd: Mapping[str, Any], namespace: str) -> bool:
    """True when ``crd`` names ``namespace``: its conversion webhook Service is there, or its CA is
    injected from a certificate there (``cert-manager.io/inject-ca-from: <namespace>/...``)."""
    spec = crd.get("spec") or {}
    conversion = spec.get("conversion") if isinstance(spec, dict) else None
    webhook = conversion.get("webhook") if isinstance(conversion, dict) else None
    client = webhook.get("clientConfig") if isinstance(webhook, dict) else None
    service = client.get("service") if isinstance(client, dict) else None
    if isinstance(service, dict) and service.get("namespace") == namespace:
        return True
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    inject = annotations.get("cert-manager.io/inject-ca-from") if isinstance(annotations, dict) else None
    return isinstance(inject, str) and inject.startswith(namespace + "/")


def _version_names(crd: Mapping[str, Any]) -> tuple[str, ...]:
    spec = crd.get("spec")
    versions = spec.get("versions") if isinstance(spec, dict) else None
    return tuple(str(v["name"]) for v in versions or () if isinstance(v, dict) and isinstance(v.get("name"), str))


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). No options.

    Raises :class:`PostProcessError` when two CRDs share a name.
    """
    Options("split-crds", options).done()
    out = copy_draft(draft)
    kept = []
    seen = {crd.name for crd in out.crds}
    for obj in out.objects:
        if not _is_crd(obj):
            kept.append(obj)
            continue
        name = name_of(obj)
        if not name:
            raise PostProcessError("a CustomResourceDefinition has no metadata.name")
        if name in seen:
            raise PostProcessError(f"CustomResourceDefinition {name!r} appears twice")
        seen.add(name)
        data = out.raw_crds.get(name)
        if data is None:
            data = yamlio.dump(obj).encode("utf-8")
            if binds_namespace(obj, out.install_namespace):
                out.namespace_bound_crds.append(name)
        out.crds.append(CRDFile(name=name, filename=f"{name}.yaml", data=data, group=BUNDLE_GROUP,
                                versions=_version_names(obj), obj=obj))
    out.objects = kept
    if out.crds:
        checksums = {
            crd.name: "sha256:" + hashlib.sha256(crd.data).hexdigest() for crd in sorted(out.crds, key=lambda c: c.name)
        }
        out.objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": checksum_configmap_name(out.name),
                    "namespace": out.install_namespace,
                    "annotations": {
                        "bundle-extract.io/purpose": (
                            "sha256 of each CRD applied by the presync hook, so that a CRD change "
                            "is a chart change and helmfile apply runs the hook"
                        )
                    },
                },
                "data": checksums,
            }
        )
    return out
