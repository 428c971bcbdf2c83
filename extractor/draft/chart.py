"""The chart being built: what post-processors read and return, and what emitters write.

A :class:`ChartDraft` starts as the render result (plain objects with literal namespaces) and is
transformed by the post-processors named in ``bundles.yaml``. Post-processors never mutate their
input: they return a new draft (``dataclasses.replace`` plus copied containers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extractor.draft.release import Hook, ImageUse
from extractor.model import KubeObject


@dataclass(frozen=True)
class CRDFile:
    """A CRD applied by the release's presync hook instead of by Helm.

    ``name``: the CRD's ``metadata.name``; ``filename``: file name inside the chart's presync CRD
    directory; ``data``: the exact bytes to write (bundle bytes, byte-for-byte, for bundle CRDs);
    ``group``: presync group; each group is one directory applied by its own hook
    (``"bundle"`` for the bundle's CRDs); ``condition``: helmfile environment value path that
    gates the group's hook (``None`` = always applied), e.g. ``"openshiftInfrastructureStub.enabled"``;
    ``versions``: the names of the CRD's ``spec.versions`` (for the presync check that no version
    still stored in the cluster is removed; ``()`` = not checked); ``obj``: the parsed CRD, equal
    to ``yamlio.load(data)``, when the post-processor that made the file had it (shared, read-only:
    writers use it instead of parsing ``data`` again; not part of equality).
    """

    name: str
    filename: str
    data: bytes
    group: str = "bundle"
    condition: str | None = None
    versions: tuple[str, ...] = ()
    obj: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Template:
    """One file in the chart's ``templates/``.

    Exactly one of ``obj`` (a Kubernetes object tree, possibly holding
    :class:`extractor.draft.gotemplate.Tpl`/``Block`` nodes) or ``text`` (verbatim template text) is set.
    ``condition``: a Go template condition wrapping the whole file, e.g. ``.Values.certManager.create``.
    ``filename``: deterministic name, set by the emitter when empty.
    """

    obj: Any = None
    text: str | None = None
    condition: str | None = None
    filename: str = ""


@dataclass
class ChartDraft:
    """Everything known about one chart while it is being post-processed.

    ``objects``: rendered plain objects (namespaced objects carry the literal install namespace
    until ``templatize-namespaces`` runs); ``templates``: extra files for ``templates/`` (operator CRs,
    pull-secret template...); ``crds``: CRDs moved out of the templates by ``split-crds``;
    ``values``: the chart's default values (merged into values.yaml); ``helpers``: extra
    ``_helpers.tpl`` definitions (name -> body); ``hooks``: helmfile hooks of this release;
    ``extra_namespaces``: namespaces the helmfile creates before the release (operand namespaces);
    ``registries``: registry hosts the chart pulls images from (for pull-secret filtering);
    ``helmfile_values``: defaults for helmfile environment values this chart's hooks read;
    ``needs``: release names (from bundles.yaml) this release is installed after;
    ``value_docs``: ``# --`` comments for values.yaml, by dotted value path (``"pullSecret.name"``);
    ``value_bindings``: chart value path -> helmfile condition (see :class:`ReleaseSpec`) the
    helmfile passes as that chart value, e.g. ``{"infrastructure.create": "!openshift.enabled"}``;
    ``namespace_bound_crds``: presync CRDs that name the install namespace (conversion webhook
    service, CA injection), so the release must be installed in ``install_namespace``;
    ``provides``: ``group/version/Kind`` of every API the chart's CRDs serve; ``requires``: those
    the chart creates objects of without providing them (checked before install, or provided by a
    release it needs); ``dependencies``: the bundle's dependencies (:attr:`extractor.model.Bundle.dependencies`);
    ``value_schemas``: JSON Schema (draft-07) fragments for values whose shape the defaults alone
    do not tell, by dotted value path (``"imageRegistryMirrors"`` -> ``{"type": "object",
    "additionalProperties": {"type": "string"}}``, ``"istio.spec"`` -> the CRD's
    ``openAPIV3Schema`` of ``spec``); the chart writer merges them into ``values.schema.json``;
    ``images``: every place the chart names an image (:class:`ImageUse`, for ``bundle-extract images``
    and the deploy-time pull Secret).
    """

    name: str
    install_namespace: str
    bundle_image: str | None
    bundle_digest: str | None
    csv_name: str
    csv_version: str
    package: str
    objects: list[KubeObject]
    raw_crds: dict[str, bytes] = field(default_factory=dict)
    templates: list[Template] = field(default_factory=list)
    crds: list[CRDFile] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    hooks: list[Hook] = field(default_factory=list)
    extra_namespaces: list[str] = field(default_factory=list)
    registries: list[str] = field(default_factory=list)
    helmfile_values: dict[str, Any] = field(default_factory=dict)
    csv: KubeObject = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    value_docs: dict[str, str] = field(default_factory=dict)
    value_bindings: dict[str, str] = field(default_factory=dict)
    namespace_bound_crds: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    dependencies: list[dict[str, Any]] = field(default_factory=list)
    value_schemas: dict[str, Any] = field(default_factory=dict)
    images: list[ImageUse] = field(default_factory=list)
