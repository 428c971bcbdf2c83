"""Generated charts follow Helm conventions on their own: Chart.yaml metadata from the CSV, the
recommended labels on every rendered object, a values.schema.json that refuses typos at every level
(helm 3 and helm 4, ``template`` and ``lint``) and accepts every documented value, README.md and
NOTES.txt. Real bundles, real helm binaries."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.emit.chart import write_chart
from postprocess.operator_crs import alm_examples
from tests.support.drafts import TARGETS, processed_draft
from tests.support.kube import KubeCluster
from tests.support.tools import require_tool

CHARTS = list(TARGETS)
HELMS = ["helm", "helm4"]
RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
               "app.kubernetes.io/managed-by", "helm.sh/chart")  # fmt: skip
#: the operator custom resource of each chart: (values key, kind)
OPERATOR_CR = {
    "cert-manager-operator": ("certManager", "CertManager"),
    "sail-operator": ("istio", "Istio"),
    "lws-operator": ("lwsOperator", "LeaderWorkerSetOperator"),
}
PULL_SECRET = json.dumps({"auths": {"registry.redhat.io": {"auth": base64.b64encode(b"u:p").decode()}}})


def _helm(tool: str, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(require_tool(tool)), *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    if ok:
        assert proc.returncode == 0, f"{tool} {' '.join(map(str, args))}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("conventions")
    out = {}
    for name in CHARTS:
        write_chart(processed_draft(name), root / name, revision=3)
        out[name] = root / name
    return out


def _values_file(tmp_path: Path, values: dict[str, Any], name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yamlio.dump(values))
    return path


def _template(tool: str, chart: Path, namespace: str, *extra: str | Path) -> list[dict[str, Any]]:
    out = _helm(tool, "template", "rel", chart, "--namespace", namespace, *extra).stdout
    return [d for d in yamlio.load_all(out) if d]


# --- Chart.yaml ------------------------------------------------------------------------------------


def test_chart_yaml_metadata(charts: dict[str, Path]) -> None:
    lws = yamlio.load((charts["lws-operator"] / "Chart.yaml").read_bytes())
    assert lws["kubeVersion"] == ">= 1.30.0-0"
    assert lws["home"] == "https://github.com/openshift/lws-operator"
    assert "https://github.com/openshift/lws-operator" in lws["sources"]
    assert lws["keywords"] == ["leader-worker-set"]
    assert lws["maintainers"] == [{"name": "Red Hat", "email": "support@redhat.com"}]
    mediatype, _, data = lws["icon"].removeprefix("data:").partition(";base64,")
    assert mediatype == "image/png" and base64.b64decode(data).startswith(b"\x89PNG")
    annotations = lws["annotations"]
    assert annotations["artifacthub.io/operator"] == "true"
    assert yamlio.load(annotations["artifacthub.io/crds"]) == [
        {"kind": "LeaderWorkerSetOperator", "version": "v1", "name": "leaderworkersetoperators.operator.openshift.io",
         "displayName": "LeaderWorkerSetOperator", "description": ""}
    ]
    assert yamlio.load(annotations["artifacthub.io/crdsExamples"]) == alm_examples(processed_draft("lws-operator").csv)
    images = yamlio.load(annotations["artifacthub.io/images"])
    assert {i["name"] for i in images} == {"lws", "lws-operator"}
    assert all(i["image"].startswith("registry.redhat.io/leader-worker-set/") for i in images)
    links = yamlio.load(annotations["artifacthub.io/links"])
    assert {"name": "Operator Source Code", "url": "https://github.com/openshift/lws-operator"} in links
    assert all(isinstance(v, str) for v in annotations.values())

    cert_manager = yamlio.load((charts["cert-manager-operator"] / "Chart.yaml").read_bytes())
    assert cert_manager["kubeVersion"] == ">= 1.25.0-0"
    crds = {c["name"]: c for c in yamlio.load(cert_manager["annotations"]["artifacthub.io/crds"])}
    assert crds["certmanagers.operator.openshift.io"]["version"] == "v1alpha1"
    sail = yamlio.load((charts["sail-operator"] / "Chart.yaml").read_bytes())
    assert "kubeVersion" not in sail  # the sail CSV names no minKubeVersion
    sail_crds = {c["name"]: c for c in yamlio.load(sail["annotations"]["artifacthub.io/crds"])}
    # one entry per CRD, its highest version
    assert sail_crds["destinationrules.networking.istio.io"]["version"] == "v1"
    assert sail_crds["ztunnels.sailoperator.io"]["version"] == "v1"


@pytest.mark.parametrize(("annotation", "expected"), [("Apache-2.0", "Apache-2.0"),
                                                     ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
                                                     ("see {{ .Files }}", None)])  # fmt: skip
def test_license_only_from_an_spdx_annotation(tmp_path: Path, annotation: str, expected: str | None) -> None:
    draft = processed_draft("lws-operator")
    write_chart(draft, tmp_path / "a")
    assert "artifacthub.io/license" not in yamlio.load((tmp_path / "a" / "Chart.yaml").read_bytes())["annotations"]
    draft.csv["metadata"]["annotations"]["license"] = annotation
    write_chart(draft, tmp_path / "b")
    meta = yamlio.load((tmp_path / "b" / "Chart.yaml").read_bytes())
    assert meta["annotations"].get("artifacthub.io/license") == expected


@pytest.mark.parametrize("tool", HELMS)
def test_kube_version_is_enforced(charts: dict[str, Path], tool: str) -> None:
    _helm(tool, "template", "r", charts["lws-operator"], "--kube-version", "1.30.0")
    proc = _helm(tool, "template", "r", charts["lws-operator"], "--kube-version", "1.29.9", ok=False)
    assert proc.returncode != 0 and ">= 1.30.0-0" in proc.stderr


def test_bundle_text_in_chart_yaml_and_docs_stays_data(tmp_path: Path) -> None:
    draft = processed_draft("lws-operator")
    hostile = "{{ .Chart.Name }} `{{ print 1 }}` {{- .Release.Name -}}"
    spec = draft.csv["spec"]
    spec["displayName"] = hostile
    spec["keywords"] = [hostile]
    spec["maintainers"] = [{"name": hostile, "email": "not an address"}]
    spec["links"] = [{"name": hostile, "url": "https://example.com/{{x}}"}]
    spec["icon"] = [{"base64data": "not base64!", "mediatype": "image/png"}]
    write_chart(draft, tmp_path / "lws-operator")
    meta = yamlio.load((tmp_path / "lws-operator" / "Chart.yaml").read_bytes())
    assert meta["keywords"] == [hostile] and meta["maintainers"] == [{"name": hostile}]
    assert "icon" not in meta  # not base64 image data: left out
    assert hostile in (tmp_path / "lws-operator" / "README.md").read_text()
    for tool in HELMS:
        _helm(tool, "lint", "--strict", tmp_path / "lws-operator")
    proc = _helm("helm4", "install", "rel", tmp_path / "lws-operator", "--dry-run=client", "--namespace", "ns1")
    notes = proc.stdout.split("NOTES:\n", 1)[1]
    assert notes.startswith(f"{hostile} 1.0.0 is installed: release rel in namespace ns1.")


# --- labels ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize("name", CHARTS)
def test_every_object_has_the_recommended_labels(charts: dict[str, Path], name: str, tool: str, tmp_path: Path) -> None:
    values = _values_file(tmp_path, {"pullSecret": {"dockerConfigJson": PULL_SECRET}})
    docs = _template(tool, charts[name], "ns1", "--values", values)
    assert len(docs) > 5
    for doc in docs:
        labels = doc["metadata"].get("labels") or {}
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert all(labels.get(k) for k in RECOMMENDED), (where, labels)
        assert labels["app.kubernetes.io/instance"] == "rel" and labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == f"{name}-{yamlio.load((charts[name] / 'Chart.yaml').read_bytes())['version']}"
    # the bundle's own app.kubernetes.io/name stays where it has one; ours elsewhere; selectors untouched
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for obj in processed_draft(name).objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in rendered:
            continue
        bundle_name = (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/name")
        got = rendered[key]["metadata"]["labels"]["app.kubernetes.io/name"]
        assert got == (bundle_name or name)
        if obj["kind"] == "Deployment":
            assert rendered[key]["spec"]["selector"] == obj["spec"]["selector"]
            assert "helm.sh/chart" not in rendered[key]["spec"]["template"]["metadata"]["labels"]


# --- values.schema.json ----------------------------------------------------------------------------

#: (chart, values with one typo, the key Helm names)
TYPOS = [
    ("sail-operator", {"istoi": {"create": False}}, "istoi"),
    ("sail-operator", {"istio": {"craete": False}}, "craete"),
    ("sail-operator", {"istio": {"spec": {"updateStrategy": {"typ": "InPlace"}}}}, "typ"),
    ("sail-operator", {"istio": {"spec": {"values": {"pilot": {"enabld": True}}}}}, "enabld"),
    ("cert-manager-operator", {"deploymentConfig": {"nodeSelectr": {"a": "b"}}}, "nodeSelectr"),
    ("cert-manager-operator", {"certManager": {"spec": {"logLevl": "Debug"}}}, "logLevl"),
    ("cert-manager-operator", {"pullSecret": {"nmae": "x"}}, "nmae"),
    ("lws-operator", {"lwsOperator": {"spec": {"managementStat": "Managed"}}}, "managementStat"),
]
#: values of the wrong type or outside an enum
WRONG = [
    ("sail-operator", {"istio": {"create": "yes"}}),
    ("sail-operator", {"istio": {"spec": {"version": "v0.0.1"}}}),
    ("lws-operator", {"lwsOperator": {"spec": {"managementState": "Sometimes"}}}),
    ("cert-manager-operator", {"deploymentConfig": {"tolerations": {"key": "x"}}}),
    ("cert-manager-operator", {"infrastructure": {"create": "no"}}),
    ("lws-operator", {"imagePullSecrets": [{"nmae": "x"}]}),
    ("lws-operator", {"imagePullSecrets": "x"}),
]


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize(("name", "values", "key"), TYPOS, ids=[t[2] for t in TYPOS])
def test_schema_refuses_typos(
    charts: dict[str, Path], name: str, values: dict[str, Any], key: str, tool: str, tmp_path: Path
) -> None:
    path = _values_file(tmp_path, values)
    for command in (("template", "rel", charts[name]), ("lint", "--strict", charts[name])):
        proc = _helm(tool, *command, "--values", path, ok=False)
        assert proc.returncode != 0, f"{tool} {command[0]} accepted {values}"
        assert key in proc.stdout + proc.stderr and "schema" in (proc.stdout + proc.stderr).lower()


@pytest.mark.parametrize("tool", HELMS)
def test_schema_refuses_typos_at_install(charts: dict[str, Path], kube_cluster: KubeCluster, tool: str,
                                         tmp_path: Path) -> None:
    """``helm install`` against the API server refuses each typo with Helm's schema message (a
    client dry run: helm 3 asks the cluster for its version even then) and installs nothing."""
    for name, values, key in TYPOS:
        proc = subprocess.run(
            [str(require_tool(tool)), "install", "conventions-typo", str(charts[name]), "--dry-run=client",
             "--namespace", "conventions-typo", "--values", str(_values_file(tmp_path, values))],
            capture_output=True, text=True, timeout=300, check=False, env=kube_cluster.env,
        )  # fmt: skip
        assert proc.returncode != 0, f"{tool} install accepted {values}"
        assert key in proc.stderr and "schema" in proc.stderr.lower(), proc.stderr
    every_status = ["--all"] if tool == "helm" else []  # helm 4 lists releases in any status by default
    releases = subprocess.run([str(require_tool(tool)), "list", *every_status, "--namespace", "conventions-typo", "-q"],
                              capture_output=True, text=True, timeout=120, check=True, env=kube_cluster.env)
    assert releases.stdout.strip() == ""


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize(("name", "values"), WRONG, ids=[json.dumps(w[1]) for w in WRONG])
def test_schema_refuses_wrong_types(charts: dict[str, Path], name: str, values: dict[str, Any], tool: str,
                                    tmp_path: Path) -> None:  # fmt: skip
    proc = _helm(tool, "template", "rel", charts[name], "--values", _values_file(tmp_path, values), ok=False)
    assert proc.returncode != 0 and "schema" in proc.stderr.lower()


def _documented_values(name: str) -> list[dict[str, Any]]:
    """Values every user of the chart may pass: what the helmfile passes, and each alm-example spec
    of the operator custom resource."""
    key, kind = OPERATOR_CR[name]
    draft = processed_draft(name)
    out: list[dict[str, Any]] = [
        {},
        {"global": {"anything": True}},  # what a parent chart passes
        {"pullSecret": {"dockerConfigJson": PULL_SECRET}, "imagePullSecrets": ["x", {"name": "other"}]},
        {key: {"create": False}},
        {
            "deploymentConfig": {
                "nodeSelector": {"node-role.kubernetes.io/infra": ""},
                "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"memory": "512Mi"}},
                "env": [{"name": "A", "value": "b"}],
                "envFrom": [{"configMapRef": {"name": "c"}}],
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                "affinity": {},
                "annotations": {"a": "b"},
            }
        },
    ]
    for binding in draft.value_bindings:
        nested: Any = False
        for part in reversed(binding.split(".")):
            nested = {part: nested}
        out.append(nested)
    if "monitoring" in draft.values:
        out += [{"monitoring": {"create": v}} for v in ("auto", True, False)]
    for example in alm_examples(draft.csv):
        if example.get("kind") == kind:
            out.append({key: {"spec": copy.deepcopy(example.get("spec") or {})}})
    return out


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize("name", CHARTS)
def test_schema_accepts_documented_values(charts: dict[str, Path], name: str, tool: str, tmp_path: Path) -> None:
    cases = _documented_values(name)
    assert len(cases) >= 5
    for index, values in enumerate(cases):
        path = _values_file(tmp_path, values, f"values-{index}.yaml")
        _helm(tool, "template", "rel", charts[name], "--values", path)
        _helm(tool, "lint", "--strict", charts[name], "--values", path)


def test_schema_is_draft7_with_descriptions(charts: dict[str, Path]) -> None:
    import jsonschema

    for name, chart in charts.items():
        schema = json.loads((chart / "values.schema.json").read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        values = yamlio.load((chart / "values.yaml").read_bytes())
        jsonschema.Draft7Validator(schema).validate(values)
        props = schema["properties"]
        key, _ = OPERATOR_CR[name]
        assert props[key]["properties"]["create"]["description"].startswith("Create the")
        assert props[key]["properties"]["spec"]["description"].startswith("Spec of the")
        assert props["deploymentConfig"]["additionalProperties"] is False
        assert props["pullSecret"]["properties"]["dockerConfigJson"]["type"] == "string"
        text = (chart / "values.schema.json").read_text()
        assert "x-kubernetes-" not in text and '"nullable"' not in text and '"format"' not in text
    istio = json.loads((charts["sail-operator"] / "values.schema.json").read_text())["properties"]["istio"]
    # the release namespace fills spec.namespace at render time: not required from the user
    assert "namespace" not in istio["properties"]["spec"].get("required", [])


# --- README.md and NOTES.txt -----------------------------------------------------------------------


def test_readme_and_notes(charts: dict[str, Path], tmp_path: Path) -> None:
    for name, chart in charts.items():
        readme = (chart / "README.md").read_text()
        draft = processed_draft(name)
        assert readme.startswith(f"# {name}\n")
        for path in draft.value_docs:
            assert f"| `{path}` |" in readme, path
        for crd in draft.crds:
            assert f"`{crd.name}`" in readme
        assert f"helm upgrade --install {name}-crds" in readme and "kind: HelmRelease" in readme
        assert "argoproj.io/v1alpha1" in readme and "helmfile apply" in readme
        # regenerating writes the same bytes
        write_chart(draft, tmp_path / name, revision=3)
        for rel in ("README.md", "templates/NOTES.txt", "values.schema.json", "Chart.yaml"):
            assert (tmp_path / name / rel).read_bytes() == (chart / rel).read_bytes(), rel
    assert "Kubernetes >= 1.30.0" in (charts["lws-operator"] / "README.md").read_text()
    sail = (charts["sail-operator"] / "README.md").read_text()
    assert "`istio.spec`" in sail
    # what it installs (the operator custom resource), the hooks the helmfile runs, what must come first
    assert ("- The Istio custom resource `default` (sailoperator.io/v1) (cluster-scoped), when `istio.create` is "
            "true") in sail
    assert "- `crds-<group>` and `crds-<group>-established`: apply the CRDs above and wait for them;" in sail
    assert "- `sail-webhook-ignore` (postsync) (when `sailWebhookIgnore.enabled`)." in sail
    assert "- Releases installed first (helmfile `needs`): `cert-manager-operator`." in sail
    assert "- `create-namespaces`: `cert-manager`;" in (charts["cert-manager-operator"] / "README.md").read_text()


def test_readme_names_cert_manager_and_the_apis_the_platform_must_serve() -> None:
    """A chart creating cert-manager objects (webhook certificates) says cert-manager is needed, and
    lists every API its own CRDs do not provide; one that creates none says neither."""
    from extractor.emit.readme import render_readme

    draft = processed_draft("lws-operator")
    plain = render_readme(draft, "1.0.0")
    assert "cert-manager:" not in plain and "APIs the cluster must serve" not in plain
    draft.requires = ["cert-manager.io/v1/Certificate", "cert-manager.io/v1/Issuer", "autoscaling.k8s.io/v1/VPA"]
    readme = render_readme(draft, "1.0.0")
    assert "- cert-manager: the chart creates cert-manager objects (Certificates/Issuers)." in readme
    assert ("- APIs the cluster must serve (or a release this one needs must provide): `autoscaling.k8s.io/v1/VPA`, "
            "`cert-manager.io/v1/Certificate`, `cert-manager.io/v1/Issuer`.") in readme


@pytest.mark.parametrize("create", [True, False])
def test_notes_render(charts: dict[str, Path], create: bool) -> None:
    proc = _helm("helm4", "install", "rel", charts["sail-operator"], "--dry-run=client", "--namespace", "mesh",
                 "--set", f"istio.create={str(create).lower()}")  # fmt: skip
    notes = proc.stdout.split("NOTES:\n", 1)[1]
    assert "release rel in namespace mesh" in notes
    assert "kubectl --namespace mesh rollout status deployment/servicemesh-operator3" in notes
    assert ("kubectl get istios.sailoperator.io default" in notes) is create
    assert "{{" not in notes


def test_value_schemas_merge_by_path() -> None:
    from extractor.emit.schema import values_schema
    from extractor.errors import EmitError

    draft = processed_draft("lws-operator")
    draft.value_schemas = {
        "extra.nested.count": {"type": "integer", "minimum": 1},
        "pullSecret.name": {"type": "string", "maxLength": 253, "description": "the fragment's"},
    }
    draft.value_bindings = {"switches.enabled": "!openshift.enabled"}
    schema = values_schema(draft)["properties"]
    assert schema["extra"] == {"type": "object", "additionalProperties": False, "properties": {
        "nested": {"type": "object", "additionalProperties": False,
                   "properties": {"count": {"type": "integer", "minimum": 1}}}}}  # fmt: skip
    name = schema["pullSecret"]["properties"]["name"]
    assert name["maxLength"] == 253 and name["description"].startswith("Name of the pull Secret")
    assert schema["switches"]["properties"]["enabled"] == {"type": "boolean"}
    for bad in ("", "a..b", ".a"):
        draft.value_schemas = {bad: {"type": "string"}}
        with pytest.raises(EmitError, match="not a dotted value path"):
            values_schema(draft)
    draft.value_schemas = {"a": ["not", "a", "schema"]}
    with pytest.raises(EmitError, match="not a JSON Schema object"):
        values_schema(draft)


@pytest.mark.parametrize("tool", HELMS)
def test_notes_render_against_the_api_server(charts: dict[str, Path], kube_cluster: KubeCluster, tool: str) -> None:
    # a client dry run against the real API server (helm 3 asks the cluster for its version even
    # then): the cluster (v1.32) meets lws's kubeVersion, nothing is created. Helm 3 also maps
    # every object to a served API, and this cluster has no LeaderWorkerSetOperator CRD: the CR off.
    create = tool == "helm4"
    proc = subprocess.run(
        [str(require_tool(tool)), "install", "conventions-notes", str(charts["lws-operator"]), "--dry-run=client",
         "--namespace", "conventions-notes", "--set", f"lwsOperator.create={str(create).lower()}"],
        capture_output=True, text=True, timeout=300, check=False, env=kube_cluster.env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:\n", 1)[1]
    assert "release conventions-notes in namespace conventions-notes." in notes
    assert "kubectl --namespace conventions-notes rollout status deployment/openshift-lws-operator" in notes
    assert ("kubectl get leaderworkersetoperators.operator.openshift.io cluster" in notes) is create
