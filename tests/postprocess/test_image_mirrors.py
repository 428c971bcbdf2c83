"""``image-mirrors``: the image list of the three target charts, the deploy-time rewrite through
chart values (helm 3 and helm4 render the real charts), and that nothing changes while unset."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.draft import ChartDraft
from extractor.draft.gotemplate import go_string
from extractor.emit.chart import write_chart
from extractor.errors import ConfigError
from postprocess import run_postprocessors
from postprocess.image_mirrors import (
    check_mirrors,
    check_overrides,
    collect_images,
    image_name,
    image_problem,
    image_warnings,
    rewrite_image,
    run,
)
from postprocess.image_rewrite import helpers
from tests.support.drafts import SETTINGS, TARGETS, processed_draft, rendered_draft
from tests.support.project import docs, helm
from tests.support.tools import require_tool

LWS_OPERATOR = ("registry.redhat.io/leader-worker-set/lws-rhel9-operator@sha256:"
                "bb8ec96f1d8fd52c6633a5f0fda18234305b51b859b801db5966cfce53701b88")
#: every registry the three charts name, each mirrored
MIRRORS = {
    "registry.redhat.io": "mirror.example.com/redhat",
    "quay.io": "mirror.example.com/quay",
    "openshift.io": "mirror.example.com/openshift",
}
ORIGINAL_REGISTRIES = ("registry.redhat.io/", "quay.io/", "openshift.io/")
ORIGINAL = re.compile(r"(?<![\w.-])(?:registry\.redhat\.io|quay\.io|openshift\.io)/")


def test_rewrite_longest_prefix_on_a_path_boundary() -> None:
    mirrors = {"registry.redhat.io": "m.example/rh", "registry.redhat.io/openshift-service-mesh": "m2:5000/ossm/"}
    digest = "sha256:" + "a" * 64
    assert rewrite_image(f"registry.redhat.io/openshift-service-mesh/pilot@{digest}", mirrors, {}) == \
        f"m2:5000/ossm/pilot@{digest}"
    assert rewrite_image("registry.redhat.io/openshift-service-mesh-dev/z:1", mirrors, {}) == \
        "m.example/rh/openshift-service-mesh-dev/z:1"  # not under .../openshift-service-mesh
    assert rewrite_image("registry.redhat.io:5000/x:1", mirrors, {}) == "registry.redhat.io:5000/x:1"
    assert rewrite_image("quay.io/a/b:v1", mirrors, {}) == "quay.io/a/b:v1"
    # a whole repository as the prefix; tag and digest kept
    assert rewrite_image("quay.io/a/b:v1@" + digest, {"quay.io/a/b": "m/c"}, {}) == "m/c:v1@" + digest
    # an override wins over mirrors; a placeholder can only be overridden
    assert rewrite_image("registry.redhat.io/x:1", mirrors, {"registry.redhat.io/x:1": "o/y:2"}) == "o/y:2"
    assert rewrite_image("${OPERATOR_IMAGE}", mirrors, {}) == "${OPERATOR_IMAGE}"
    assert image_name("host:5000/a/b:tag@" + digest) == "host:5000/a/b"
    # a transport (kuadrant's wasm-shim RELATED_IMAGE) is kept; the reference behind it is pullable
    assert rewrite_image("oci://quay.io/kuadrant/wasm-shim:v0.6.0", {"quay.io": "m.example/q"}, {}) == \
        "oci://m.example/q/kuadrant/wasm-shim:v0.6.0"
    assert image_problem("oci://quay.io/kuadrant/wasm-shim:v0.6.0") is None


TWIN_REFERENCES = [
    "registry.redhat.io/openshift-service-mesh/istio-pilot-rhel9@sha256:" + "d" * 64,
    "registry.redhat.io/openshift-service-mesh-dev/z:1",
    "registry.redhat.io:5000/x:1",
    "registry.redhat.io",
    "quay.io/jetstack/cert-manager-webhook:v1.15.5",
    "quay.io/a/b",
    "oci://quay.io/kuadrant/wasm-shim:v0.6.0",
    "nginx:1.25",
    "${OSSM_OPERATOR_3_2}",
    "openshift.io/cert-manager-operator:latest",
    'we"ird{{ .Chart.Name }}',
]
TWIN_VALUES: dict[str, Any] = {
    "imageRegistryMirrors": {"registry.redhat.io": "m.example/rh",
                             "registry.redhat.io/openshift-service-mesh/": "m2:5000/o/",
                             "quay.io/a/b": "m.example/ab", "quay.io": "m.example/q"},
    "imageOverrides": {"${OSSM_OPERATOR_3_2}": "m.example/ossm@sha256:" + "e" * 64, "nginx:1.25": "m.example/nginx:1"},
}


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_go_helper_computes_what_rewrite_image_computes(tmp_path: Path, binary: str) -> None:
    """The chart's <chart>.image and the Python rewrite (pull-secret, docs) are twins."""
    chart = tmp_path / "twin"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: twin\nversion: 0.1.0\n")
    (chart / "templates/_helpers.tpl").write_text("".join(
        f'{{{{- define "{name}" -}}}}\n{body}\n{{{{- end }}}}\n' for name, body in helpers("twin").items()))
    lines = [f'  r{i}: {{{{ include "twin.image" (list $ {go_string(r)}) | toJson }}}}'
             for i, r in enumerate(TWIN_REFERENCES)]
    (chart / "templates/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twin\ndata:\n"
                                             + "\n".join(lines) + "\n")
    values = tmp_path / "values.yaml"
    values.write_text(yamlio.dump(TWIN_VALUES))
    [config_map] = docs(helm(binary, "template", "t", str(chart), "-f", str(values)).stdout)
    mirrors = check_mirrors(TWIN_VALUES["imageRegistryMirrors"])
    overrides = TWIN_VALUES["imageOverrides"]
    assert config_map["data"] == {f"r{i}": rewrite_image(r, mirrors, overrides) for i, r in enumerate(TWIN_REFERENCES)}
    assert config_map["data"]["r0"].startswith("m2:5000/o/istio-pilot-rhel9@sha256:")


def test_bad_mirror_and_override_values_name_the_value() -> None:
    for bad in ({"https://quay.io": "m.example"}, {"quay.io": "m.example/UPPER"}, {"quay.io": 3}, ["quay.io"]):
        with pytest.raises(ConfigError, match=r"^imageRegistryMirrors"):
            check_mirrors(bad)
    with pytest.raises(ConfigError, match=r"imageOverrides: 'a:1' -> 'not an image!'"):
        check_overrides({"a:1": "not an image!"})
    assert check_mirrors({"quay.io/": "m.example:5000/q/"}) == {"quay.io/": "m.example:5000/q/"}
    with pytest.raises(ConfigError, match="option 'mirrors'"):
        run(rendered_draft("lws-operator"), {"mirrors": {"quay.io": "bad mirror"}})
    # options are the chart's defaults, checked when it is generated
    draft = run(rendered_draft("lws-operator"), {"mirrors": {"registry.redhat.io": "m.example/rh"},
                                                 "overrides": {"a/b:1": "c/d:2"}})
    assert draft.values["imageRegistryMirrors"] == {"registry.redhat.io": "m.example/rh"}
    assert draft.values["imageOverrides"] == {"a/b:1": "c/d:2"}
    assert draft.value_schemas["imageRegistryMirrors"]["additionalProperties"]["type"] == "string"
    with pytest.raises(ConfigError, match=r"unknown option\(s\) mirror \(known: mirrors, overrides\)"):
        run(rendered_draft("lws-operator"), {"mirror": {}})


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("${OSSM_OPERATOR_3_2}", "unexpanded placeholder"),
        ("openshift.io/cert-manager-operator:latest", "floating tag :latest from openshift.io"),
        ("openshift.io/cert-manager-operator", "floating tag :latest"),
        ("Not An Image", "not an image reference"),
        ("quay.io/jetstack/cert-manager-webhook:latest", None),  # a registry: pullable
        ("127.0.0.1:5000/x:latest", None),
        (LWS_OPERATOR, None),
    ],
)
def test_image_problem(reference: str, problem: str | None) -> None:
    found = image_problem(reference)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))


def test_every_place_of_the_target_charts_is_listed() -> None:
    cert_manager = {(u.source, u.field.rsplit("[", 1)[-1].rstrip("].image")): u for u in
                    processed_draft("cert-manager-operator").images}
    operator = cert_manager[("container", "cert-manager-operator")]
    assert operator.reference == "openshift.io/cert-manager-operator:latest" and operator.problem
    assert operator.object == "Deployment/cert-manager-operator-controller-manager"
    webhook = cert_manager[("env", "RELATED_IMAGE_CERT_MANAGER_WEBHOOK")]
    assert webhook.reference == "quay.io/jetstack/cert-manager-webhook:v1.15.5" and webhook.problem is None
    assert not [u for u in cert_manager.values() if "IMAGE_VERSION" in u.field]  # versions are no images

    sail = processed_draft("sail-operator").images
    annotations = {u.field.split("[", 1)[1].rstrip("]"): u for u in sail if u.source == "annotation"}
    assert annotations["images.v1_27_3.istiod"].reference == "${ISTIO_PILOT_1_27}"
    assert annotations["images.v1_26_4.istiod"].reference.startswith("registry.redhat.io/openshift-service-mesh/")
    assert annotations["containerImage"].reference == "${OSSM_OPERATOR_3_2}"
    assert annotations["images.v1_26_4.istiod"].field.startswith("spec.template.metadata.annotations[")
    warnings = image_warnings("sail-operator", sail)
    # one line per object and reference, naming the chart, the object and the reference
    operator_lines = [w for w in warnings if "'${OSSM_OPERATOR_3_2}'" in w]
    assert len(operator_lines) == 1 and operator_lines[0].startswith(
        "chart 'sail-operator': Deployment/servicemesh-operator3: image '${OSSM_OPERATOR_3_2}'")
    assert "containers[sail-operator].image" in operator_lines[0] and "annotations[containerImage]" in operator_lines[0]

    lws = processed_draft("lws-operator").images
    assert {u.source for u in lws} == {"container", "env", "relatedImages"}
    assert LWS_OPERATOR in {u.reference for u in lws if u.source == "relatedImages"}
    assert not [u for u in lws if u.problem]
    # the list is a pure function of the draft
    assert collect_images(rendered_draft("lws-operator")) == collect_images(rendered_draft("lws-operator"))


def _charts(root: Path, *, enabled: bool) -> dict[str, Path]:
    out = {}
    for name in TARGETS:
        settings: dict[str, Any] = {**SETTINGS[name], "image-mirrors": enabled}
        draft: ChartDraft = run_postprocessors(rendered_draft(name), settings)
        write_chart(draft, root / name)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _charts(tmp_path_factory.mktemp("mirrored"), enabled=True)


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_unset_values_render_byte_identical(charts: dict[str, Path], tmp_path: Path, binary: str) -> None:
    before = _charts(tmp_path, enabled=False)
    for name, chart in charts.items():
        new = helm(binary, "template", name, str(chart), "--namespace", "ns1").stdout
        old = helm(binary, "template", name, str(before[name]), "--namespace", "ns1").stdout
        assert new == old, name
        assert "imageField" in (chart / "templates" / "_helpers.tpl").read_text()


def _images_in(rendered: str) -> list[str]:
    """Every image of the rendered workloads: containers, init containers, env values, annotations."""
    found = []
    for doc in docs(rendered):
        template = (doc.get("spec") or {}).get("template") or {}
        for meta in (doc.get("metadata") or {}, template.get("metadata") or {}):
            found += [str(v) for v in (meta.get("annotations") or {}).values() if "\n" not in str(v)]
        pod = template.get("spec") or {}
        for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            found.append(container["image"])
            found += [e["value"] for e in container.get("env") or [] if "value" in e]
    return found


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_mirror_values_reach_every_image(charts: dict[str, Path], tmp_path: Path, binary: str) -> None:
    values = tmp_path / "mirrors.yaml"
    values.write_text(yamlio.dump({"imageRegistryMirrors": MIRRORS}))
    for name, chart in charts.items():
        rendered = helm(binary, "template", name, str(chart), "-f", str(values)).stdout
        # no image on an original registry anywhere in the text (operator.openshift.io/v1 is an API group)
        assert not ORIGINAL.findall(rendered), (name, ORIGINAL.findall(rendered)[:3])
        images = _images_in(rendered)
        assert not [i for i in images if i.startswith(ORIGINAL_REGISTRIES)], name
        assert any(i.startswith("mirror.example.com/") for i in images), name
        # the chart's rewrite is the one bundle-extract computes (pull-secret, docs)
        draft_images = {u.reference for u in processed_draft(name).images if u.source != "relatedImages"}
        expected = {rewrite_image(r, MIRRORS, {}) for r in draft_images}
        assert expected <= set(images), (name, sorted(expected - set(images))[:3])
    # digests stay digests
    lws = helm(binary, "template", "lws", str(charts["lws-operator"]), "-f", str(values)).stdout
    assert "image: \"mirror.example.com/redhat/leader-worker-set/lws-rhel9-operator@sha256:bb8ec96f" in lws


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_override_replaces_the_operator_image(charts: dict[str, Path], binary: str) -> None:
    new = "mirror.example.com/ossm/sail-operator@sha256:" + "1" * 64
    rendered = helm(binary, "template", "sail", str(charts["sail-operator"]),
                    "--set-json", json.dumps({"${OSSM_OPERATOR_3_2}": new}).join(("imageOverrides=", ""))).stdout
    [deployment] = [d for d in docs(rendered) if d["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == new
    assert template["metadata"]["annotations"]["containerImage"] == new
    assert "${OSSM_OPERATOR_3_2}" not in rendered.replace("${OSSM_OPERATOR_3_2}\"", "")  # only in the values echo
    # with deploymentConfig set the Deployment is re-serialised: the rewrite survives it
    rendered = helm(binary, "template", "lws", str(charts["lws-operator"]),
                    "--set-json", json.dumps({LWS_OPERATOR: "o.example/lws:1"}).join(("imageOverrides=", "")),
                    "--set-json", 'deploymentConfig={"env":[{"name":"A","value":"b"}]}').stdout
    [deployment] = [d for d in docs(rendered) if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "o.example/lws:1"


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_malformed_mirror_value_fails_naming_it(charts: dict[str, Path], binary: str) -> None:
    chart = str(charts["lws-operator"])
    bad = 'imageRegistryMirrors={"registry.redhat.io":"https://mirror.example.com"}'
    for extra in ((), ("--skip-schema-validation",)):  # the schema, and the helper's own check
        proc = subprocess.run([str(require_tool(binary)), "template", "x", chart, "--set-json", bad, *extra],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode != 0
        assert "imageRegistryMirrors" in proc.stderr and "registry.redhat.io" in proc.stderr, proc.stderr
    proc = subprocess.run([str(require_tool(binary)), "template", "x", chart, "--skip-schema-validation",
                           "--set-json", bad], capture_output=True, text=True, timeout=120, check=False)
    assert 'imageRegistryMirrors: "registry.redhat.io" -> https://mirror.example.com is not host[/path]' in proc.stderr


# -- an init container (none of the three target charts has one) ----------------------------------

INIT_IMAGE = "registry.redhat.io/ubi9/ubi-minimal@sha256:" + "c" * 64
INIT_HELPER = "registry.redhat.io/ubi9/toolbox:9.5"


def _draft_with_init_container() -> ChartDraft:
    """lws-operator's rendered draft whose Deployment gets an init container (placed before the
    containers, as a bundle would) with a registry.redhat.io image and a RELATED_IMAGE env."""
    draft = rendered_draft("lws-operator")
    [deployment] = [o for o in draft.objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    init = {"name": "setup", "image": INIT_IMAGE, "command": ["/bin/true"],
            "env": [{"name": "RELATED_IMAGE_HELPER", "value": INIT_HELPER}]}
    deployment["spec"]["template"]["spec"] = {"initContainers": [init], **pod}
    return draft


def _init_chart(root: Path, *, enabled: bool) -> Path:
    settings: dict[str, Any] = {**SETTINGS["lws-operator"], "image-mirrors": enabled}
    write_chart(run_postprocessors(_draft_with_init_container(), settings), root)
    return root


@pytest.fixture(scope="module")
def init_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _init_chart(tmp_path_factory.mktemp("init") / "lws-operator", enabled=True)


def _pod_spec(rendered: str) -> dict[str, Any]:
    [deployment] = [d for d in docs(rendered) if d["kind"] == "Deployment"]
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_init_container_images_are_listed() -> None:
    uses = collect_images(_draft_with_init_container())
    where = "spec.template.spec.initContainers[setup]"
    init = [u for u in uses if u.field.startswith(where)]
    assert [(u.reference, u.source, u.object, u.field, u.problem) for u in init] == [
        (INIT_IMAGE, "initContainer", "Deployment/openshift-lws-operator", f"{where}.image", None),
        (INIT_HELPER, "env", "Deployment/openshift-lws-operator", f"{where}.env[RELATED_IMAGE_HELPER]", None),
    ]
    # listed in document order, before the operator container's own images
    assert uses.index(init[0]) < min(i for i, u in enumerate(uses) if u.source == "container")
    # the post-processed draft carries them too (`bundle-extract images`)
    processed = run_postprocessors(_draft_with_init_container(), SETTINGS["lws-operator"])
    assert {INIT_IMAGE, INIT_HELPER} <= {u.reference for u in processed.images}


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_init_container_image_follows_the_mirror(init_chart: Path, tmp_path: Path, binary: str) -> None:
    values = tmp_path / "mirrors.yaml"
    values.write_text(yamlio.dump({"imageRegistryMirrors": MIRRORS}))
    rendered = helm(binary, "template", "lws", str(init_chart), "-f", str(values)).stdout
    [init] = _pod_spec(rendered)["initContainers"]
    assert init["image"] == "mirror.example.com/redhat/ubi9/ubi-minimal@sha256:" + "c" * 64
    assert init["env"] == [{"name": "RELATED_IMAGE_HELPER", "value": "mirror.example.com/redhat/ubi9/toolbox:9.5"}]
    assert not ORIGINAL.findall(rendered), ORIGINAL.findall(rendered)[:3]
    # an override of the init container's image wins over the mirror
    rendered = helm(binary, "template", "lws", str(init_chart), "-f", str(values), "--set-json",
                    json.dumps({INIT_IMAGE: "o.example/init:1"}).join(("imageOverrides=", ""))).stdout
    assert _pod_spec(rendered)["initContainers"][0]["image"] == "o.example/init:1"
    # with deploymentConfig set the Deployment is re-serialised: the rewrite survives it
    rendered = helm(binary, "template", "lws", str(init_chart), "-f", str(values),
                    "--set-json", 'deploymentConfig={"env":[{"name":"A","value":"b"}]}').stdout
    pod = _pod_spec(rendered)
    assert pod["initContainers"][0]["image"] == "mirror.example.com/redhat/ubi9/ubi-minimal@sha256:" + "c" * 64
    assert {"name": "A", "value": "b"} in pod["containers"][0]["env"]


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_init_container_image_unchanged_without_values(init_chart: Path, tmp_path: Path, binary: str) -> None:
    rendered = helm(binary, "template", "lws", str(init_chart)).stdout
    [init] = _pod_spec(rendered)["initContainers"]
    assert init["image"] == INIT_IMAGE
    assert init["env"] == [{"name": "RELATED_IMAGE_HELPER", "value": INIT_HELPER}]
    # byte-identical to the chart generated without the post-processor
    plain = _init_chart(tmp_path / "lws-operator", enabled=False)
    assert "imageField" not in (plain / "templates" / "_helpers.tpl").read_text()
    assert rendered == helm(binary, "template", "lws", str(plain)).stdout
