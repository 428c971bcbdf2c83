"""bundles.lock.yaml's ``helmfile:`` record: written after the entries, read back, optional (older
locks have none), hand edits refused like an entry's."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor import yamlio
from extractor.errors import ConfigError
from extractor.review import lock as lockmod
from extractor.review.lock import HelmfileLock, Lock, LockEntry, helmfile_fingerprint, read_lock, render_lock

ENTRY = LockEntry(name="demo", image="example.com/demo-bundle", version="v1", digest="sha256:" + "a" * 64,
                  csv_name="demo.v1.0.0", csv_version="1.0.0", chart_version="1.0.0-rev.1", revision=1,
                  files="sha256:" + "b" * 64, generator=lockmod.GENERATOR, inputs="sha256:" + "c" * 64)
RECORD = HelmfileLock(inputs="sha256:" + "d" * 64, file="sha256:" + "e" * 64)


def test_the_record_follows_the_entries_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "bundles.lock.yaml"
    old = render_lock(Lock({"demo": ENTRY}), ["demo"])
    assert "helmfile" not in old
    path.write_text(old)
    assert read_lock(path) == Lock({"demo": ENTRY}) and read_lock(path).helmfile is None  # an older lock
    text = render_lock(Lock({"demo": ENTRY}, RECORD), ["demo"])
    assert text.startswith(old) and text[len(old):].startswith("helmfile:\n  inputs: sha256:dddd")
    path.write_text(text)
    assert read_lock(path) == Lock({"demo": ENTRY}, RECORD)
    # the record survives entry updates and selections
    lock = read_lock(path)
    assert lock.replace(ENTRY).helmfile == RECORD and lock.only([]).helmfile == RECORD
    assert lock.with_helmfile(None) == Lock({"demo": ENTRY})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("file: sha256:eeee", "file: sha256:ffff"), "helmfile: edited by hand"),
    (lambda t: t.replace("file: sha256:" + "e" * 64, "file: tree:sha256:" + "e" * 64), "file 'tree:sha256"),
    (lambda t: t.replace("  inputs: sha256:dddd", "  colour: x\n  inputs: sha256:dddd"), "unknown key.s. colour"),
    (lambda t: t.replace("\nhelmfile:\n", "\nhelmfile: [x]\nignored:\n"), "helmfile: expected a mapping"),
])
def test_hand_edited_records_are_refused(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "bundles.lock.yaml"
    assert callable(edit)
    path.write_text(edit(render_lock(Lock({"demo": ENTRY}, RECORD), ["demo"])))
    with pytest.raises(ConfigError, match=message) as info:
        read_lock(path)
    assert str(info.value).startswith(f"{path}: helmfile") and "\n" not in str(info.value)


def test_the_fingerprint_covers_the_generator_and_every_input(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"environments": [["default", None]], "releases": [{"name": "demo", "needs": []}]}
    base = helmfile_fingerprint(data)
    assert base == helmfile_fingerprint(yamlio.load(yamlio.dump(data)))  # a function of the data only
    assert helmfile_fingerprint({**data, "environments": [["default", "ctx"]]}) != base
    assert helmfile_fingerprint({**data, "releases": [{"name": "demo", "needs": ["x"]}]}) != base
    monkeypatch.setattr(lockmod, "GENERATOR", "bundle-extract 99.0.0")
    assert helmfile_fingerprint(data) != base


def test_release_specs_fingerprint_as_their_asdict_form() -> None:
    """Specs go in as dataclasses (no ``asdict`` copy); the digest must be the one ``asdict`` gave,
    or every existing lock's helmfile record would change without a change to the helmfile."""
    import dataclasses

    from extractor.draft import Hook, ImageUse, ReleaseSpec

    spec = ReleaseSpec(
        name="demo", namespace="demo-system", chart_dir="charts/demo", needs=("base",),
        hooks=(Hook("crds", ("presync",), "kubectl", ("apply", "-f", "{{ .Release.Namespace }}")),),
        helmfile_values={"openshift": {"enabled": False}, "path": Path("x")},
        presync_groups=(("bundle", None), ("stub", "!openshift.enabled")),
        dependencies=({"type": "olm.package", "value": {"packageName": "b"}},),
        crd_versions=(("a.example.com", ("v1", "v2")),),
        images=(ImageUse("quay.io/a/b:1", "container", "Deployment/x", "spec.x", "floating"),),
    )
    environments = [["default", None], ["prod", "ctx"]]
    expected = helmfile_fingerprint({"environments": environments, "releases": [dataclasses.asdict(spec)]})
    assert helmfile_fingerprint({"environments": environments, "releases": [spec]}) == expected
    changed = dataclasses.replace(spec, images=(dataclasses.replace(spec.images[0], problem=None),))
    assert helmfile_fingerprint({"environments": environments, "releases": [changed]}) != expected


def _rglob_digest(root: Path, skip: frozenset[str] = frozenset()) -> str:
    """tree_digest as it was written first (pathlib's rglob): the reference the faster walk must equal."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in skip:
            digest.update(rel.encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def test_tree_digest_walks_like_rglob(tmp_path: Path) -> None:
    """Order by path components ("a/b" before "a-b/x", unlike the strings), hidden files, links to
    files followed, links to directories and broken links left out, skip by relative path."""
    root = tmp_path / "tree"
    files = {"a/b": "1", "a-b/x": "2", "a.b": "3", ".hidden/h": "4", "z/y/x/w": "5", "Chart.yaml": "6"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "link-to-file").symlink_to(root / "a.b")
    (root / "link-to-dir").symlink_to(root / "z")
    (root / "broken").symlink_to(root / "missing")
    for skip in (frozenset(), frozenset({"Chart.yaml", "a/b"})):
        assert lockmod.tree_digest(root, skip=skip) == _rglob_digest(root, skip)
    before = lockmod.tree_digest(root)
    (root / "z/y/x/w").write_text("changed")
    assert lockmod.tree_digest(root) != before
