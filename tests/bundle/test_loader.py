"""load_bundle: OLMv1 rukpak/bundle/source semantics."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.bundle.crd_conversion import convert_v1beta1_crd
from extractor.bundle.loader import load_bundle
from extractor.bundle.validate import validate_bundle
from extractor.errors import BundleError
from extractor.model import BundleSource, RenderOptions
from extractor.render import render
from tests.render import FIXTURES, crd, load, make_csv, write_bundle
from tests.support.tools import require_shared


def test_multi_doc_fixture_objects_in_file_order() -> None:
    bundle = load(FIXTURES / "multi-doc")
    assert bundle.package == "multidoc-operator"
    assert bundle.csv_name == "multidoc-operator.v2.3.4"
    assert bundle.csv_path == "manifests/demo.clusterserviceversion.yaml"
    assert [(d.kind, d.name, d.path, d.index) for d in bundle.others] == [
        ("ConfigMap", "multidoc-config", "manifests/extra.yaml", 0),
        ("ServiceMonitor", "multidoc-metrics", "manifests/extra.yaml", 2),
        ("PriorityClass", "multidoc-critical", "manifests/priorityclass.yaml", 0),
    ]
    # documents of multi-document files carry no raw bytes; single-document files do
    assert bundle.others[0].raw is None
    assert bundle.others[2].raw == (FIXTURES / "multi-doc/manifests/priorityclass.yaml").read_bytes()


def test_values_stay_lossless() -> None:
    config_map = load(FIXTURES / "multi-doc").others[0].obj
    assert config_map["data"] == {"empty": "", "date": "2024-01-01"}


def test_properties_yaml_appended_to_olm_properties() -> None:
    bundle = load(FIXTURES / "multi-doc")
    value = bundle.csv["metadata"]["annotations"]["olm.properties"]
    assert value == (
        '[{"type":"olm.maxOpenShiftVersion","value":"4.18"},'
        '{"type":"olm.package.required","value":{"packageName":"other",'
        '"versionRange":"\\u003e=1.0.0 \\u003c2.0.0"}}]'
    )
    assert json.loads(value)[1]["value"]["versionRange"] == ">=1.0.0 <2.0.0"


def test_crd_raw_bytes_and_v1beta1_conversion() -> None:
    bundle = load(FIXTURES / "multi-doc")
    by_name = {d.name: d for d in bundle.crds}
    gizmos = by_name["gizmos.demo.example.com"]
    assert gizmos.raw == (FIXTURES / "multi-doc/manifests/demo.example.com_gizmos.yaml").read_bytes()
    gadgets = by_name["gadgets.demo.example.com"]
    assert gadgets.raw is None
    assert gadgets.obj["apiVersion"] == "apiextensions.k8s.io/v1"
    (version,) = gadgets.obj["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True
    assert schema["properties"]["spec"]["default"] == {}
    assert schema["properties"]["spec"]["properties"]["mode"]["default"] == ""
    assert version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"] == [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    for key in ("version", "validation", "subresources", "additionalPrinterColumns"):
        assert key not in gadgets.obj["spec"]


def test_v1beta1_without_schema_is_an_error() -> None:
    legacy = {
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "olds.example.com"},
        "spec": {"group": "example.com", "version": "v1", "names": {"kind": "Old", "plural": "olds"}},
    }
    with pytest.raises(
        BundleError, match=r"x.yaml: v1beta1 CustomResourceDefinition 'olds.example.com' cannot"
    ):
        convert_v1beta1_crd(legacy, "x.yaml")


def test_v1beta1_conversion_webhook_moves_under_webhook() -> None:
    legacy = {
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "olds.example.com"},
        "spec": {
            "group": "example.com",
            "preserveUnknownFields": False,
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
            "conversion": {
                "strategy": "Webhook",
                "webhookClientConfig": {"service": {"name": "s", "namespace": "n"}},
            },
        },
    }
    out = convert_v1beta1_crd(legacy)
    assert out["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {"service": {"name": "s", "namespace": "n"}},
            "conversionReviewVersions": ["v1beta1"],
        },
    }
    assert (
        "x-kubernetes-preserve-unknown-fields" not in out["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    )
    assert legacy["apiVersion"].endswith("v1beta1"), "input must not be mutated"


def test_csv_found_by_kind_whatever_the_api_version(tmp_path: Path) -> None:
    csv = make_csv()
    csv["apiVersion"] = "operators.coreos.com/v1alpha2"
    assert load(write_bundle(tmp_path, csv)).csv_name == "demo-operator.v1.0.0"


def test_missing_annotations(tmp_path: Path) -> None:
    root = write_bundle(tmp_path, make_csv())
    (root / "metadata" / "annotations.yaml").unlink()
    with pytest.raises(BundleError, match=r"^metadata/annotations.yaml: file not found"):
        load(root)


def test_empty_package_is_loaded_for_the_validator(tmp_path: Path) -> None:
    assert load(write_bundle(tmp_path, make_csv(), package="")).package == ""


def test_subdirectory_is_an_error(tmp_path: Path) -> None:
    root = write_bundle(tmp_path, make_csv())
    (root / "manifests" / "nested").mkdir()
    with pytest.raises(BundleError, match=r"^manifests/nested: subdirectories are not allowed"):
        load(root)


@pytest.mark.parametrize("rel", ["manifests/zz.yaml", "metadata/annotations.yaml", "metadata/properties.yaml",
                                 "metadata/dependencies.yaml"])
@pytest.mark.parametrize("make", [
    lambda p: os.mkfifo(p),  # no writer: a plain open would wait for one forever
    lambda p: p.symlink_to("/dev/zero"),  # never ends: a plain read would fill the memory
])
def test_a_bundle_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, rel: str, make: Any) -> None:
    root = write_bundle(tmp_path, make_csv())
    (root / rel).unlink(missing_ok=True)
    make(root / rel)
    with pytest.raises(BundleError, match=rf"^{rel}: not a regular file$"):
        load(root)


def test_a_bundle_file_past_the_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import extractor.bundle.loader

    root = write_bundle(tmp_path, make_csv(), {"big.yaml": "kind: ConfigMap\napiVersion: v1\n" + "#" * 200 + "\n"})
    assert load(root).others  # within the limit
    monkeypatch.setattr(extractor.bundle.loader, "MAX_MANIFEST_FILE_BYTES", 200)
    with pytest.raises(BundleError, match=r"^manifests/big.yaml: larger than 200 bytes$"):
        load(root)


def test_invalid_yaml_names_file_and_document(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path, make_csv(), {"bad.yaml": "kind: ConfigMap\napiVersion: v1\n---\nfoo: [bar\n"}
    )
    with pytest.raises(BundleError, match=r"^manifests/bad.yaml: document 2: invalid YAML: ") as info:
        load(root)
    assert "\n" not in str(info.value)


def test_object_without_kind(tmp_path: Path) -> None:
    root = write_bundle(
        tmp_path, make_csv(), {"nokind.yaml": {"apiVersion": "v1", "metadata": {"name": "x"}}}
    )
    with pytest.raises(BundleError, match=r"^manifests/nokind.yaml: document 1: object has no 'kind'"):
        load(root)


def test_no_csv(tmp_path: Path) -> None:
    root = write_bundle(tmp_path, make_csv())
    (root / "manifests" / "demo.clusterserviceversion.yaml").unlink()
    with pytest.raises(BundleError, match=r'^no ClusterServiceVersion found in "manifests"$'):
        load(root)


def test_two_csvs(tmp_path: Path) -> None:
    root = write_bundle(tmp_path, make_csv(), {"again.yaml": make_csv(name="other.v1.0.0")})
    with pytest.raises(BundleError, match=r"more than one ClusterServiceVersion"):
        load(root)


def test_hidden_files_are_parsed_like_olmv1(tmp_path: Path) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hidden"}}
    root = write_bundle(tmp_path, make_csv(), {".hidden.yaml": cm})
    assert [d.name for d in load(root).others] == ["hidden"]


def test_list_kinds_are_flattened(tmp_path: Path) -> None:
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}"}} for i in range(2)]
    root = write_bundle(
        tmp_path, make_csv(), {"list.yaml": {"apiVersion": "v1", "kind": "List", "items": items}}
    )
    docs = load(root).others
    assert [d.name for d in docs] == ["cm0", "cm1"]
    assert all(d.raw is None for d in docs)


def test_unknown_crd_api_version(tmp_path: Path) -> None:
    bad = crd("example.com", "things", "Thing")
    bad["apiVersion"] = "apiextensions.k8s.io/v2"
    root = write_bundle(tmp_path, make_csv(), {"thing.yaml": bad})
    with pytest.raises(BundleError, match=r"manifests/thing.yaml: .*unsupported apiVersion"):
        load(root)


@pytest.mark.parametrize(
    "name",
    ["cert-manager-operator-v1.15.2", "servicemeshoperator3-v3.2.1", "leader-worker-set-v1.0.0-rendered"],
)
def test_target_bundles_load(name: str, tmp_path: Path) -> None:
    src = require_shared("bundles", name)
    bundle = load_bundle(BundleSource(reference=str(src), directory=src))
    assert bundle.crds and all(d.raw is not None for d in bundle.crds)
    for doc in bundle.crds:
        assert yamlio.load(doc.raw or b"") == doc.obj
    # copying the directory gives the same result (no dependence on the path)
    shutil.copytree(src, tmp_path / "copy")
    assert load(tmp_path / "copy").csv == bundle.csv


def _v1beta1_crd(group: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"olds.{group}"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {"group": group, "version": "v1", "scope": "Namespaced",
                 "names": {"kind": "Old", "plural": "olds"},
                 "validation": {"openAPIV3Schema": {"type": "object"}}},
    }


@pytest.mark.parametrize("group", ["k8s.io", "gateway.networking.k8s.io", "kubernetes.io", "storage.kubernetes.io"])
def test_converted_crd_of_a_protected_group_is_marked_unapproved(group: str, tmp_path: Path) -> None:
    """Class 3 of issue 13: v1 CRDs in ``*.k8s.io``/``*.kubernetes.io`` need api-approved.kubernetes.io."""
    converted = convert_v1beta1_crd(_v1beta1_crd(group))
    assert converted["metadata"]["annotations"] == {
        "api-approved.kubernetes.io": "unapproved, converted from a v1beta1 bundle CRD"}
    # loading reports it; the rest of the conversion is what it was
    bundle = load(write_bundle(tmp_path, make_csv(), {"old.crd.yaml": _v1beta1_crd(group)}))
    assert bundle.notes == [
        f"manifests/old.crd.yaml: CustomResourceDefinition 'olds.{group}' converted from v1beta1 got "
        "api-approved.kubernetes.io: 'unapproved, converted from a v1beta1 bundle CRD' (its API group is "
        "protected; the API server refuses v1 CRDs there without it)"]
    unmarked = copy.deepcopy(bundle.crds[0].obj)
    del unmarked["metadata"]["annotations"]
    assert unmarked == convert_v1beta1_crd(_v1beta1_crd("example.com")) | {
        "metadata": {"name": f"olds.{group}"},
        "spec": {**convert_v1beta1_crd(_v1beta1_crd("example.com"))["spec"], "group": group}}


@pytest.mark.parametrize("group", ["example.com", "k8s.io.example.com", "notk8s.io", "x-k8s.io", "sigs.x-k8s.io",
                                   "kubernetes.io.evil.com"])
def test_converted_crd_of_another_group_gets_no_annotation(group: str) -> None:
    assert "annotations" not in convert_v1beta1_crd(_v1beta1_crd(group))["metadata"]


def test_an_existing_approval_is_kept(tmp_path: Path) -> None:
    approved = {"api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/1111", "a": "b"}
    bundle = load(write_bundle(tmp_path, make_csv(), {"old.crd.yaml": _v1beta1_crd("x-k8s.io", approved)}))
    assert bundle.crds[0].obj["metadata"]["annotations"] == approved
    assert bundle.notes == []


def test_v1_crds_of_protected_groups_stay_byte_for_byte(tmp_path: Path) -> None:
    """Only converted CRDs get the annotation; a v1 CRD keeps its bytes (and its problem)."""
    text = yamlio.dump(crd("x-k8s.io", "things", "Thing"))
    bundle = load(write_bundle(tmp_path, make_csv(), {"thing.crd.yaml": text}))
    assert bundle.crds[0].raw == text.encode()
    assert "annotations" not in bundle.crds[0].obj["metadata"]


IMAGE_REFERENCES = """\
kind: ImageStream
apiVersion: image.openshift.io/v1
spec:
  tags:
  - name: demo-operator
    from:
      kind: DockerImage
      name: quay.io/openshift/origin-demo-operator:latest
"""


def test_image_references_imagestream_is_dropped_with_a_note(tmp_path: Path) -> None:
    """Class 7 of issue 13: OpenShift ART packaging metadata, not an object OLM creates."""
    bundle = load(write_bundle(tmp_path, make_csv(), {"image-references": IMAGE_REFERENCES}))
    assert [d.kind for d in bundle.others] == []
    assert bundle.notes == ["manifests/image-references: ImageStream dropped: OpenShift build metadata (the "
                            "images of a release for the build tooling), not an object OLM creates"]
    # the bundle now validates and renders
    validate_bundle(bundle, RenderOptions(install_namespace="ns"))
    assert render(bundle, RenderOptions(install_namespace="ns")).notes == bundle.notes


def test_an_imagestream_elsewhere_is_still_refused(tmp_path: Path) -> None:
    bundle = load(write_bundle(tmp_path, make_csv(), {"stream.yaml": IMAGE_REFERENCES}))
    assert [d.kind for d in bundle.others] == ["ImageStream"]
    with pytest.raises(BundleError, match="unsupported resource: Name: , Kind: ImageStream"):
        validate_bundle(bundle, RenderOptions(install_namespace="ns"))


DEPENDENCIES = """\
dependencies:
  - type: olm.package
    value: {packageName: other-operator, version: ">=1.0.0"}
  - type: olm.gvk
    value: {group: cert-manager.io, kind: Certificate, version: v1}
  - type: olm.constraint
    value:
      failureMessage: needs a widget API
      gvk: {group: widgets.example.com, kind: Widget, version: v1}
"""


def test_dependencies_and_requirement_properties_are_kept(tmp_path: Path) -> None:
    """Class 6 of issue 13 (loading): metadata/dependencies.yaml entries, then olm.properties requirements."""
    constraint = ('properties:\n  - type: olm.constraint\n    value: {failureMessage: x, cel: {rule: "true"}}\n'
                  '  - type: olm.maxOpenShiftVersion\n    value: "4.18"\n')
    root = write_bundle(tmp_path, make_csv(), properties=constraint)
    (root / "metadata" / "dependencies.yaml").write_text(DEPENDENCIES)
    bundle = load(root)
    assert bundle.dependencies == [
        {"type": "olm.package", "value": {"packageName": "other-operator", "version": ">=1.0.0"}},
        {"type": "olm.gvk", "value": {"group": "cert-manager.io", "kind": "Certificate", "version": "v1"}},
        {"type": "olm.constraint", "value": {"failureMessage": "needs a widget API",
                                             "gvk": {"group": "widgets.example.com", "kind": "Widget",
                                                     "version": "v1"}}},
        {"type": "olm.constraint", "value": {"cel": {"rule": "true"}, "failureMessage": "x"}},
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("dependencies: {}\n", "expected a mapping with a 'dependencies' list"),
    ("dependencies:\n  - olm.package\n", "dependency 1: expected a mapping with a string 'type'"),
    ("dependencies:\n  - {type: olm.gvk, value: [a]}\n", "dependency 1: expected a mapping"),
    ("dependencies: [\n", "invalid YAML"),
])
def test_malformed_dependencies_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    root = write_bundle(tmp_path, make_csv())
    (root / "metadata" / "dependencies.yaml").write_text(text)
    with pytest.raises(BundleError, match=r"^metadata/dependencies.yaml: ") as info:
        load(root)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_corpus_dependencies() -> None:
    bundle = load(require_shared("corpus", "kuadrant-operator-0.11.1"))
    assert [d["value"]["packageName"] for d in bundle.dependencies] == [
        "authorino-operator", "limitador-operator", "dns-operator"]


def test_a_malformed_olm_properties_annotation_is_no_dependency(tmp_path: Path) -> None:
    """OLM parses the annotation only to merge properties.yaml into it; alone it is left as it is."""
    bundle = load(write_bundle(tmp_path, make_csv(annotations={"olm.properties": "[not json"})))
    assert bundle.dependencies == []
    assert bundle.csv["metadata"]["annotations"]["olm.properties"] == "[not json"
