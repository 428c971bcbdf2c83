"""load_bundle: OLMv1 rukpak/bundle/source semantics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.bundle.loader import convert_v1beta1_crd, load_bundle
from extractor.errors import BundleError
from extractor.model import BundleSource
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
