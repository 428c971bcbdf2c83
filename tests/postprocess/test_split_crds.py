"""``split-crds``: CRDs out of the templates, byte-for-byte, plus a checksum ConfigMap."""

from __future__ import annotations

import hashlib

import pytest

from extractor import yamlio
from extractor.errors import PostProcessError
from postprocess import split_crds
from tests.support.drafts import rendered_draft
from tests.support.tools import require_shared


def test_sail_crds_are_the_bundle_bytes() -> None:
    draft = rendered_draft("sail-operator")
    out = split_crds.run(draft, {})
    assert not any(o["kind"] == "CustomResourceDefinition" for o in out.objects)
    assert len(out.crds) == 19
    manifests = require_shared("bundles", "servicemeshoperator3-v3.2.1", "manifests")
    by_bytes = {p.read_bytes() for p in manifests.glob("*.yaml")}
    for crd in out.crds:
        assert crd.group == "bundle" and crd.condition is None
        assert crd.filename == f"{crd.name}.yaml"
        assert crd.data in by_bytes, crd.name
    assert max(len(c.data) for c in out.crds) > 500_000


def test_checksum_configmap_covers_every_crd() -> None:
    out = split_crds.run(rendered_draft("cert-manager-operator"), {})
    [configmap] = [o for o in out.objects if o["kind"] == "ConfigMap"]
    assert configmap["metadata"]["name"] == "cert-manager-operator-crd-checksums"
    assert configmap["metadata"]["namespace"] == "cert-manager-operator"
    assert configmap["data"] == {c.name: "sha256:" + hashlib.sha256(c.data).hexdigest() for c in out.crds}
    assert list(configmap["data"]) == sorted(configmap["data"])


def test_changed_crd_is_dumped_and_changes_the_checksum() -> None:
    draft = rendered_draft("lws-operator")
    name = next(o["metadata"]["name"] for o in draft.objects if o["kind"] == "CustomResourceDefinition")
    before = split_crds.run(draft, {})
    draft.raw_crds.pop(name)  # what render does when it changed the CRD
    for obj in draft.objects:
        if obj["kind"] == "CustomResourceDefinition":
            obj["metadata"].setdefault("labels", {})["changed"] = "yes"
    after = split_crds.run(draft, {})
    assert yamlio.load(after.crds[0].data)["metadata"]["labels"]["changed"] == "yes"
    checksum = next(o for o in after.objects if o["kind"] == "ConfigMap")["data"][name]
    assert checksum != next(o for o in before.objects if o["kind"] == "ConfigMap")["data"][name]


def test_no_crds_no_configmap() -> None:
    draft = rendered_draft("lws-operator")
    draft.objects = [o for o in draft.objects if o["kind"] != "CustomResourceDefinition"]
    out = split_crds.run(draft, {})
    assert out.crds == [] and not any(o["kind"] == "ConfigMap" for o in out.objects)


def test_duplicate_crd_is_an_error() -> None:
    draft = rendered_draft("lws-operator")
    crd = next(o for o in draft.objects if o["kind"] == "CustomResourceDefinition")
    draft.objects.append(crd)
    with pytest.raises(PostProcessError, match="appears twice"):
        split_crds.run(draft, {})
