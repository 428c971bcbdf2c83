"""The chart being built: what post-processors read and return, and what emitters write.

A :class:`ChartDraft` starts as the render result (plain objects with literal namespaces) and is
transformed by the post-processors named in ``bundles.yaml``. Post-processors never mutate their
input: they return a new draft (``dataclasses.replace`` plus copied containers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.errors import ConfigError
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


@dataclass(frozen=True)
class ImageUse:
    """One place a chart names an image (see :mod:`postprocess.image_mirrors`).

    ``reference``: the reference exactly as the bundle wrote it (tag or digest, or a placeholder
    such as ``${OPERATOR_IMAGE}``); ``source``: the kind of place, one of ``container``,
    ``initContainer``, ``env`` (``RELATED_IMAGE_*`` and image-valued variables), ``annotation``
    (image annotations of a workload or its pod template, e.g. sail's ``images.v1_27_3.istiod``)
    and ``relatedImages`` (CSV ``spec.relatedImages``, not deployed but listed for mirroring);
    ``object``: ``Kind/name`` of the object; ``field``: where in it
    (``spec.template.spec.containers[manager].image``); ``problem``: why the reference cannot be
    pulled as it is (a placeholder, not a registry host, ``:latest`` from a host that is not a
    registry), ``None`` when it can.
    """

    reference: str
    source: str
    object: str
    field: str
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``release.yaml`` (inverse of :meth:`from_dict`)."""
        data: dict[str, Any] = {"image": self.reference, "source": self.source, "object": self.object,
                                "field": self.field}
        if self.problem:
            data["problem"] = self.problem
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ImageUse:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` when malformed."""
        problem = data.get("problem")
        return cls(reference=str(data["image"]), source=str(data["source"]), object=str(data["object"]),
                   field=str(data["field"]), problem=None if problem is None else str(problem))


@dataclass(frozen=True)
class Hook:
    """A helmfile release hook.

    ``args`` are the literal argument strings as the hook should receive them at run time; they
    may contain release-context Go templates such as ``{{ .Release.Namespace }}`` which the helmfile
    emitter escapes so they survive helmfile's first template pass. ``condition``: helmfile
    environment value path that gates the hook, or ``None``.
    """

    name: str
    events: tuple[str, ...]
    command: str
    args: tuple[str, ...]
    showlogs: bool = True
    condition: str | None = None


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


@dataclass(frozen=True)
class ReleaseSpec:
    """What the helmfile needs to know about one generated chart (stored beside the chart as
    ``charts/<name>/release.yaml`` so the helmfile can be regenerated without re-pulling bundles).

    ``chart_dir`` is relative to the helmfile. ``needs`` are release names of this helmfile.
    ``presync_groups``: ``(group, condition)`` per ``presync/<group>/`` directory of CRDs.
    Conditions (here, in :class:`Hook` and :class:`CRDFile`) are helmfile environment value paths,
    optionally negated with a leading ``!`` (``"!openshift.enabled"``).
    ``custom_resources``: the chart creates custom resources (-> ``disableValidationOnInstall``).
    ``pull_secret_values``: file name, inside the chart directory, of the ``*.values.yaml.gotmpl``
    that passes the deploy-wide image values and fills ``pullSecret.dockerConfigJson`` at deploy
    time (``None``: the chart has neither a pull secret nor the image values).
    ``value_bindings``: ``(chart value path, condition)`` pairs passed as boolean chart values.
    ``namespace_bound_crds``: names of presync CRDs bound to ``namespace`` (their conversion webhook
    points at the Service there): the helmfile refuses to install the release anywhere else.
    ``package``/``version``: the bundle's package and CSV version (for other bundles' ``olm.package``
    dependencies); ``provides``/``requires``/``dependencies``: see :class:`ChartDraft`;
    ``crd_versions``: ``(CRD name, version names)`` of the presync CRDs the stored-versions check covers.
    ``images``: every place the chart names an image (:class:`ImageUse`), so that
    ``bundle-extract images`` works from the generated project without pulling bundles.
    """

    name: str
    namespace: str
    chart_dir: str
    needs: tuple[str, ...] = ()
    hooks: tuple[Hook, ...] = ()
    extra_namespaces: tuple[str, ...] = ()
    registries: tuple[str, ...] = ()
    helmfile_values: dict[str, Any] = field(default_factory=dict)
    presync_groups: tuple[tuple[str, str | None], ...] = ()
    custom_resources: bool = False
    pull_secret_values: str | None = None
    value_bindings: tuple[tuple[str, str], ...] = ()
    namespace_bound_crds: tuple[str, ...] = ()
    package: str = ""
    version: str = ""
    provides: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    dependencies: tuple[dict[str, Any], ...] = ()
    crd_versions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    images: tuple[ImageUse, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``release.yaml`` (inverse of :meth:`from_dict`)."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "chartDir": self.chart_dir,
            "needs": list(self.needs),
            "hooks": [
                {
                    "name": h.name,
                    "events": list(h.events),
                    "command": h.command,
                    "args": list(h.args),
                    "showlogs": h.showlogs,
                    "condition": h.condition,
                }
                for h in self.hooks
            ],
            "extraNamespaces": list(self.extra_namespaces),
            "registries": list(self.registries),
            "helmfileValues": self.helmfile_values,
            "presyncGroups": [{"group": g, "condition": c} for g, c in self.presync_groups],
            "customResources": self.custom_resources,
            "pullSecretValues": self.pull_secret_values,
            "valueBindings": [{"value": v, "condition": c} for v, c in self.value_bindings],
            "namespaceBoundCRDs": list(self.namespace_bound_crds),
            "package": self.package,
            "version": self.version,
            "provides": list(self.provides),
            "requires": list(self.requires),
            "dependencies": [dict(d) for d in self.dependencies],
            "crdVersions": [{"name": n, "versions": list(v)} for n, v in self.crd_versions],
            "images": [image.to_dict() for image in self.images],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "release.yaml") -> ReleaseSpec:
        """Inverse of :meth:`to_dict`. Raises :class:`ConfigError` naming ``where`` when malformed."""
        try:
            return cls(
                name=str(data["name"]),
                namespace=str(data["namespace"]),
                chart_dir=str(data["chartDir"]),
                needs=tuple(str(n) for n in data.get("needs") or ()),
                hooks=tuple(
                    Hook(
                        name=str(h["name"]),
                        events=tuple(str(e) for e in h["events"]),
                        command=str(h["command"]),
                        args=tuple(str(a) for a in h.get("args") or ()),
                        showlogs=bool(h.get("showlogs", True)),
                        condition=None if h.get("condition") is None else str(h["condition"]),
                    )
                    for h in data.get("hooks") or ()
                ),
                extra_namespaces=tuple(str(n) for n in data.get("extraNamespaces") or ()),
                registries=tuple(str(r) for r in data.get("registries") or ()),
                helmfile_values=dict(data.get("helmfileValues") or {}),
                presync_groups=tuple(
                    (str(g["group"]), None if g.get("condition") is None else str(g["condition"]))
                    for g in data.get("presyncGroups") or ()
                ),
                custom_resources=bool(data.get("customResources", False)),
                pull_secret_values=(
                    None if data.get("pullSecretValues") is None else str(data["pullSecretValues"])
                ),
                value_bindings=tuple(
                    (str(b["value"]), str(b["condition"])) for b in data.get("valueBindings") or ()
                ),
                namespace_bound_crds=tuple(str(n) for n in data.get("namespaceBoundCRDs") or ()),
                package=str(data.get("package") or ""),
                version=str(data.get("version") or ""),
                provides=tuple(str(p) for p in data.get("provides") or ()),
                requires=tuple(str(r) for r in data.get("requires") or ()),
                dependencies=tuple(dict(d) for d in data.get("dependencies") or ()),
                crd_versions=tuple(
                    (str(c["name"]), tuple(str(v) for v in c.get("versions") or ()))
                    for c in data.get("crdVersions") or ()
                ),
                images=tuple(ImageUse.from_dict(i) for i in data.get("images") or ()),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where}: malformed release spec ({type(exc).__name__}: {exc})") from None

    @classmethod
    def from_file(cls, path: Path) -> ReleaseSpec:
        """Read ``charts/<name>/release.yaml``. Raises :class:`ConfigError` if missing or malformed."""
        try:
            data = yamlio.load(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except Exception as exc:  # yaml.YAMLError and decoding errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{path}: invalid YAML: {first}") from None
        return cls.from_dict(data, str(path))
