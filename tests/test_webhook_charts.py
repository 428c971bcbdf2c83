"""Webhook and APIService bundles as charts, through the real pipeline: the bundles are pushed as
images to the session registry and generated from a bundles.yaml, then checked with real helm
(3 and 4): lint, schema validation, the webhook Service wiring, namespace moves, the
namespace-bound conversion CRDs, and ``deploymentConfig`` values against ``extractor.render``."""

from __future__ import annotations

import copy
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.bundle.loader import load_bundle
from extractor.config import BundleEntry, load_config
from extractor.demo.push import push_bundle_image
from extractor.emit.helmfile import KUBE_CONTEXT_ARG
from extractor.errors import ConfigError
from extractor.model import BundleSource, KubeObject, RenderOptions
from extractor.pipeline import generate, render_options_for
from extractor.render import render
from extractor.render.deployment_config import apply_deployment_config
from tests.conftest import REPO, SeededRegistry
from tests.support.kubeschema import validate_objects
from tests.support.project import docs, helm, helmfile
from tests.support.registry import TestRegistry
from tests.support.tools import require_shared

FIXTURES = REPO / "tests" / "fixtures" / "bundles"
NAMESPACE = "webhook-system"
CHART_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance")


@dataclass(frozen=True)
class Case:
    chart: str
    bundle: str  # fixture name, or "conformance:<dir>"
    provider: str = "cert-manager"
    baked: tuple[tuple[str, Any], ...] = ()  # bundles.yaml render.deploymentConfig


BAKED: dict[str, Any] = {"nodeSelector": {"baked": "yes"}, "env": [{"name": "BAKED", "value": "1"}]}

CASES = (
    Case("webhook-demo", "webhook-demo"),
    Case("webhook-demo-sca", "webhook-demo", "openshift-service-ca"),
    Case("webhook-operator", "conformance:webhook-operator.v0.0.5"),
    Case("webhook-operator-sca", "conformance:webhook-operator.v0.0.5", "openshift-service-ca"),
    Case("apiservice-demo", "apiservice-demo"),
    Case("webhook-demo-baked", "webhook-demo", baked=tuple(BAKED.items())),
)
WEBHOOK_CHARTS = [c.chart for c in CASES if c.bundle != "apiservice-demo" and not c.baked]


def bundle_dir(case: Case) -> Path:
    if case.bundle.startswith("conformance:"):
        return require_shared("olmv1-conformance", "bundles", case.bundle.split(":", 1)[1])
    return FIXTURES / case.bundle


@dataclass(frozen=True)
class Generated:
    root: Path
    cases: dict[str, Case]

    def chart(self, name: str) -> Path:
        return self.root / "charts" / name


@pytest.fixture(scope="module")
def generated(registry: TestRegistry, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("webhook-project")
    entries = []
    for case in CASES:
        repository = f"{registry.host}/test/{case.bundle.replace(':', '-').replace('.', '-')}-bundle"
        push_bundle_image(bundle_dir(case), f"{repository}:v1")
        render_options: dict[str, Any] = {"certProvider": case.provider}
        if case.baked:
            render_options["deploymentConfig"] = dict(case.baked)
        entries.append({"name": case.chart, "image": repository, "version": "v1", "namespace": NAMESPACE,
                        "render": render_options})
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": entries}))
    options = AcquireOptions(cache_dir=tmp_path_factory.mktemp("cache"), work_dir=tmp_path_factory.mktemp("work"))
    generate(load_config(root / "bundles.yaml"), root, options)
    return Generated(root, {c.chart: c for c in CASES})


def template(chart: Path, namespace: str = NAMESPACE, *args: str) -> list[KubeObject]:
    return docs(helm("helm", "template", chart.name, str(chart), "--namespace", namespace, *args).stdout)


def one(objects: list[KubeObject], kind: str) -> KubeObject:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


@pytest.mark.parametrize("binary", ["helm", "helm4"])
@pytest.mark.parametrize("name", [c.chart for c in CASES])
def test_helm_lint_strict(generated: Generated, binary: str, name: str) -> None:
    helm(binary, "lint", "--strict", str(generated.chart(name)))


@pytest.mark.parametrize("name", [c.chart for c in CASES])
def test_helm_template_validates_against_kubernetes_schemas(generated: Generated, name: str) -> None:
    rendered = template(generated.chart(name))
    report = validate_objects(rendered)
    assert not report.errors, report.errors
    # cert-manager's Issuer/Certificate are the only kinds without a schema here (no CRD)
    assert all(" cert-manager.io/v1 " in s for s in report.skipped), report.skipped
    kinds = {o["kind"] for o in rendered}
    if generated.cases[name].provider == "cert-manager":
        assert {"Issuer", "Certificate"} <= kinds
        assert len(report.skipped) == 2
    else:
        assert not {"Issuer", "Certificate"} & kinds and not report.skipped


@pytest.mark.parametrize("name", WEBHOOK_CHARTS)
def test_webhook_service_selects_the_deployment_pods(generated: Generated, name: str) -> None:
    rendered = template(generated.chart(name))
    service = one(rendered, "Service")
    deployments = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Deployment"}
    served = [d for d in deployments.values() if service["metadata"]["name"] == f"{d['metadata']['name']}-service"]
    assert len(served) == 1, "the Service is named after its deployment (<dep>-service)"
    deployment = served[0]
    selector = service["spec"]["selector"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items(), (selector, pod_labels)
    configurations = [o for o in rendered if o["kind"] in ("ValidatingWebhookConfiguration",
                                                          "MutatingWebhookConfiguration")]
    assert configurations
    ports = {p["port"] for p in service["spec"]["ports"]}
    for configuration in configurations:
        assert "namespace" not in configuration["metadata"], "cluster-scoped: no namespace in the chart"
        for webhook in configuration["webhooks"]:
            target = webhook["clientConfig"]["service"]
            assert target["name"] == service["metadata"]["name"]
            assert target["namespace"] == service["metadata"]["namespace"] == NAMESPACE
            assert target["port"] in ports


@pytest.mark.parametrize("name", WEBHOOK_CHARTS)
def test_namespace_move(generated: Generated, name: str) -> None:
    chart = generated.chart(name)
    rendered = template(chart, "other")
    assert NAMESPACE not in helm("helm", "template", name, str(chart), "--namespace", "other").stdout
    service = one(rendered, "Service")
    svc = service["metadata"]["name"]
    assert service["metadata"]["namespace"] == "other"
    for configuration in (o for o in rendered if o["kind"].endswith("WebhookConfiguration")):
        for webhook in configuration["webhooks"]:
            assert webhook["clientConfig"]["service"]["namespace"] == "other"
        annotations = configuration["metadata"]["annotations"]
        if generated.cases[name].provider == "cert-manager":
            assert annotations["cert-manager.io/inject-ca-from"] == f"other/{svc}-cert"
        else:
            assert annotations["service.beta.openshift.io/inject-cabundle"] == "true"
    if generated.cases[name].provider == "cert-manager":
        issuer, certificate = one(rendered, "Issuer"), one(rendered, "Certificate")
        assert issuer["metadata"]["namespace"] == certificate["metadata"]["namespace"] == "other"
        assert certificate["spec"]["commonName"] == f"{svc}.other"
        assert certificate["spec"]["dnsNames"] == [f"{svc}.other", f"{svc}.other.svc", f"{svc}.other.svc.cluster.local"]
        assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    else:
        assert service["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"] == f"{svc}-cert"


@pytest.mark.parametrize("name", ["webhook-demo", "webhook-operator"])
def test_conversion_crds_are_bound_to_the_install_namespace(generated: Generated, name: str, tmp_path: Path) -> None:
    chart = generated.chart(name)
    release = yamlio.load((chart / "release.yaml").read_text())
    crds = [yamlio.load(p.read_bytes()) for p in sorted((chart / "presync").rglob("*.yaml"))]
    converted = [c for c in crds if (c["spec"].get("conversion") or {}).get("strategy") == "Webhook"]
    assert converted
    assert release["namespaceBoundCRDs"] == sorted(c["metadata"]["name"] for c in converted)
    for crd in converted:
        assert crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["namespace"] == NAMESPACE
    state = docs(helmfile(generated.root, "build").stdout)
    releases = {r["name"]: r for d in state for r in d.get("releases", [])}
    hooks = releases[name]["hooks"]
    assert hooks[0]["name"] == "namespace-guard", "the guard runs before the CRDs are applied"
    guard = hooks[0]
    # bash -c KUBE_CONTEXT_SCRIPT kube-context CONTEXT <the hook's command and arguments>
    assert guard["args"][2:5] == ["kube-context", KUBE_CONTEXT_ARG, "bash"]
    assert guard["args"][8] == "{{ .Release.Namespace }}" and guard["args"][9] == NAMESPACE

    def run_guard(namespace: str) -> subprocess.CompletedProcess[str]:
        # as helmfile renders the arguments when it runs the hook (no kube context given)
        rendered = {"{{ .Release.Namespace }}": namespace, KUBE_CONTEXT_ARG: ""}
        args = [rendered.get(a, a) for a in guard["args"]]
        return subprocess.run([guard["command"], *args], capture_output=True, text=True, check=False)

    assert run_guard(NAMESPACE).returncode == 0
    refused = run_guard("other")
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0 and NAMESPACE in refused.stderr
    # a chart without conversion webhooks has no guard
    assert all(h["name"] != "namespace-guard" for h in releases["apiservice-demo"].get("hooks", []))


def test_apiservice_chart(generated: Generated) -> None:
    chart = generated.chart("apiservice-demo")
    rendered = template(chart, "other")
    apiservice = one(rendered, "APIService")
    service = one(rendered, "Service")
    assert apiservice["spec"]["service"] == {"namespace": "other", "name": service["metadata"]["name"], "port": 6443}
    assert apiservice["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"other/{service['metadata']['name']}-cert")
    deployment = one(rendered, "Deployment")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    reader = next(o for o in rendered if o["kind"] == "RoleBinding")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["subjects"] == [{"kind": "ServiceAccount", "name": "metrics-sa", "namespace": "other"}]
    delegator = next(o for o in rendered if o["kind"] == "ClusterRoleBinding"
                     and o["roleRef"]["name"] == "system:auth-delegator")
    assert delegator["subjects"][0]["namespace"] == "other"


# --- deploymentConfig values: Helm applies them exactly as extractor.render does -------------------

CONFIG: dict[str, Any] = {
    "env": [{"name": "HTTP_PROXY", "value": "http://proxy:3128"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "envFrom": [{"configMapRef": {"name": "extra-env"}}],
    "volumes": [{"name": "trusted-ca", "configMap": {"name": "ca", "defaultMode": 420}}],
    "volumeMounts": [{"name": "trusted-ca", "mountPath": "/etc/pki/ca-trust/extracted/pem", "readOnly": True}],
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"},
                    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}],
    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "10m"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                            "labelSelector": {"matchLabels": {"app": "x"}}}}]}},
    "annotations": {"example.com/owner": "platform", "olm.operatorNamespace": "not-applied"},
}


def overriding_config(deployments: list[KubeObject]) -> dict[str, Any]:
    """A config that also replaces what the bundle has: its first env var, volume and mount by name,
    an empty nodeSelector (removes it) and an empty nodeAffinity (removes it)."""
    config = copy.deepcopy(CONFIG)
    pod = deployments[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    if container.get("env"):
        config["env"].append({"name": container["env"][0]["name"], "value": "replaced"})
    if pod.get("volumes"):
        config["volumes"].append({"name": pod["volumes"][0]["name"], "emptyDir": {}})
    if container.get("volumeMounts"):
        config["volumeMounts"].append({"name": container["volumeMounts"][0]["name"], "mountPath": "/replaced"})
    config["nodeSelector"] = {}
    config["affinity"]["nodeAffinity"] = {}
    return config


def rendered_deployments(directory: Path, namespace: str, config: dict[str, Any] | None,
                         provider: str = "cert-manager") -> list[KubeObject]:
    bundle = load_bundle(BundleSource(reference=str(directory), directory=directory))
    options = RenderOptions(install_namespace=namespace, cert_provider=provider, deployment_config=config)
    deployments = [o for o in render(bundle, options).objects if o["kind"] == "Deployment"]
    return [without_chart_labels(d) for d in deployments]


def without_chart_labels(deployment: KubeObject) -> KubeObject:
    """``deployment`` without the labels the chart owns (``<chart>.labels`` replaces a bundle's
    ``app.kubernetes.io/managed-by`` and friends, and adds ``app.kubernetes.io/name``/``version``
    where the bundle has none: tests/emit/test_conventions.py checks those; here they are dropped
    from both sides)."""
    deployment = copy.deepcopy(deployment)
    labels = deployment["metadata"].get("labels")
    if labels is not None:
        for key in (*CHART_LABELS, "app.kubernetes.io/name", "app.kubernetes.io/version"):
            labels.pop(key, None)
        if not labels:
            del deployment["metadata"]["labels"]
    return deployment


def chart_deployments(chart: Path, namespace: str, config: dict[str, Any] | None, tmp_path: Path) -> list[KubeObject]:
    args: list[str] = []
    if config is not None:
        values = tmp_path / "config.yaml"
        values.write_text(yamlio.dump({"deploymentConfig": config}))
        args = ["-f", str(values)]
    # the chart's own labels are its only addition
    return [without_chart_labels(o) for o in template(chart, namespace, *args) if o["kind"] == "Deployment"]


def assert_chart_applies_config_like_render(chart: Path, directory: Path, namespace: str, tmp_path: Path,
                                            provider: str = "cert-manager") -> None:
    plain = rendered_deployments(directory, namespace, None, provider)
    assert chart_deployments(chart, namespace, None, tmp_path) == plain
    for config in (CONFIG, overriding_config(plain)):
        expected = rendered_deployments(directory, namespace, config, provider)
        assert expected != plain
        assert chart_deployments(chart, namespace, config, tmp_path) == expected


@pytest.mark.parametrize("name", ["webhook-demo", "webhook-demo-sca", "webhook-operator", "apiservice-demo"])
def test_deployment_config_values_equal_the_render(generated: Generated, name: str, tmp_path: Path) -> None:
    case = generated.cases[name]
    assert_chart_applies_config_like_render(generated.chart(name), bundle_dir(case), NAMESPACE, tmp_path,
                                            case.provider)


@pytest.mark.parametrize("name", ["cert-manager-operator", "sail-operator", "lws-operator"])
def test_deployment_config_values_equal_the_render_on_the_target_charts(
    project: Path, seeded_registry: SeededRegistry, name: str, tmp_path: Path
) -> None:
    chart = project / "charts" / name
    namespace = yamlio.load((chart / "release.yaml").read_text())["namespace"]
    assert_chart_applies_config_like_render(chart, seeded_registry.bundle_dirs[name], namespace, tmp_path)


def test_deployment_config_set_on_the_command_line(generated: Generated) -> None:
    chart = generated.chart("webhook-demo")
    rendered = template(chart, NAMESPACE, "--set", "deploymentConfig.nodeSelector.disk=ssd",
                        "--set", "deploymentConfig.env[0].name=A", "--set-string", "deploymentConfig.env[0].value=1")
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["containers"][0]["env"] == [{"name": "A", "value": "1"}]


@pytest.mark.parametrize(
    ("value", "schema_message", "message"),
    [
        ("deploymentConfig.env=3", "deploymentConfig.env: Invalid type. Expected: array",
         "deploymentConfig.env must be a list"),
        ("deploymentConfig.tolerations[0]=x", "deploymentConfig.tolerations.0: Invalid type. Expected: object",
         "deploymentConfig.tolerations[0] must be a mapping"),
        ("deploymentConfig.affinity.nodeAffinity=x", None, "deploymentConfig.affinity.nodeAffinity must be a mapping"),
    ],
)  # fmt: skip
def test_malformed_deployment_config_fails_the_render(
    generated: Generated, value: str, schema_message: str | None, message: str
) -> None:
    # values.schema.json refuses a wrong shape first; the template's own check stays for
    # --skip-schema-validation and for shapes the schema does not describe
    chart = generated.chart("webhook-demo")
    for extra in ([], ["--skip-schema-validation"]):
        proc = subprocess.run([str(helm_path()), "template", "x", str(chart), "--set", value, *extra],
                              capture_output=True, text=True, check=False)  # fmt: skip
        expected = schema_message if schema_message and not extra else message
        assert proc.returncode != 0 and expected in proc.stderr, proc.stderr


def helm_path() -> Path:
    from tests.support.tools import require_tool

    return require_tool("helm")


def test_baked_render_config_then_values_on_top(generated: Generated, tmp_path: Path) -> None:
    # bundles.yaml render.deploymentConfig is part of the generated Deployment; values apply on top
    directory = bundle_dir(generated.cases["webhook-demo-baked"])
    chart = generated.chart("webhook-demo-baked")
    assert chart_deployments(chart, NAMESPACE, None, tmp_path) == rendered_deployments(directory, NAMESPACE, BAKED)
    values = {"env": [{"name": "BAKED", "value": "2"}, {"name": "MORE", "value": "3"}]}
    [deployment] = chart_deployments(chart, NAMESPACE, values, tmp_path)
    [expected] = rendered_deployments(directory, NAMESPACE, BAKED)
    apply_deployment_config(expected, values)
    assert deployment == expected
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "BAKED", "value": "2"}, {"name": "MORE", "value": "3"}]
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"baked": "yes"}


def test_malformed_render_deployment_config_names_the_bundle() -> None:
    entry = BundleEntry("demo", "example.com/demo", "v1", "ns", render={"deploymentConfig": {"env": 3}})
    with pytest.raises(ConfigError, match=r"bundle 'demo': render\.deploymentConfig: .*env must be a list"):
        render_options_for(entry)
