"""The chart being built: what post-processors read and return, and what emitters write.

A :class:`ChartDraft` starts as the render result (plain objects with literal namespaces) and is
transformed by the post-processors named in ``bundles.yaml``. Post-processors never mutate their
input: they return a new draft (``dataclasses.replace`` plus copied containers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extractor.model import KubeObject


@dataclass(frozen=True)
class CRDFile:
    """A CRD applied by the release's presync hook instead of by Helm.

    ``name``: the CRD's ``metadata.name``; ``filename``: file name inside the chart's presync CRD
    directory; ``data``: the exact bytes to write (bundle bytes, byte-for-byte, for bundle CRDs);
    ``group``: presync group; each group is one directory applied by its own hook
    (``"bundle"`` for the bundle's CRDs); ``condition``: helmfile environment value path that
    gates the group's hook (``None`` = always applied), e.g. ``"openshiftInfrastructureStub.enabled"``.
    """

    name: str
    filename: str
    data: bytes
    group: str = "bundle"
    condition: str | None = None


@dataclass(frozen=True)
class Template:
    """One file in the chart's ``templates/``.

    Exactly one of ``obj`` (a Kubernetes object tree, possibly holding
    :class:`extractor.gotemplate.Tpl`/``Block`` nodes) or ``text`` (verbatim template text) is set.
    ``condition``: a Go template condition wrapping the whole file, e.g. ``.Values.certManager.create``.
    ``filename``: deterministic name, set by the emitter when empty.
    """

    obj: Any = None
    text: str | None = None
    condition: str | None = None
    filename: str = ""


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
    ``needs``: release names (from bundles.yaml) this release is installed after.
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


@dataclass(frozen=True)
class ReleaseSpec:
    """What the helmfile needs to know about one generated chart (stored beside the chart as
    ``charts/<name>/release.yaml`` so the helmfile can be regenerated without re-pulling bundles).

    ``chart_dir`` is relative to the helmfile. ``needs`` are release names of this helmfile.
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
