"""Bundle text is data, never template code: a bundle full of Go-template syntax (``{{ … }}``,
``{{-``, ``}}``, backticks, ``{{/* */}}``, a ``{`` right before the templated namespace) goes through
the real pipeline into a chart, and real ``helm template`` (helm 3 and 4) must give back exactly the
strings ``bundle-extract run`` prints, in every field kind the chart writer handles: plain strings,
mapping keys, env values, args and annotations in which the install namespace is templated, DNS
names, and an operator custom resource from alm-examples whose spec keys follow the namespace.
With ``--namespace other`` only the namespace parts may change.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.config import load_config
from extractor.draft.gotemplate import Tpl, dump_template
from extractor.model import KubeObject
from extractor.pipeline import generate, render_options_for, render_plain
from postprocess.templatize_namespaces import RELEASE_NAMESPACE
from tests.conftest import REPO
from tests.support.project import docs, helm

NS = "hostile-ns"
HOSTILE = (
    "{{ .Chart.Name }}",
    "{{- .Release.Name -}}",
    "}} {{",
    "{{/* comment */}}",
    "`{{ print 1 }}`",
    '{{ "quoted" }}',
    "{{ .Values.pullSecret.dockerConfigJson }}",
    "{",
    "{{{",
    "\\{{",
)


def _variants(marker: str) -> Iterator[tuple[str, str]]:
    """(env var name, value) pairs that make the namespace templater split the value around ``NS``."""
    for index, text in enumerate(HOSTILE):
        yield f"H{index}_PLAIN", f"{marker}{text}"
        yield f"H{index}_DNS", f"{text}svc.{NS}.svc{text}"
        yield f"H{index}_BRACE_DNS", f"x{{.{NS}.svc.cluster.local{text}"
        yield f"H{index}_NAMESPACE", NS if index == 0 else f"{text}.{NS}.svc:{text}"


def _hostile_bundle(root: Path) -> Path:
    bundle = root / "bundle"
    shutil.copytree(REPO / "tests/fixtures/bundles/webhook-demo", bundle)
    path = bundle / "manifests/demo.clusterserviceversion.yaml"
    csv = yamlio.load(path.read_bytes())
    deployment = csv["spec"]["install"]["spec"]["deployments"][0]["spec"]
    container = deployment["template"]["spec"]["containers"][0]
    container["env"] = [{"name": name, "value": value} for name, value in _variants("env:")]
    container["args"] = [arg for text in HOSTILE for arg in (f"--watch-namespace={NS},{text}", f"--x={text}")]
    container["command"] = ["/manager", *HOSTILE]
    pod_annotations = deployment["template"]["metadata"]["annotations"]
    for index, text in enumerate(HOSTILE):
        pod_annotations[f"example.com/h{index}"] = text
    pod_annotations["example.com/{{ .Chart.Name }}"] = "key"
    pod_annotations["olm.operatorNamespace-note"] = f"{NS}{HOSTILE[0]}"
    csv["metadata"]["annotations"]["alm-examples"] = json.dumps([{
        "apiVersion": "demo.example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {**{f"k{i}{t}": t for i, t in enumerate(HOSTILE)}, 'ns"}} {{ .Chart.Name }}': NS, "plain": NS},
    }])
    path.write_text(yamlio.dump(csv))
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hostile"},
        "data": {**{f"v{i}": t for i, t in enumerate(HOSTILE)}, **{t: "key" for t in HOSTILE}},
    }
    (bundle / "manifests/hostile.configmap.yaml").write_text(yamlio.dump(config_map))
    return bundle


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[KubeObject]]:
    root = tmp_path_factory.mktemp("fidelity")
    bundle = _hostile_bundle(root)
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [{
        "name": "hostile", "image": str(bundle), "version": "local", "namespace": NS,
        "postprocessors": {"operator-crs": [{"kind": "Widget", "name": "w", "valuesKey": "widget",
                                             "fromAlmExample": True}]},
    }]}))
    config = load_config(root / "bundles.yaml")
    generate(config, root, AcquireOptions(work_dir=root / "work"))
    options = render_options_for(config.bundles[0])
    plain = render_plain(str(bundle), options, AcquireOptions(work_dir=root / "w2"), exclude=config.bundles[0].excludes)
    return root, list(plain.objects)


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, "key", key), key
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path, node


def _hostile_leaves(obj: KubeObject) -> dict[tuple[Any, ...], str]:
    return {p: v for p, v in _leaves(obj) if isinstance(v, str) and any(h in v for h in ("{", "}", "`"))}


def _by_identity(objects: list[KubeObject]) -> dict[tuple[str, str], KubeObject]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


@pytest.mark.parametrize("binary", ["helm", "helm4"])
@pytest.mark.parametrize("namespace", [NS, "other"])
def test_bundle_text_comes_out_of_helm_template_unchanged(
    project: tuple[Path, list[KubeObject]], binary: str, namespace: str
) -> None:
    root, plain = project
    rendered = docs(helm(binary, "template", "hostile", str(root / "charts/hostile"), "--namespace", namespace).stdout)
    got = _by_identity(rendered)
    checked = 0
    for identity, obj in _by_identity(plain).items():
        if identity[0] == "CustomResourceDefinition":
            continue  # presync files, byte-for-byte (tested elsewhere)
        expected = _hostile_leaves(obj)
        actual = _hostile_leaves(got[identity])
        for path, value in expected.items():
            want = value.replace(NS, namespace) if path[-1] != "key" or NS in value else value
            assert actual.get(path) == want or (namespace != NS and actual.get(path) == value), (identity, path)
            checked += 1
    assert checked > 80, checked  # every hostile field was looked at
    # the operator custom resource: its spec (hostile keys and values) is the alm-example's,
    # with the keys whose value was the install namespace following the release namespace
    widget = got[("Widget", "w")]
    assert widget["spec"] == {**{f"k{i}{t}": t for i, t in enumerate(HOSTILE)},
                              'ns"}} {{ .Chart.Name }}': namespace, "plain": namespace}
    # nothing of the values (e.g. the pull secret) leaked into a string
    assert "dockerConfigJson }}" in json.dumps(rendered)


def test_namespace_parts_follow_the_release(project: tuple[Path, list[KubeObject]]) -> None:
    root, _ = project
    rendered = _by_identity(docs(helm("helm", "template", "hostile", str(root / "charts/hostile"),
                                      "--namespace", "other").stdout))
    pod = rendered[("Deployment", "webhook-demo-controller-manager")]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["H0_NAMESPACE"] == "other"
    assert env["H1_DNS"] == "{{- .Release.Name -}}svc.other.svc{{- .Release.Name -}}"
    assert env["H7_BRACE_DNS"] == f"x{{.{NS}.svc.cluster.local{{"  # not a <svc>.<ns>.svc name: left alone
    assert env["H0_PLAIN"] == "env:{{ .Chart.Name }}"


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_literal_parts_next_to_actions(tmp_path: Path, binary: str) -> None:
    """Every literal around a templated namespace renders to itself, whatever it ends or starts with."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    literals = [*HOSTILE, "x{", "{", "}", "a}}", "\"{{\"", "\n{{\t"]
    data = {f"k{i}": Tpl(text, RELEASE_NAMESPACE, text) for i, text in enumerate(literals)}
    (chart / "templates/cm.yaml").write_text(
        dump_template({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}))
    [config_map] = docs(helm(binary, "template", "r", str(chart), "--namespace", "ns1").stdout)
    assert config_map["data"] == {f"k{i}": f"{text}ns1{text}" for i, text in enumerate(literals)}
