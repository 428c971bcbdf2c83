"""bundles.yaml ``patches:`` and ``extraManifests:`` through the real pipeline
(:func:`extractor.pipeline.generate`, ``verify``) on the small webhook-demo bundle: patched objects,
extra objects placed like bundle content (CRDs byte-for-byte in presync/ with their checksum,
other objects following the release namespace), errors that name the entry and the patch or
manifest with nothing written, and the lock noticing a changed patch or extra file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.config import load_config
from extractor.errors import EntriesError, ExtractorError
from extractor.pipeline import generate, verify
from extractor.review.lock import read_lock
from tests.conftest import REPO
from tests.support.project import docs, helm, tree
from tests.support.tools import require_shared
from tests.support.urlserver import url_mirrors

BUNDLE = REPO / "tests/fixtures/bundles/webhook-demo"
DEPLOYMENT = "webhook-demo-controller-manager"
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.extra.example.com
  annotations: {note: "kept {{ byte-for-byte }}"}   # a comment, and odd spacing
spec:
  group: extra.example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: extra-settings, namespace: somewhere-else}
data: {greeting: "{{ not a template }}"}
"""


def write_project(root: Path, **fields: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    entry = {"name": "demo", "image": str(BUNDLE), "namespace": "demo-system", **fields}
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [entry]}))
    return root / "bundles.yaml"


def run(root: Path, tmp_path: Path, **options: Any) -> Any:
    return generate(load_config(root / "bundles.yaml"), root,
                    AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work", **options))


def rendered(root: Path) -> list[dict[str, Any]]:
    return docs(helm("helm", "template", "rel", str(root / "charts/demo"), "--namespace", "moved").stdout)


PATCH = [{"target": {"kind": "Deployment", "name": DEPLOYMENT},
          "patch": [{"op": "test", "path": "/spec/replicas", "value": 1},
                    {"op": "replace", "path": "/spec/replicas", "value": 2},
                    {"op": "add", "path": "/metadata/labels/patched", "value": "{{ yes }}"}]}]


def test_patches_change_the_rendered_object(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_project(root, patches=PATCH)
    run(root, tmp_path)
    [deployment] = [o for o in rendered(root) if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["patched"] == "{{ yes }}"  # bytes from bundles.yaml stay data


def test_patching_a_crd_writes_it_as_patched(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_project(root, patches=[{"target": {"kind": "CustomResourceDefinition", "name": "widgets.demo.example.com"},
                                  "patch": [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]}])
    run(root, tmp_path)
    [path] = (root / "charts/demo/presync").glob("*/widgets.demo.example.com.yaml")
    assert yamlio.load(path.read_bytes())["metadata"]["labels"] == {"x": "y"}


@pytest.mark.parametrize(("patch", "message"), [
    ({"target": {"kind": "Deployment", "name": "nope"}, "patch": [{"op": "remove", "path": "/spec"}]},
     "patches[0] (Deployment/nope): no rendered object matches the target"),
    ({"target": {"kind": "ClusterRole", "name": "x"}, "patch": [{"op": "remove", "path": "/rules"}]},
     "patches[0] (ClusterRole/x): no rendered object"),
    ({"target": {"kind": "Deployment", "name": DEPLOYMENT}, "patch": [{"op": "test", "path": "/spec/replicas",
                                                                      "value": 3}]},
     f"patches[0] (Deployment/{DEPLOYMENT}): patch[0] test failed at '/spec/replicas'"),
    ({"target": {"kind": "Deployment", "name": DEPLOYMENT}, "patch": [{"op": "remove", "path": "/spec/nothing"}]},
     f"patches[0] (Deployment/{DEPLOYMENT}): patch[0]: can't remove"),
])
def test_a_patch_that_does_not_apply_stops_generation(tmp_path: Path, patch: dict[str, Any], message: str) -> None:
    root = tmp_path / "p"
    write_project(root, patches=[patch])
    before = tree(root)
    with pytest.raises(EntriesError) as info:
        run(root, tmp_path)
    assert "bundle 'demo'" in str(info.value) and message in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert tree(root) == before  # nothing written


def test_ambiguous_target_and_apiversion_narrowing(tmp_path: Path) -> None:
    root = tmp_path / "p"
    other = (f"apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {{name: {DEPLOYMENT}}}\n"
             "spec: {replicas: 1}\n")
    patch = {"target": {"kind": "Deployment", "name": DEPLOYMENT},
             "patch": [{"op": "replace", "path": "/spec/replicas", "value": 4}]}
    # a Deployment is no bundle kind OLM accepts (they come from the CSV): allowKinds lets it in
    write_project(root, patches=[patch], extraManifests=[{"path": "other.yaml"}], render={"allowKinds": ["Deployment"]})
    (root / "other.yaml").write_text(other)
    with pytest.raises(EntriesError, match=rf"patches\[0\] \(Deployment/{DEPLOYMENT}\): the target matches 2 objects"):
        run(root, tmp_path)
    narrowed = {**patch, "target": {**patch["target"], "apiVersion": "apps/v1", "namespace": "demo-system"}}
    write_project(root, patches=[narrowed], extraManifests=[{"path": "other.yaml"}],
                  render={"allowKinds": ["Deployment"]})
    run(root, tmp_path)
    replicas = {o["apiVersion"]: o["spec"]["replicas"] for o in rendered(root) if o["kind"] == "Deployment"}
    assert replicas == {"apps/v1": 4, "extensions/v1beta1": 1}


def test_extra_manifests_from_files_and_directories(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_project(root, extraManifests=[{"path": "extra/crds"}, {"path": "extra/settings.yaml"}])
    (root / "extra/crds").mkdir(parents=True)
    (root / "extra/crds/gadgets.yaml").write_text(CRD)
    (root / "extra/crds/.hidden.yaml").write_text("not: [yaml")  # hidden files are skipped
    (root / "extra/crds/README.md").write_text("# not a manifest")
    (root / "extra/settings.yaml").write_text(CONFIGMAP)
    run(root, tmp_path)
    chart = root / "charts/demo"
    [crd_file] = chart.glob("presync/*/gadgets.extra.example.com.yaml")
    assert crd_file.read_text() == CRD  # byte-for-byte, like bundle CRDs
    objects = rendered(root)
    [checksums] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("crd-checksums")]
    assert checksums["data"]["gadgets.extra.example.com"] == "sha256:" + hashlib.sha256(CRD.encode()).hexdigest()
    [settings] = [o for o in objects if o["metadata"]["name"] == "extra-settings"]
    assert settings["metadata"]["namespace"] == "moved"  # follows the release namespace
    assert settings["data"]["greeting"] == "{{ not a template }}"
    release = yamlio.load((chart / "release.yaml").read_bytes())
    assert "gadgets.extra.example.com" in str(release)  # the presync hook applies and waits for it


@pytest.mark.parametrize(("setup", "item", "message"), [
    (lambda r: None, {"path": "missing.yaml"}, "extraManifests[0]: path 'missing.yaml': file not found"),
    (lambda r: (r / "d").mkdir(), {"path": "d"}, "the directory holds no"),
    (lambda r: (r / "bad.yaml").write_text("a: [1"), {"path": "bad.yaml"},
     "extraManifests[0] (bad.yaml): document 1: invalid YAML"),
    (lambda r: (r / "deep.yaml").write_text("a: " + "[" * 300 + "]" * 300), {"path": "deep.yaml"},
     "nesting deeper than"),
    (lambda r: (r / "odd.yaml").write_text("apiVersion: example.com/v1\nkind: Oddity\nmetadata: {name: o}\n"),
     {"path": "odd.yaml"}, "Oddity 'o': kind not supported"),
    (lambda r: (r / "list.yaml").write_text("- 1\n"), {"path": "list.yaml"}, "expected a Kubernetes object"),
    (lambda r: (r / "empty.yaml").write_text("# nothing\n"), {"path": "empty.yaml"}, "holds no Kubernetes object"),
    (lambda r: (r / "dup.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: webhook-demo-sa}\n"), {"path": "dup.yaml"},
     "ServiceAccount 'webhook-demo-sa' is already in the chart"),
    (lambda r: (r / "two.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: b}\n"), {"path": "two.yaml"},
     "ConfigMap 'c' is already in the chart"),
    (lambda r: (r.parent / "outside").mkdir() or (r / "link").symlink_to(r.parent / "outside"), {"path": "link"},
     "leads outside the directory of bundles.yaml"),
    (lambda r: __import__("os").mkfifo(r / "fifo.yaml"), {"path": "fifo.yaml"}, "not a regular file"),
    (lambda r: None, {"path": "."}, "names the directory of bundles.yaml itself"),
])
def test_bad_extra_manifests(tmp_path: Path, setup: Any, item: dict[str, str], message: str) -> None:
    root = tmp_path / "p"
    write_project(root, extraManifests=[item])
    setup(root)
    before = {p: b for p, b in tree(root).items()}
    with pytest.raises(EntriesError) as info:
        run(root, tmp_path)
    text = str(info.value)
    assert text.startswith("bundle 'demo': ") and message in text, text
    assert len(text.splitlines()) == 1
    assert tree(root) == before


def test_lock_and_verify_notice_changed_patches_and_extra_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    config = write_project(root, extraManifests=[{"path": "settings.yaml"}], patches=PATCH)
    (root / "settings.yaml").write_text(CONFIGMAP)
    run(root, tmp_path)
    first = read_lock(root / "bundles.lock.yaml").entries["demo"]
    opts = AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work")
    assert verify(config, root, opts) == []
    # an extra file edited in place: verify sees the drift, regeneration a new revision and inputs
    (root / "settings.yaml").write_text(CONFIGMAP.replace("not a template", "changed"))
    assert any("extra-settings" in line or "configmap" in line.lower() for line in verify(config, root, opts))
    run(root, tmp_path)
    second = read_lock(root / "bundles.lock.yaml").entries["demo"]
    assert second.inputs != first.inputs and second.revision == first.revision + 1
    # a changed patch
    write_project(root, extraManifests=[{"path": "settings.yaml"}],
                  patches=[{**PATCH[0], "patch": [{"op": "replace", "path": "/spec/replicas", "value": 3}]}])
    run(root, tmp_path)
    third = read_lock(root / "bundles.lock.yaml").entries["demo"]
    assert third.inputs != second.inputs and third.revision == second.revision + 1
    # nothing changed: the entry is not rebuilt, the lock stays
    lock_text = (root / "bundles.lock.yaml").read_text()
    run(root, tmp_path)
    assert (root / "bundles.lock.yaml").read_text() == lock_text


def test_url_manifests_verified_cached_and_offline(tmp_path: Path) -> None:
    crds = require_shared("extra-crds", "gateway-api-v1.4.0", "standard")
    data = (crds / "gateway.networking.k8s.io_referencegrants.yaml").read_bytes()
    url = ("https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.4.0/config/crd/standard/"
           "gateway.networking.k8s.io_referencegrants.yaml")
    root = tmp_path / "p"
    write_project(root, extraManifests=[{"url": url, "sha256": hashlib.sha256(data).hexdigest()}])
    run(root, tmp_path, url_mirrors=url_mirrors())
    [path] = (root / "charts/demo/presync").glob("*/referencegrants.gateway.networking.k8s.io.yaml")
    assert path.read_bytes() == data
    # offline, from the digest cache, into a fresh project: the same chart
    other = tmp_path / "q"
    write_project(other, extraManifests=[{"url": url, "sha256": hashlib.sha256(data).hexdigest()}])
    run(other, tmp_path, offline=True)
    assert tree(other / "charts") == tree(root / "charts")
    # a wrong sha256 fails naming the URL and both digests; nothing written
    wrong = tmp_path / "r"
    write_project(wrong, extraManifests=[{"url": url, "sha256": "0" * 64}])
    with pytest.raises(EntriesError) as info:
        run(wrong, tmp_path, url_mirrors=url_mirrors())
    text = str(info.value)
    assert f"bundle 'demo': extraManifests[0]: {url}: content has sha256:{hashlib.sha256(data).hexdigest()}" in text
    assert f"expected sha256:{'0' * 64}" in text
    assert sorted(p.name for p in wrong.iterdir()) == ["bundles.yaml"]


def test_the_inputs_digest_needs_no_fetch_and_equals_the_content_digest(tmp_path: Path) -> None:
    """What the lock comparison of a no-op update uses (URL content stood for by its sha256) is the
    digest of the files a build reads; a changed project file changes it; no URL is fetched."""
    from extractor.pipeline.extras import extra_digest, extra_inputs_digest, read_extra_files

    crds = require_shared("extra-crds", "gateway-api-v1.4.0", "standard")
    data = (crds / "gateway.networking.k8s.io_referencegrants.yaml").read_bytes()
    url = ("https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.4.0/config/crd/standard/"
           "gateway.networking.k8s.io_referencegrants.yaml")
    root = tmp_path / "p"
    (root / "crds").mkdir(parents=True)
    (root / "crds/gadget.yaml").write_text(CRD)
    (root / "settings.yaml").write_text(CONFIGMAP)
    items = [{"path": "crds/"}, {"url": url, "sha256": hashlib.sha256(data).hexdigest()}, {"path": "settings.yaml"}]
    config = write_project(root, extraManifests=items)
    entry = load_config(config).bundles[0]
    offline = AcquireOptions(cache_dir=tmp_path / "cache", offline=True)
    before = extra_inputs_digest(entry)  # offline, nothing cached: no fetch needed
    assert not (tmp_path / "cache").exists()
    files = read_extra_files(entry, AcquireOptions(cache_dir=tmp_path / "cache", url_mirrors=url_mirrors()))
    assert before == extra_digest(files) is not None and [f.origin for f in files] == [
        "crds/gadget.yaml", url, "settings.yaml"]
    assert extra_digest(read_extra_files(entry, offline)) == before
    (root / "settings.yaml").write_text(CONFIGMAP.replace("greeting", "farewell"))
    assert extra_inputs_digest(entry) != before
    assert extra_inputs_digest(load_config(write_project(root)).bundles[0]) is None


def test_urls_are_fetched_side_by_side_and_the_first_bad_item_is_reported(tmp_path: Path) -> None:
    """Three URLs are in flight at once (each answer of this scripted server waits until all three
    requests arrived: a fetch one after the other would fail); with several bad items the error
    names the first one in the list, whether it is a path or a URL. The scripted server (a tiny
    loopback HTTP server) is used for the waiting answers, which no real server gives."""
    import threading
    from http.server import BaseHTTPRequestHandler

    from extractor.pipeline.extras import MAX_FETCHES, read_extra_files
    from tests.support.faults import answer, fault_server

    assert MAX_FETCHES >= 3
    bodies = {f"/{name}.yaml": CONFIGMAP.replace("extra-settings", name).encode() for name in ("a", "b", "c")}
    all_arrived = threading.Barrier(3, timeout=10)

    def together(body: bytes) -> Any:
        def handle(request: BaseHTTPRequestHandler) -> None:
            try:
                all_arrived.wait()
            except threading.BrokenBarrierError:
                answer(503)(request)
                return
            answer(200, body)(request)
        return handle

    with fault_server() as server:
        for path, body in bodies.items():
            server.routes[path] = [together(body)]
        items = [{"url": f"http://{server.host}{path}", "sha256": hashlib.sha256(body).hexdigest()}
                 for path, body in bodies.items()]
        root = tmp_path / "p"
        entry = load_config(write_project(root, extraManifests=items)).bundles[0]
        files = read_extra_files(entry, AcquireOptions(cache_dir=tmp_path / "cache"))
        assert [(f.index, f.data) for f in files] == list(enumerate(bodies.values()))
        assert all(server.hits[path] == 1 for path in bodies)
        # a wrong digest at 1 and 2, a missing file at 3: the error of item 1
        for path in bodies:
            server.routes[path] = [answer(200, bodies[path])]
        bad = [items[0], {**items[1], "sha256": "1" * 64}, {**items[2], "sha256": "2" * 64}, {"path": "missing.yaml"}]
        entry = load_config(write_project(root, extraManifests=bad)).bundles[0]
        with pytest.raises(ExtractorError, match=r"^bundle 'demo': extraManifests\[1\]: http://.*/b\.yaml: content"):
            read_extra_files(entry, AcquireOptions(cache_dir=tmp_path / "other-cache"))
        # a missing file listed before a URL that fails: the file's error
        entry = load_config(write_project(root, extraManifests=[{"path": "missing.yaml"}, bad[1]])).bundles[0]
        with pytest.raises(ExtractorError, match=r"^bundle 'demo': extraManifests\[0\]: path 'missing.yaml'"):
            read_extra_files(entry, AcquireOptions(cache_dir=tmp_path / "other-cache"))


def test_when_the_pull_and_a_url_both_fail_the_pull_error_is_reported(tmp_path: Path) -> None:
    """URLs are fetched while the bundle is pulled; when both fail, the entry's one error is the
    pull's (as when they ran one after the other); nothing is written."""
    from tests.support.faults import answer, fault_server

    root = tmp_path / "p"
    root.mkdir()
    (root / "broken.tar").write_bytes(b"not an archive\n")
    with fault_server() as server:
        server.routes["/x.yaml"] = [answer(404)]
        url = f"http://{server.host}/x.yaml"
        (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [
            {"name": "demo", "image": "./broken.tar", "namespace": "demo-system",
             "extraManifests": [{"url": url, "sha256": "1" * 64}, {"url": url, "sha256": "2" * 64}]}]}))
        with pytest.raises(EntriesError) as info:
            run(root, tmp_path)
        assert server.hits["/x.yaml"] >= 1  # fetched all the same
    expected = f"bundle 'demo': {root / 'broken.tar'}: not a tar archive (expected a docker-archive or OCI archive)"
    assert str(info.value) == expected
    assert sorted(p.name for p in root.iterdir()) == ["broken.tar", "bundles.yaml"]
