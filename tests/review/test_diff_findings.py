"""The review report's findings on small hand-written charts rendered by the real helm: RBAC
escalations and a Role turned ClusterRole, webhooks, workloads, CRD storage versions and schemas,
renames, hooks switched on and off, custom-resource versions, and generation noise."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.draft import Hook, ReleaseSpec
from extractor.review.diff import ChartReport, review
from extractor.review.markdown import to_markdown

pytestmark = pytest.mark.usefixtures("helm")


def write_project(root: Path, version: str, objects: list[dict[str, Any]], crds: Sequence[dict[str, Any]] = (),
                  release: ReleaseSpec | None = None) -> Path:
    """A generated-project look-alike with one chart ``op`` (namespace ``ops``)."""
    chart = root / "charts" / "op"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yamlio.dump({"apiVersion": "v2", "name": "op", "version": version,
                                                   "appVersion": version}))
    spec = release or ReleaseSpec(name="op", namespace="ops", chart_dir="./charts/op")
    (chart / "release.yaml").write_text(yamlio.dump(spec.to_dict()))
    for index, obj in enumerate(objects):
        labels = {"helm.sh/chart": f"op-{version}", "app.kubernetes.io/version": version}
        obj = {**obj, "metadata": {**obj["metadata"], "labels": {**obj["metadata"].get("labels", {}), **labels}}}
        (chart / "templates" / f"{index:02d}.yaml").write_text(yamlio.dump(obj))
    for crd in crds:
        path = chart / "presync" / "bundle" / f"{crd['metadata']['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yamlio.dump(crd))
    (root / "helmfile.yaml.gotmpl").write_text("releases: []\n")
    return root


def compare(tmp_path: Path, old: dict[str, Any], new: dict[str, Any]) -> ChartReport:
    base = write_project(tmp_path / "base", **old)
    head = write_project(tmp_path / "head", **new)
    [chart] = review(head, str(base), str(head)).charts
    return chart


def role(kind: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    meta = {"name": name, **({"namespace": "ops"} if kind == "Role" else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules}


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def test_rbac_escalations(tmp_path: Path) -> None:
    old = [
        role("ClusterRole", "manager", [rule([""], ["pods"], ["*"]), rule(["apps"], ["deployments"], ["get", "list"])]),
        role("ClusterRole", "regrouped", [rule([""], ["configmaps", "services"], ["get", "list"])]),
        role("Role", "leader", [rule(["coordination.k8s.io"], ["leases"], ["get", "update"])]),
    ]
    new = [
        role("ClusterRole", "manager", [
            rule([""], ["pods"], ["get", "list"]),  # granted before by pods/*: neither added nor removed
            rule(["apps"], ["deployments"], ["list"]), rule(["apps"], ["deployments"], ["get"]),  # regrouped
            rule([""], ["secrets"], ["create", "get"]), rule([""], ["pods/exec"], ["create"]),
            rule([""], ["nodes"], ["get"]), rule([""], ["serviceaccounts/token"], ["create"]),
            rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["escalate", "bind"]),
            rule([""], ["users"], ["impersonate"]), rule(["*"], ["*"], ["watch"]),
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
        ]),
        role("ClusterRole", "regrouped", [rule([""], ["services"], ["list", "get"]),
                                          rule([""], ["configmaps"], ["get", "list"])]),
        role("ClusterRole", "leader", [rule(["coordination.k8s.io"], ["leases"], ["get", "update"])]),
    ]
    chart = compare(tmp_path, {"version": "1.0.0", "objects": old}, {"version": "1.0.1", "objects": new})
    roles = {r.role: r for r in chart.rbac}
    assert set(roles) == {"ClusterRole/manager", "Role/leader -> ClusterRole/leader"}  # "regrouped" did not change
    manager = roles["ClusterRole/manager"]
    assert manager.removed == ("* pods",)
    assert "get /metrics" in manager.added and "create,get secrets" in manager.added
    reasons = "\n".join(manager.sensitive)
    for expected in ("writes Secrets: create secrets", "exec into pods: create pods/exec", "nodes: get nodes",
                     "mints ServiceAccount tokens", "escalate: escalate clusterroles.rbac.authorization.k8s.io",
                     "bind: bind clusterroles", "impersonate: impersonate users", "wildcard: watch * (all groups)"):
        assert expected in reasons, expected
    assert "get secrets" not in reasons and "/metrics" not in reasons and "deployments" not in reasons
    promoted = roles["Role/leader -> ClusterRole/leader"]
    assert (promoted.added, promoted.removed) == ((), ())
    assert any("Role became a ClusterRole" in s for s in promoted.sensitive)
    # the regrouped role's rules are noise; it is not listed as a changed object
    assert "ClusterRole/regrouped" not in {d.object for d in chart.changed}


def webhook_config(kind: str, hooks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": "op-webhooks"},
            "webhooks": hooks}


def hook(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "clientConfig": {"service": {"name": "op-webhook", "namespace": "ops", "path": "/v"},
                                           "caBundle": "AAAA"},
            "rules": [{"apiGroups": ["example.io"], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["foos"]}], "sideEffects": "None", "admissionReviewVersions": ["v1"], **fields}


def deployment(replicas: int, args: list[str], env: dict[str, str], limits: dict[str, str],
               security: dict[str, Any], sidecar: bool = False) -> dict[str, Any]:
    containers = [{"name": "manager", "image": "quay.io/op/manager:v1", "args": args,
                   "env": [{"name": k, "value": v} for k, v in env.items()], "resources": {"limits": limits},
                   "securityContext": security}]
    if sidecar:
        containers.append({"name": "proxy", "image": "quay.io/op/proxy:v2"})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op", "namespace": "ops"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "op"}},
                     "template": {"metadata": {"labels": {"app": "op"}, "annotations": {"createdAt": "a"}},
                                  "spec": {"containers": containers}}}}


def test_webhooks_and_workloads(tmp_path: Path) -> None:
    old = [
        webhook_config("ValidatingWebhookConfiguration", [hook("a.example.io", failurePolicy="Ignore")]),
        webhook_config("MutatingWebhookConfiguration", [hook("m.example.io", failurePolicy="Ignore")]),
        deployment(1, ["--leader-elect"], {"LOG": "info", "RELATED_IMAGE_AGENT": "quay.io/op/agent:v1"},
                   {"memory": "128Mi"}, {"runAsNonRoot": True}),
    ]
    changed_rules = hook("a.example.io", failurePolicy="Fail", namespaceSelector={"matchLabels": {"x": "y"}})
    changed_rules["rules"][0]["operations"] = ["CREATE", "UPDATE"]
    changed_rules["clientConfig"]["caBundle"] = "BBBB"  # injected at run time: ignored
    new = [
        webhook_config("ValidatingWebhookConfiguration", [changed_rules, hook("b.example.io", failurePolicy="Ignore")]),
        webhook_config("MutatingWebhookConfiguration", []),
        deployment(2, ["--leader-elect", "--zap-log-level=debug"], {"LOG": "debug", "RELATED_IMAGE_AGENT":
                   "quay.io/op/agent:v2"}, {"memory": "256Mi"}, {"runAsNonRoot": True, "readOnlyRootFilesystem": True},
                   sidecar=True),
    ]
    chart = compare(tmp_path, {"version": "1.0.0", "objects": old}, {"version": "1.1.0", "objects": new})
    hooks = {w.item: w for w in chart.webhooks}
    assert {k: w.status for k, w in hooks.items()} == {
        "ValidatingWebhookConfiguration/op-webhooks: a.example.io": "changed",
        "ValidatingWebhookConfiguration/op-webhooks: b.example.io": "added",
        "MutatingWebhookConfiguration/op-webhooks: m.example.io": "removed",
    }
    a = hooks["ValidatingWebhookConfiguration/op-webhooks: a.example.io"]
    assert [(c.old, c.new) for c in a.changes if c.path == "failurePolicy"] == [("Ignore", "Fail")]
    assert {c.path for c in a.changes} == {"failurePolicy", "rules", "namespaceSelector"}
    assert any("failurePolicy Fail" in s for s in a.sensitive)
    assert not hooks["ValidatingWebhookConfiguration/op-webhooks: b.example.io"].sensitive  # Ignore
    [workload] = chart.workloads
    changes = {c.path: (c.op, c.old, c.new) for c in workload.changes}
    assert changes["replicas"] == ("changed", 1, 2)
    assert changes["container manager: args"] == (
        "changed", ["--leader-elect"], ["--leader-elect", "--zap-log-level=debug"])
    assert changes["container manager: env[LOG].value"] == ("changed", "info", "debug")
    assert changes["container manager: resources.limits.memory"] == ("changed", "128Mi", "256Mi")
    assert changes["container manager: securityContext.readOnlyRootFilesystem"] == ("added", None, True)
    assert changes["container proxy"] == ("added", None, "quay.io/op/proxy:v2")
    assert not [p for p in changes if "RELATED_IMAGE" in p]  # reported with the images instead
    images = {i.location: (i.old, i.new) for i in chart.images}
    assert images["Deployment/op: container manager env RELATED_IMAGE_AGENT"] == (
        "quay.io/op/agent:v1", "quay.io/op/agent:v2")
    assert images["Deployment/op: container proxy"] == (None, "quay.io/op/proxy:v2")
    # the version labels are noise; nothing left in "other changes" for the Deployment
    assert chart.noise >= 2
    [deploy] = [d for d in chart.changed if d.object == "Deployment/op"]
    assert deploy.changes == () and set(deploy.sections) == {"images", "workloads"}


def crd(name: str, versions: list[dict[str, Any]], scope: str = "Namespaced") -> dict[str, Any]:
    group = name.split(".", 1)[1]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
            "spec": {"group": group, "scope": scope, "names": {"plural": name.split(".")[0], "kind": "X"},
                     "versions": versions}}


def version(name: str, served: bool, storage: bool, spec: dict[str, Any],
            required: Sequence[str] = ()) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": spec,
                                                        **({"required": list(required)} if required else {})}}}
    return {"name": name, "served": served, "storage": storage, "schema": {"openAPIV3Schema": schema}}


def test_crds(tmp_path: Path) -> None:
    v1_old = {"a": {"type": "string"}, "b": {"type": "integer"}, "mode": {"type": "string", "enum": ["x", "y"]},
              "c": {"type": "object", "properties": {"x": {"type": "string"}}}}
    v1_new = {"b": {"type": "string"}, "mode": {"type": "string", "enum": ["y", "z"]},
              "c": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
                    "required": ["y"]},
              "d": {"type": "object", "properties": {"z": {"type": "string"}}, "required": ["z"]}}
    old = [crd("foos.example.io", [version("v1beta1", True, True, {}), version("v1", True, False, v1_old)]),
           crd("gones.example.io", [version("v1", True, True, {})]),
           crd("scoped.example.io", [version("v1", True, True, {})])]
    new = [crd("foos.example.io", [version("v1", True, True, v1_new), version("v2", False, False, {})]),
           crd("news.example.io", [version("v1", True, True, {})]),
           crd("scoped.example.io", [version("v1", True, True, {})], scope="Cluster")]
    chart = compare(tmp_path, {"version": "1.0.0", "objects": [], "crds": old},
                    {"version": "1.1.0", "objects": [], "crds": new})
    crds = {c.name: c for c in chart.crds}
    assert {n: c.status for n, c in crds.items()} == {"foos.example.io": "changed", "gones.example.io": "removed",
                                                     "news.example.io": "added", "scoped.example.io": "changed"}
    foos = crds["foos.example.io"]
    assert (foos.versions_added, foos.versions_removed) == (("v2",), ("v1beta1",))
    assert "v1 storage: false -> true" in foos.flags
    findings = {(s.path, s.change): (s.old, s.new) for s in foos.schema}
    assert findings[("spec.a", "removed")] == ("string", None)
    assert findings[("spec.b", "type")] == ("integer", "string")
    assert findings[("spec.c.y", "required")] == (None, "string")
    assert findings[("spec.mode", "enum")] == ("x", "z")
    assert ("spec.d", "added") in findings and ("spec.d.z", "required") not in findings  # inside a new object
    reasons = "\n".join(foos.sensitive)
    for expected in ("v1beta1 removed while it is the storage version: needs a storage migration",
                     "property spec.a removed", "spec.b type integer -> string", "spec.c.y is now required",
                     "spec.mode no longer allows x"):
        assert expected in reasons, expected
    assert any("never deletes CRDs" in s for s in crds["gones.example.io"].sensitive)
    assert any("scope changed Namespaced -> Cluster" in s for s in crds["scoped.example.io"].sensitive)
    assert not crds["news.example.io"].sensitive


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ops"}, "data": data}


def test_renames_custom_resources_hooks_and_downgrade(tmp_path: Path) -> None:
    custom = {"apiVersion": "example.io/v1", "kind": "Foo", "metadata": {"name": "default"},
              "spec": {"version": "v1.2.0", "proxy": {"image": "quay.io/p:1"}, "replicas": 1}}
    newer = copy.deepcopy(custom)
    newer["spec"].update({"version": "v1.1.0", "proxy": {"image": "quay.io/p:0"}, "replicas": 3})
    switch = Hook(name="fixup", events=("postsync",), command="bash", args=("-c", "true"), condition="fixup.enabled")
    old_release = ReleaseSpec(name="op", namespace="ops", chart_dir="./charts/op", hooks=(switch,),
                              helmfile_values={"fixup": {"enabled": True}})
    new_release = ReleaseSpec(name="op", namespace="ops", chart_dir="./charts/op", needs=("cert-manager",),
                              hooks=(switch, Hook(name="extra", events=("presync",), command="true", args=())),
                              helmfile_values={"fixup": {"enabled": False}})
    chart = compare(
        tmp_path,
        {"version": "2.0.0", "release": old_release,
         "objects": [configmap("cfg-aaaa", {"k": "v"}), configmap("settings", {"level": "1"}), custom]},
        {"version": "1.9.0", "release": new_release,
         "objects": [configmap("cfg-bbbb", {"k": "v"}), configmap("settings", {"level": "2"}), newer]},
    )
    assert chart.downgrade and "downgrade 2.0.0 -> 1.9.0" in chart.sensitive
    assert chart.renamed == (("ConfigMap/cfg-aaaa", "ConfigMap/cfg-bbbb"),) and not chart.added and not chart.removed
    other = {d.object: {c.path: (c.old, c.new) for c in d.changes} for d in chart.changed}
    assert other["ConfigMap/settings"] == {"data.level": ("1", "2")}
    assert other["Foo/default"] == {"spec.replicas": (1, 3)}  # version and image went to the images section
    images = {i.location: (i.old, i.new) for i in chart.images}
    assert images["Foo/default: spec.version"] == ("v1.2.0", "v1.1.0")
    assert images["Foo/default: spec.proxy.image"] == ("quay.io/p:1", "quay.io/p:0")
    helmfile = {(c.path, c.op): (c.old, c.new) for c in chart.helmfile}
    assert helmfile[("hook fixup", "changed")] == ("on", "off")
    assert helmfile[("hook extra", "added")] == (None, "on")
    assert helmfile[("needs", "added")] == (None, "cert-manager")
    text = to_markdown(review(tmp_path / "head", str(tmp_path / "base"), str(tmp_path / "head")))
    assert "renamed: `ConfigMap/cfg-aaaa` → `ConfigMap/cfg-bbbb`" in text and "⚠ downgrade" in text
    assert "helm.sh/chart" not in text and "app.kubernetes.io/version" not in text


def test_secret_values_never_reach_the_report(tmp_path: Path) -> None:
    def secret(password: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "ops"},
                "stringData": {"password": password}, "data": {"token": "c2VjcmV0LXRva2Vu"}}

    chart = compare(tmp_path, {"version": "1.0.0", "objects": [secret("hunter2-old")]},
                    {"version": "1.0.0", "objects": [secret("hunter2-new")]})
    [diff] = chart.changed
    [change] = diff.changes
    assert change.path == "stringData.password"
    assert str(change.old).startswith("<redacted sha256:") and change.old != change.new
    report = review(tmp_path / "head", str(tmp_path / "base"), str(tmp_path / "head"))
    for text in (to_markdown(report), report.to_json()):
        assert "hunter2" not in text and "c2VjcmV0LXRva2Vu" not in text
