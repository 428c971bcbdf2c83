"""What a written chart tells the helmfile: its release spec, hooks and image uses.

A :class:`ReleaseSpec` is stored beside each generated chart as ``charts/<name>/release.yaml``, so
the helmfile, the dependency order and ``bundle-extract images`` work from a generated project
without pulling bundles again (and without loading the chart draft model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.errors import ConfigError
from extractor.files import read_bounded

__all__ = ["Hook", "ImageUse", "ReleaseSpec"]


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
        """Read ``charts/<name>/release.yaml``. Raises :class:`ConfigError` if missing, not a
        regular file, larger than :data:`~extractor.files.MAX_PROJECT_FILE_BYTES` or malformed."""
        try:
            data = yamlio.load(read_bounded(path))
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except ConfigError:
            raise
        except Exception as exc:  # yaml.YAMLError and decoding errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{path}: invalid YAML: {first}") from None
        return cls.from_dict(data, str(path))
