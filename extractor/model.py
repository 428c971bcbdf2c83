"""Data passed between pipeline stages.

Shapes only; behaviour lives in the stage modules. Kubernetes objects are plain ``dict`` trees as
parsed by :mod:`extractor.yamlio` (``KubeObject``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A Kubernetes DNS-1123 label: names of namespaces, releases, charts and bundles.yaml entries."""

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class BundleSource:
    """Where a bundle came from and where its unpacked files are.

    ``reference``: what the user gave (image reference or directory path).
    ``image``: the canonical image reference as requested, before mirror rewriting
    (``registry.redhat.io/ns/repo:tag``), or ``None`` for a directory.
    ``pulled_from``: the reference actually fetched after mirror rewriting, or ``None``.
    ``digest``: the image manifest digest (``sha256:<hex>``) or ``None`` for a directory.
    ``directory``: a directory holding ``manifests/`` and ``metadata/``.
    """

    reference: str
    directory: Path
    image: str | None = None
    pulled_from: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class ManifestDoc:
    """One YAML document of a bundle file.

    ``path``: path relative to the bundle root, e.g. ``manifests/foo.crd.yaml``.
    ``index``: 0-based document index in that file.
    ``raw``: the exact bytes of the file when this is its only document, else ``None``.
    """

    obj: KubeObject
    path: str
    index: int = 0
    raw: bytes | None = None

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))


@dataclass
class Bundle:
    """A loaded registry+v1 bundle (OLMv1 rukpak/bundle/source semantics).

    ``csv``: the ClusterServiceVersion object (with ``metadata/properties.yaml`` merged into the
    ``olm.properties`` annotation); ``crds``: CustomResourceDefinition documents in file order
    (files sorted by name); ``others``: every other document; ``dependencies``: the entries of
    ``metadata/dependencies.yaml`` (``{"type": ..., "value": ...}``, in file order); ``notes``:
    one-line notes for a person about what loading changed (a dropped ImageStream, an annotation
    added to a converted CRD).
    """

    source: BundleSource
    annotations: dict[str, str]
    package: str
    csv: KubeObject
    csv_path: str
    crds: list[ManifestDoc] = field(default_factory=list)
    others: list[ManifestDoc] = field(default_factory=list)
    dependencies: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def csv_name(self) -> str:
        return str(self.csv["metadata"]["name"])

    @property
    def version(self) -> str:
        return str((self.csv.get("spec") or {}).get("version", ""))


@dataclass(frozen=True)
class RenderOptions:
    """Options of the OLM render (OLMv1 render.Options).

    ``install_namespace``: where the operator runs.
    ``watch_namespaces``: ``None`` = OLM's default for the CSV's install modes; otherwise the
    user's target namespaces (``("",)`` or ``()`` is not allowed: use ``None`` for default).
    ``cert_provider``: ``"cert-manager"``, ``"openshift-service-ca"`` or ``"none"``.
    ``cert_manager_issuer_name`` / ``_kind``: use an existing issuer instead of a self-signed one.
    ``rbac_names``: ``"olm"`` (OLMv1 hashed names) or ``"readable"``.
    ``allowed_kinds``: extra kinds allowed among the bundle's other objects.
    ``deployment_config``: OLM Subscription ``spec.config`` applied to every deployment.
    ``render_apiservices``: render owned APIServices (OLMv0 behaviour) instead of refusing them.
    """

    install_namespace: str
    watch_namespaces: tuple[str, ...] | None = None
    cert_provider: str = "cert-manager"
    cert_manager_issuer_name: str | None = None
    cert_manager_issuer_kind: str | None = None
    rbac_names: str = "olm"
    allowed_kinds: tuple[str, ...] = ()
    deployment_config: KubeObject | None = None
    render_apiservices: bool = True


@dataclass
class Manifests:
    """Render result: the plain objects OLM would apply, in a deterministic order.

    ``raw_crds``: CRD name -> exact bundle file bytes, for CRDs whose rendered object is
    unchanged from the bundle (so emitters can copy them byte-for-byte).
    ``target_namespaces``: the resolved target namespaces (``("",)`` = all namespaces).
    ``notes``: one-line notes for a person where the render departs from OLMv1 or drops something
    (the bundle's notes first), e.g. a defaulted OwnNamespace install mode.
    """

    objects: list[KubeObject]
    raw_crds: dict[str, bytes] = field(default_factory=dict)
    target_namespaces: tuple[str, ...] = ("",)
    notes: list[str] = field(default_factory=list)
