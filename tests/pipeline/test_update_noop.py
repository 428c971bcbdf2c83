"""update-bundle with nothing (or little) to do, against the real loopback registry: tags are
resolved to digests and compared with the lock before anything is pulled; only what changed is
pulled and built; the helmfile is re-rendered only when its inputs or the file changed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.acquire.reference import Mirror
from extractor.acquire.wire import Interceptor, Request, Response, Send
from extractor.config import load_config
from extractor.demo.push import push_bundle_image
from extractor.errors import EntriesError
from extractor.pipeline import update, update_bundle, verify
from extractor.review.lock import LOCK_NAME, read_lock, render_lock
from tests.conftest import REPO
from tests.support.registry import CountingTransport, TestRegistry, TokenServer
from tests.support.tools import require_shared
from tests.support.urlserver import url_mirrors

FIXTURE = REPO / "tests/fixtures/bundles/webhook-demo"
CSV = "manifests/demo.clusterserviceversion.yaml"


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every project file's bytes and modification time (ns): "untouched" means not rewritten."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_project(root: Path, entries: list[dict[str, object]], extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": entries}) + extra)
    return root


def opts(tmp_path: Path, transport: Interceptor | None = None) -> AcquireOptions:
    return AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work", transport=transport,
                          url_mirrors=url_mirrors())


def referencegrants() -> dict[str, str]:
    """An ``extraManifests`` URL item (Gateway API ReferenceGrant CRD, served on loopback)."""
    data = (require_shared("extra-crds", "gateway-api-v1.4.0", "standard")
            / "gateway.networking.k8s.io_referencegrants.yaml").read_bytes()
    return {"url": "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.4.0/config/crd/standard/"
                   "gateway.networking.k8s.io_referencegrants.yaml", "sha256": hashlib.sha256(data).hexdigest()}


def api(repository: str) -> str:
    """``/v2/<path>`` of ``host/path`` (request paths of the distribution API)."""
    return "/v2/" + repository.split("/", 1)[1]


def rebuilt_fixture(tmp_path: Path, marker: str) -> Path:
    """The fixture bundle with other content (a same-tag rebuild), same CSV version."""
    rebuilt = tmp_path / f"rebuilt-{marker}"
    shutil.copytree(FIXTURE, rebuilt)
    csv = rebuilt / CSV
    csv.write_text(csv.read_text().replace("capabilities: template wins", f"capabilities: {marker}"))
    return rebuilt


@pytest.fixture
def two_images(registry: TestRegistry, request: pytest.FixtureRequest) -> tuple[str, str]:
    """Two repositories (unique to the test) holding the fixture bundle at tag v1."""
    prefix = f"{registry.host}/noop-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]}"
    first, second = f"{prefix}/first", f"{prefix}/second"
    push_bundle_image(FIXTURE, f"{first}:v1")
    push_bundle_image(FIXTURE, f"{second}:v1")
    return first, second


@pytest.fixture(params=[False, True], ids=["one-by-one", "side-by-side"])
def side_by_side(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether tags are resolved in threads. Only registries of other machines are; the test
    registry is on loopback, so for ``True`` its entries are taken for remote ones."""
    if request.param:
        monkeypatch.setattr(update, "_remote", lambda entry, options: True)
    return bool(request.param)


def test_a_no_op_update_pulls_no_blob_and_a_moved_tag_is_rebuilt(
    two_images: tuple[str, str], registry: TestRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    side_by_side: bool,
) -> None:
    monkeypatch.setenv("BUNDLE_EXTRACT_JOBS", "1")  # every request in this process: counted
    first, second = two_images
    root = write_project(tmp_path / "project", [
        {"name": "first", "image": first, "version": "v1", "namespace": "first"},
        {"name": "second", "image": second, "version": "v1", "namespace": "second",
         "extraManifests": [referencegrants()]},
    ])
    update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    locked = read_lock(root / LOCK_NAME)
    before = snapshot(root)
    shutil.rmtree(tmp_path / "cache" / "blobs")  # a pull would fetch every manifest, layer and URL again
    work = sorted((tmp_path / "work").iterdir()) if (tmp_path / "work").is_dir() else []

    tag_records = snapshot(tmp_path / "cache" / "tags")
    root_mtime = root.stat().st_mtime_ns
    transport = CountingTransport()
    update_bundle(root / "bundles.yaml", root, opts(tmp_path, transport))
    # no staging directory made (making and removing one changes the directory's mtime)
    assert root.stat().st_mtime_ns == root_mtime
    assert snapshot(tmp_path / "cache" / "tags") == tag_records != {}  # same digests: not rewritten
    # one manifest request per tag, nothing else: no blob, no manifest by digest, no URL, nothing unpacked
    assert sorted(transport.requests) == [("GET", f"{api(name)}/manifests/v1") for name in (first, second)]
    assert transport.blob_gets() == []
    assert (sorted((tmp_path / "work").iterdir()) if (tmp_path / "work").is_dir() else []) == work
    assert snapshot(root) == before  # not a byte rewritten, not even the lock

    # the first tag moves to a rebuild: noticed, pulled (its layer only) and rebuilt; the other kept
    moved = push_bundle_image(rebuilt_fixture(tmp_path, "moved"), f"{first}:v1")
    transport = CountingTransport()
    update_bundle(root / "bundles.yaml", root, opts(tmp_path, transport))
    after = read_lock(root / LOCK_NAME)
    assert after.entries["first"].digest == moved != locked.entries["first"].digest
    assert after.entries["first"].revision == 2 and after.entries["second"] == locked.entries["second"]
    blob_repos = {path.split("/blobs/")[0] for path in transport.blob_gets()}
    assert blob_repos == {api(first)}  # the moved image only, by the resolved digest
    assert not any("/manifests/sha256:" in path for _, path in transport.requests)  # cached by the resolution
    changed = {p for p, v in snapshot(root).items() if before.get(p) != v}
    assert changed and all(p.startswith("charts/first/") or p in (LOCK_NAME, "helmfile.yaml.gotmpl")
                           or p.startswith("charts/first-crds/") for p in changed)
    assert (root / "charts/first/Chart.yaml").read_text().count("version: 1.0.0-rev.2") == 1


def test_an_old_lock_without_a_helmfile_record_renders_once(
    two_images: tuple[str, str], tmp_path: Path,
) -> None:
    first, _second = two_images
    root = write_project(tmp_path / "project", [{"name": "first", "image": first, "version": "v1",
                                                 "namespace": "first"}])
    update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    lock = read_lock(root / LOCK_NAME)
    helmfile = root / "helmfile.yaml.gotmpl"
    rendered = helmfile.read_bytes()
    assert lock.helmfile is not None and "\nhelmfile:\n  inputs: sha256:" in (root / LOCK_NAME).read_text()

    # a lock written before the record existed: read, verified as it is, completed by the next update
    old = render_lock(lock.with_helmfile(None), ["first"])
    (root / LOCK_NAME).write_text(old)
    assert read_lock(root / LOCK_NAME).helmfile is None
    assert verify(root / "bundles.yaml", root, opts(tmp_path)) == []  # verify does not add it
    update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    assert read_lock(root / LOCK_NAME) == lock and helmfile.read_bytes() == rendered

    # a hand-edited helmfile is rendered again although its inputs did not change
    helmfile.write_text(rendered.decode() + "# edited\n")
    update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    assert helmfile.read_bytes() == rendered and read_lock(root / LOCK_NAME) == lock

    # bundles.yaml data the helmfile depends on (environments) changes: rendered again, record follows
    write_project(root, [{"name": "first", "image": first, "version": "v1", "namespace": "first"}],
                  extra="environments:\n  prod: {kubeContext: prod-ctx}\n")
    update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    after = read_lock(root / LOCK_NAME)
    assert "prod-ctx" in helmfile.read_text() and after.helmfile is not None and lock.helmfile is not None
    assert after.helmfile.inputs != lock.helmfile.inputs and after.entries == lock.entries
    assert verify(root / "bundles.yaml", root, opts(tmp_path)) == []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_failing_entry_is_reported_in_entry_order(
    two_images: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str, side_by_side: bool,
) -> None:
    """A tag that does not resolve (the parent), patches that do not apply (builds: in the fork pool
    with two cores), and a good entry: one error per failing entry, in bundles.yaml order, the same
    with and without the pool; nothing written."""
    monkeypatch.setenv("BUNDLE_EXTRACT_JOBS", jobs)
    first, second = two_images
    bad_patch = [{"target": {"kind": "Deployment", "name": "no-such-deployment"},
                  "patch": [{"op": "remove", "path": "/spec"}]}]
    root = write_project(tmp_path / "project", [
        {"name": "a", "image": first, "version": "v1", "namespace": "a", "patches": bad_patch},
        {"name": "b", "image": first, "version": "no-such-tag", "namespace": "b"},
        {"name": "c", "image": second, "version": "v1", "namespace": "c"},
        {"name": "d", "image": second, "version": "v1", "namespace": "d", "patches": bad_patch},
    ])
    with pytest.raises(EntriesError) as info:
        update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    assert [name for name, _ in info.value.errors] == ["a", "b", "d"]
    lines = str(info.value).splitlines()
    assert lines[0] == "3 bundles failed:" and len(lines) == 4
    assert "no-such-deployment" in lines[1] and "no-such-tag" in lines[2] and "no-such-deployment" in lines[3]
    assert sorted(p.name for p in root.iterdir()) == ["bundles.yaml"]


class TagRequests:
    """An interceptor recording whether each tag's manifest request came from the main thread;
    with ``together``, each such request also waits (5 s at most) until the other one arrived."""

    def __init__(self, together: bool) -> None:
        self.barrier = threading.Barrier(2, timeout=5) if together else None
        self.in_main_thread: list[bool] = []
        self.broken = False

    def __call__(self, request: Request, send: Send) -> Response:
        if request.path.endswith("/manifests/v1"):
            self.in_main_thread.append(threading.current_thread() is threading.main_thread())
            if self.barrier is not None:
                try:
                    self.barrier.wait()
                except threading.BrokenBarrierError:  # the other request never came while this one waited
                    self.broken = True
        return send(request)


def test_tags_of_remote_registries_are_resolved_side_by_side(
    two_images: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = two_images
    root = write_project(tmp_path / "project", [
        {"name": "first", "image": first, "version": "v1", "namespace": "first"},
        {"name": "second", "image": second, "version": "v1", "namespace": "second"},
    ])
    update_bundle(root / "bundles.yaml", root, opts(tmp_path))
    before = snapshot(root)
    # a registry on this machine: one tag after the other, in this thread
    local = TagRequests(together=False)
    update_bundle(root / "bundles.yaml", root, opts(tmp_path, local))
    assert local.in_main_thread == [True, True]
    # registries of other machines: both requests in flight at once (one after the other, the
    # first would wait for the second in vain), from other threads; the result is the same
    monkeypatch.setattr(update, "_remote", lambda entry, options: True)
    remote = TagRequests(together=True)
    update_bundle(root / "bundles.yaml", root, opts(tmp_path, remote))
    assert remote.in_main_thread == [False, False] and not remote.broken
    assert snapshot(root) == before


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_pull_reuses_the_token_its_tag_resolution_got(
    token_registry: tuple[TestRegistry, TokenServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str,
    side_by_side: bool,
) -> None:
    """One token per repository and run: the pull (in this process after resolving the tags in
    threads, or in a forked build worker) reuses the token its tag's resolution got."""
    monkeypatch.setenv("BUNDLE_EXTRACT_JOBS", jobs)
    registry, tokens = token_registry
    options = AcquireOptions(username=registry.username, password=registry.password)
    prefix = f"{registry.host}/tokens-{jobs}-{'threads' if side_by_side else 'serial'}"
    for name in ("first", "second"):
        push_bundle_image(FIXTURE, f"{prefix}/{name}:v1", options)
    root = write_project(tmp_path / "project", [
        {"name": name, "image": f"{prefix}/{name}", "version": "v1", "namespace": name} for name in ("first", "second")
    ])
    before = tokens.requests
    update_bundle(root / "bundles.yaml", root,
                  dataclasses.replace(options, cache_dir=tmp_path / "cache", work_dir=tmp_path / "work"))
    assert sorted(read_lock(root / LOCK_NAME).entries) == ["first", "second"]
    assert tokens.requests - before == 2


def test_which_registries_count_as_remote(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", [
        {"name": "quay", "image": "quay.io/ns/bundle", "version": "v1", "namespace": "a"},
        {"name": "redhat", "image": "registry.redhat.io/ns/bundle", "version": "v1", "namespace": "a"},
        {"name": "loopback", "image": "127.0.0.1:5000/ns/bundle", "version": "v1", "namespace": "a"},
        {"name": "localhost", "image": "localhost:5000/ns/bundle", "version": "v1", "namespace": "a"},
    ])
    entries = {entry.name: entry for entry in load_config(root / "bundles.yaml").bundles}
    plain = AcquireOptions()
    assert [update._remote(entry, plain) for entry in entries.values()] == [True, True, False, False]
    # mirrored to this machine: what is asked is the mirror
    mirrored = AcquireOptions(mirrors=(Mirror.parse("registry.redhat.io=127.0.0.1:5000"),))
    assert not update._remote(entries["redhat"], mirrored) and update._remote(entries["quay"], mirrored)


@pytest.mark.parametrize("caller_froze", [False, True])
def test_the_build_workers_start_with_jinja2_loaded_and_the_parent_heap_frozen(
    two_images: tuple[str, str], tmp_path: Path, caller_froze: bool,
) -> None:
    """In the fork pool (two entries, two jobs; a fresh interpreter) each worker starts with the
    helmfile module (Jinja2) already loaded, which its chart writer and the parent's helmfile both
    use, and with the parent's objects frozen out of its collections; the parent is unfrozen
    afterwards, unless the caller had frozen objects itself (that freeze is kept)."""
    first, second = two_images
    root = write_project(tmp_path / "project", [
        {"name": "first", "image": first, "version": "v1", "namespace": "first"},
        {"name": "second", "image": second, "version": "v1", "namespace": "second"},
    ])
    script = (
        "import gc, json, sys\nfrom pathlib import Path\nfrom extractor.acquire import AcquireOptions\n"
        "from extractor.pipeline import update\n"
        "assert 'jinja2' not in sys.modules and gc.get_freeze_count() == 0\n"
        f"{'gc.freeze()' if caller_froze else 'pass'}\n"
        "build = update._process_entry\n"
        "def recording(job, plan, pullers=None):\n"
        "    state = f'{plan.entry.name}: jinja2 {\"jinja2\" in sys.modules}, frozen {gc.get_freeze_count() > 0}'\n"
        "    outcome = build(job, plan, pullers)\n"
        "    outcome.notes.append(state)\n"
        "    return outcome\n"
        "update._process_entry = recording\n"
        f"root = Path({str(root)!r})\n"
        f"options = AcquireOptions(cache_dir=Path({str(tmp_path / 'cache')!r}))\n"
        "result = update.update_bundle(root / 'bundles.yaml', root, options)\n"
        "print(json.dumps([[n for n in result.notes if ': jinja2' in n], gc.get_freeze_count() > 0]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO, env={**os.environ, "BUNDLE_EXTRACT_JOBS": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == [
        ["first: jinja2 True, frozen True", "second: jinja2 True, frozen True"], caller_froze]


def test_a_no_op_update_imports_no_chart_helmfile_or_build_code(two_images: tuple[str, str], tmp_path: Path) -> None:
    """What a no-op run loads (read from ``sys.modules`` of a real run in a fresh interpreter)."""
    first, second = two_images
    root = write_project(tmp_path / "project", [
        {"name": "first", "image": first, "version": "v1", "namespace": "first"},
        {"name": "second", "image": second, "version": "v1", "namespace": "second"},
    ])
    script = (
        "import sys\nat_start = set(sys.modules)\n"  # the interpreter's and site's: not the run's
        "import json\nfrom pathlib import Path\nfrom extractor.acquire import AcquireOptions\n"
        "from extractor.pipeline import update_bundle\n"
        f"root = Path({str(root)!r})\n"
        f"update_bundle(root / 'bundles.yaml', root, AcquireOptions(cache_dir=Path({str(tmp_path / 'cache')!r})))\n"
        "print(json.dumps(sorted(set(sys.modules) - at_start)))\n"
    )

    def loaded() -> set[str]:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              check=False, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return set(json.loads(proc.stdout.splitlines()[-1]))

    forbidden = ("jinja2", "ruamel", "postprocess", "multiprocessing", "concurrent.futures", "jq",
                 "extractor.emit.chart", "extractor.emit.helmfile", "extractor.pipeline.build",
                 "extractor.render.filters", "extractor.bundle.loader", "extractor.acquire.layers",
                 # the draft model and the loaded-bundle and render shapes; no staging or work
                 # directory (tempfile, shutil), no retry (random)
                 "extractor.draft.chart", "extractor.model.bundle", "extractor.model.render",
                 "tempfile", "shutil", "random")
    cold = loaded()  # generates everything: the check can fail
    assert {"jinja2", "extractor.emit.helmfile", "extractor.pipeline.build", "extractor.draft.chart",
            "extractor.model.render"} <= cold
    noop = loaded()
    assert sorted(m for m in noop if any(m == f or m.startswith(f + ".") for f in forbidden)) == []
