"""extractor.files.read_bounded: a file past the limit is refused, naming it, without being read
whole; anything but a regular file (a FIFO without a writer, a device, a directory, a link to
one) is refused without waiting or reading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extractor.errors import BundleError, ConfigError
from extractor.files import read_bounded


def test_up_to_the_limit_is_read_past_it_refused(tmp_path: Path) -> None:
    path = tmp_path / "bundles.yaml"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, limit=100) == b"x" * 100
    with pytest.raises(ConfigError, match=rf"^{path}: larger than 99 bytes$"):
        read_bounded(path, limit=99)
    link = tmp_path / "link.yaml"
    link.symlink_to(path)
    assert read_bounded(link, limit=100) == b"x" * 100  # a link to a regular file is followed


@pytest.mark.parametrize("make", [
    lambda p: os.mkfifo(p),  # no writer: opening it the usual way waits forever
    lambda p: p.symlink_to("/dev/zero"),  # never ends
    lambda p: p.mkdir(),
])
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, make: object) -> None:
    path = tmp_path / "manifest.yaml"
    make(path)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=rf"^{path}: not a regular file$"):
        read_bounded(path)
    with pytest.raises(BundleError, match=r"^manifests/x.yaml: not a regular file$"):
        read_bounded(path, where="manifests/x.yaml", error=BundleError)


def test_missing_file_is_the_callers_to_word(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing.yaml")
