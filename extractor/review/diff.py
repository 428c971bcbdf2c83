"""The review report: what a regeneration changes, chart by chart, semantically.

``review(project, base, head)`` loads both sides (:mod:`extractor.review.snapshot`: a git ref or a
directory; ``helm template`` output and presync CRDs) and compares them
(:func:`compare_projects`). Objects are matched by API group, kind, namespace and name; an object
removed and one added with the same kind and the same content is a rename. Field changes come from
``deepdiff`` (:mod:`extractor.review.changes`); the sections images, RBAC, CRDs, webhooks,
workloads and helmfile have their own modules; what none of them covers is listed per object.
Generation noise is counted, not listed: label/annotation values that differ only by the chart or
app version (``helm.sh/chart``), the CRD checksum ConfigMap (it mirrors the CRD changes), and RBAC
rules regrouped with the same permissions.
Reads only; the output is sorted and deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.emit.chart import ANNOTATION_PREFIX
from extractor.review.changes import (
    Change,
    ObjectKey,
    describe_key,
    expand_json,
    leaf_changes,
    mapping,
    normalize,
    object_key,
)
from extractor.review.crds import CRDChange, crd_changes
from extractor.review.images import (
    ImageChange,
    image_changes,
    image_locations,
    is_custom_resource,
    is_image_annotation,
    is_image_env,
    is_version_field,
    pod_template,
)
from extractor.review.rbac import RoleChange, permissions, rbac_changes
from extractor.review.releases import release_changes
from extractor.review.snapshot import ChartSnapshot, ProjectSnapshot, load_project, open_side
from extractor.review.versions import parse_version
from extractor.review.workloads import WEBHOOK_KINDS, WORKLOAD_KINDS, ItemChanges, webhook_changes, workload_changes
from postprocess.split_crds import checksum_configmap_name

__all__ = ["ChartInfo", "ChartReport", "ObjectDiff", "ReviewReport", "compare_charts", "compare_projects", "review"]


@dataclass(frozen=True)
class ChartInfo:
    """One side of a chart: bundle ``version`` (appVersion), ``chart_version``, bundle ``image`` and ``digest``."""

    version: str | None
    chart_version: str | None
    image: str | None
    digest: str | None

    @classmethod
    def of(cls, chart: ChartSnapshot) -> ChartInfo:
        """Read from the chart's Chart.yaml."""
        annotations = mapping(chart.chart.get("annotations"))

        def text(value: Any) -> str | None:
            return None if value in (None, "") else str(value)

        return cls(text(chart.chart.get("appVersion")), text(chart.chart.get("version")),
                   text(annotations.get(ANNOTATION_PREFIX + "bundle-image")),
                   text(annotations.get(ANNOTATION_PREFIX + "bundle-digest")))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """``{version, chartVersion, image, digest}``."""
        return {"version": self.version, "chartVersion": self.chart_version, "image": self.image, "digest": self.digest}


@dataclass(frozen=True)
class ObjectDiff:
    """A changed object: ``object`` names it, ``changes`` are the changes no section reports,
    ``sections`` the sections (images, rbac, webhooks, workloads) reporting the others."""

    object: str
    changes: tuple[Change, ...]
    sections: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{object, changes, sections}``."""
        return {"object": self.object, "changes": [c.to_dict() for c in self.changes], "sections": list(self.sections)}


@dataclass(frozen=True)
class ChartReport:
    """Everything that changed in one chart (see the module docstring). ``status``: added, removed,
    changed or unchanged; ``renamed``: ``(old, new)`` object names; ``noise``: changes counted, not listed."""

    name: str
    status: str
    base: ChartInfo | None
    head: ChartInfo | None
    downgrade: bool = False
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    changed: tuple[ObjectDiff, ...] = ()
    images: tuple[ImageChange, ...] = ()
    rbac: tuple[RoleChange, ...] = ()
    crds: tuple[CRDChange, ...] = ()
    webhooks: tuple[ItemChanges, ...] = ()
    workloads: tuple[ItemChanges, ...] = ()
    helmfile: tuple[Change, ...] = ()
    noise: int = 0

    @property
    def sensitive(self) -> list[str]:
        """Every finding flagged for a reviewer's attention, in section order."""
        found = []
        if self.downgrade and self.base and self.head:
            found.append(f"downgrade {self.base.version} -> {self.head.version}")
        found += [reason for image in self.images for reason in image.sensitive]
        found += [f"{role.role}: {reason}" for role in self.rbac for reason in role.sensitive]
        for section in (self.crds, self.webhooks):
            for entry in section:
                found.extend(entry.sensitive)
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys as in the dataclass (camelCase), plus ``sensitive``."""
        return {
            "name": self.name, "status": self.status, "downgrade": self.downgrade,
            "base": self.base.to_dict() if self.base else None, "head": self.head.to_dict() if self.head else None,
            "objects": {"added": list(self.added), "removed": list(self.removed),
                        "renamed": [{"from": a, "to": b} for a, b in self.renamed],
                        "changed": [o.to_dict() for o in self.changed]},
            "images": [i.to_dict() for i in self.images], "rbac": [r.to_dict() for r in self.rbac],
            "crds": [c.to_dict() for c in self.crds], "webhooks": [w.to_dict() for w in self.webhooks],
            "workloads": [w.to_dict() for w in self.workloads], "helmfile": [h.to_dict() for h in self.helmfile],
            "noise": self.noise, "sensitive": self.sensitive,
        }  # fmt: skip


@dataclass(frozen=True)
class ReviewReport:
    """The report: the two sides' labels and one :class:`ChartReport` per chart of either side."""

    base: str
    head: str
    charts: tuple[ChartReport, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """``{base, head, charts: [...]}``."""
        return {"base": self.base, "head": self.head, "charts": [c.to_dict() for c in self.charts]}

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON with a final newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"


def _versions(old: ChartSnapshot, new: ChartSnapshot) -> list[tuple[str, str]]:
    """``(old, new)`` version strings whose substitution is generation noise."""
    pairs = [(old.chart_version, new.chart_version), (str(old.chart.get("appVersion") or ""),
                                                      str(new.chart.get("appVersion") or ""))]
    return [(a, b) for a, b in pairs if a and b and a != b]


def _is_noise(change: Change, versions: list[tuple[str, str]]) -> bool:
    parts = change.parts
    if len(parts) < 2 or parts[-2] not in ("labels", "annotations"):
        return False
    if parts[-1] == "helm.sh/chart":
        return True
    if not (isinstance(change.old, str) and isinstance(change.new, str)):
        return False
    return any(a in change.old and change.old.replace(a, b) == change.new for a, b in versions)


def _section(obj: Mapping[str, Any], change: Change) -> str | None:
    """The section (``images``, ``rbac``, ``webhooks``, ``workloads``) reporting ``change`` of ``obj``, if any."""
    parts, kind = change.parts, obj.get("kind")
    if kind in ("Role", "ClusterRole"):
        return "rbac" if parts[:1] == ("rules",) else None
    if kind in WEBHOOK_KINDS:
        return "webhooks" if parts[:1] == ("webhooks",) else None
    if kind == "ClusterServiceVersion" and parts[:2] == ("spec", "relatedImages"):
        return "images"
    if is_custom_resource(obj) and parts[:1] == ("spec",):
        return "images" if any(isinstance(p, str) and is_version_field(p) for p in parts) else None
    template = pod_template(obj)
    if template is None or kind not in (*WORKLOAD_KINDS, "Pod", "Job", "CronJob", "ReplicaSet"):
        return None
    if parts == ("spec", "replicas"):
        return "workloads"
    base = template[0]
    rest = parts[len(base):] if parts[: len(base)] == base else ()
    if rest[:2] == ("spec", "securityContext"):
        return "workloads"
    if rest[:2] in (("spec", "containers"), ("spec", "initContainers")):
        if len(rest) < 4 or rest[3] in ("args", "command", "resources", "securityContext"):
            return "workloads"
        if rest[3] == "image":
            return "images"
        if rest[3] == "env":
            variable = template[1]["spec"]
            return "images" if _image_env(variable, rest) else "workloads"
    if rest[:2] == ("metadata", "annotations") and len(rest) > 2:
        value = change.new if change.new is not None else change.old
        return "images" if is_image_annotation(str(rest[2]), value) else None
    return None


def _image_env(pod: Mapping[str, Any], rest: tuple[Any, ...]) -> bool:
    """True when ``rest`` (``spec, containers, [c], env, [NAME], …``) is an env variable naming an image."""
    if len(rest) < 5 or not isinstance(rest[4], str):
        return False
    name = rest[4].strip("[]")
    container_name = str(rest[2]).strip("[]")
    for container in pod.get(str(rest[1])) or []:
        if isinstance(container, Mapping) and container.get("name") == container_name:
            for env in container.get("env") or []:
                if isinstance(env, Mapping) and env.get("name") == name:
                    return is_image_env(name, env.get("value"))
    return False


def _canonical(obj: Mapping[str, Any], versions: list[tuple[str, str]], side: int) -> str:
    """``obj`` without its name and version noise, for rename detection."""
    data = dict(normalize(obj))
    meta = dict(mapping(data.get("metadata")))
    meta.pop("name", None)
    for key in ("labels", "annotations"):
        values = {k: v for k, v in mapping(meta.get(key)).items() if k != "helm.sh/chart"}
        for label, value in values.items():
            for pair in versions:
                value = value.replace(pair[side], "<version>") if isinstance(value, str) else value
            values[label] = value
        meta[key] = values
    data["metadata"] = meta
    return json.dumps(data, sort_keys=True, default=str)


def _objects(old: ChartSnapshot, new: ChartSnapshot) -> dict[str, Any]:
    versions = _versions(old, new)
    ns = new.namespace if new.objects else old.namespace
    before: dict[ObjectKey, dict[str, Any]] = {object_key(o): o for o in old.objects}
    after: dict[ObjectKey, dict[str, Any]] = {object_key(o): o for o in new.objects}
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    renamed: list[tuple[str, str]] = []
    for key in list(removed):
        twin = next((k for k in added if k[:2] == key[:2]
                     and _canonical(after[k], versions, 1) == _canonical(before[key], versions, 0)), None)
        if twin is not None:
            renamed.append((describe_key(key, ns), describe_key(twin, ns)))
            added.remove(twin)
            removed.remove(key)
    changed: list[ObjectDiff] = []
    noise = 0
    for key in sorted(set(before) & set(after)):
        if before[key] == after[key]:
            continue
        changes = leaf_changes(before[key], after[key])
        if key[1] == "ConfigMap" and key[3] == checksum_configmap_name(new.name):
            noise += len(changes)
            continue
        real = [c for c in changes if not _is_noise(c, versions)]
        if key[1] in ("Role", "ClusterRole") and permissions(before[key]) == permissions(after[key]):
            real = [c for c in real if c.parts[:1] != ("rules",)]  # regrouped rules, same permissions
        noise += len(changes) - len(real)
        sections = [(c, _section(after[key] if c.new is not None else before[key], c)) for c in expand_json(real)]
        if sections:
            other = tuple(c for c, section in sections if section is None)
            covering = tuple(sorted({section for _, section in sections if section is not None}))
            changed.append(ObjectDiff(describe_key(key, ns), other, covering))
    return {"added": tuple(describe_key(k, ns) for k in added), "removed": tuple(describe_key(k, ns) for k in removed),
            "renamed": tuple(sorted(renamed)), "changed": tuple(changed), "noise": noise}  # fmt: skip


def _downgrade(base: ChartInfo, head: ChartInfo) -> bool:
    for old, new in ((base.version, head.version), (base.chart_version, head.chart_version)):
        a, b = parse_version(old or ""), parse_version(new or "")
        if a is not None and b is not None:
            return b.precedence() < a.precedence()
    return False


def compare_charts(
    name: str, old: ChartSnapshot | None, new: ChartSnapshot | None, old_values: Mapping[str, Any],
    new_values: Mapping[str, Any],
) -> ChartReport:
    """The :class:`ChartReport` of chart ``name`` (``None``: absent on that side); ``*_values``:
    each side's helmfile environment defaults."""
    empty = ChartSnapshot(name, {}, None, [])
    before, after = old or empty, new or empty
    same = [p for p, data in before.crd_files.items() if after.crd_files.get(p) == data]
    ns = after.namespace if new is not None else before.namespace
    objects = _objects(before, after)
    base = ChartInfo.of(old) if old is not None else None
    head = ChartInfo.of(new) if new is not None else None
    report = ChartReport(
        name=name, base=base, head=head, status="changed",
        downgrade=base is not None and head is not None and _downgrade(base, head),
        added=objects["added"], removed=objects["removed"], renamed=objects["renamed"], changed=objects["changed"],
        images=tuple(image_changes(image_locations(before.objects, ns), image_locations(after.objects, ns))),
        rbac=tuple(rbac_changes(before.objects, after.objects, ns)),
        crds=tuple(crd_changes(before.crds(skip=same), after.crds(skip=same))),
        webhooks=tuple(webhook_changes(before.objects, after.objects, ns)),
        workloads=tuple(workload_changes(before.objects, after.objects, ns)),
        helmfile=tuple(release_changes(before.release, after.release, old_values, new_values)),
        noise=objects["noise"],
    )  # fmt: skip
    if old is None or new is None:
        status = "added" if old is None else "removed"
    else:
        unchanged = (base == head and not (report.added or report.removed or report.renamed or report.changed
                     or report.crds or report.helmfile))  # fmt: skip
        status = "unchanged" if unchanged else "changed"
    return ChartReport(**{**report.__dict__, "status": status})


def compare_projects(base: ProjectSnapshot, head: ProjectSnapshot) -> ReviewReport:
    """One :class:`ChartReport` per chart of either side, sorted by name."""
    names = sorted(set(base.charts) | set(head.charts))
    charts = tuple(compare_charts(n, base.charts.get(n), head.charts.get(n), base.helmfile_values,
                                  head.helmfile_values) for n in names)  # fmt: skip
    return ReviewReport(base=base.label, head=head.label, charts=charts)


def review(project: Path, base: str | None = "HEAD", head: str | None = None, *, jobs: int = 2) -> ReviewReport:
    """Compare two generated projects: ``base`` and ``head`` are directories holding one, or git
    refs of the repository ``project`` is in (``None`` = ``project`` as it is on disk).

    Raises :class:`ConfigError` (unknown ref, not a generated project) and :class:`ToolError`
    (helm or git missing or failing), one line each; nothing is written outside temporary directories.
    """
    with open_side(base, project) as (base_label, base_root), open_side(head, project) as (head_label, head_root):
        before = load_project(base_label, base_root, jobs=jobs)
        after = load_project(head_label, head_root, jobs=jobs)
    return compare_projects(before, after)
