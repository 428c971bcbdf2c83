"""The blob cache writes an entry only when it does not already hold exactly those bytes: a no-op
``update-bundle`` (every manifest cached, every tag where it was) writes nothing into the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

from extractor.acquire import BlobCache
from extractor.acquire.reference import Reference

DATA = b'{"schemaVersion": 2}'
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
OTHER = "sha256:" + "1" * 64


def _state(path: Path) -> tuple[int, int, bytes]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, path.read_bytes()


def test_an_identical_blob_is_not_rewritten_and_a_damaged_one_is(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    path = cache.put_bytes(DIGEST, DATA)
    before = _state(path)
    assert cache.put_bytes(DIGEST, DATA) == path and _state(path) == before  # same inode, same time
    for damage in (DATA[:-1], DATA + b" ", b""):  # shorter, longer, empty: replaced by the good bytes
        path.write_bytes(damage)
        cache.put_bytes(DIGEST, DATA)
        assert path.read_bytes() == DATA
    assert cache.get(DIGEST) == path
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


def test_a_tag_record_is_written_only_when_the_digest_changes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    ref = Reference.parse("registry.example.com/ns/bundle:v1")
    cache.record_tag(ref, DIGEST)
    path = cache.tag_path(ref)
    before = _state(path)
    cache.record_tag(ref, DIGEST)
    assert _state(path) == before and cache.tag_digest(ref) == DIGEST
    cache.record_tag(ref, OTHER)  # the tag moved
    assert cache.tag_digest(ref) == OTHER and path.read_text(encoding="ascii") == OTHER + "\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["v1"]
