"""extractor.files.read_bounded: a project file past the limit is refused, naming it, without
being read whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.errors import ConfigError
from extractor.files import MAX_PROJECT_FILE_BYTES, read_bounded


def test_up_to_the_limit_is_read_past_it_refused(tmp_path: Path) -> None:
    path = tmp_path / "bundles.yaml"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, limit=100) == b"x" * 100
    with pytest.raises(ConfigError, match=rf"^{path}: larger than 99 bytes$"):
        read_bounded(path, limit=99)


def test_a_device_that_never_ends_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"/dev/zero: larger than {MAX_PROJECT_FILE_BYTES} bytes"):
        read_bounded(Path("/dev/zero"))


def test_missing_file_is_the_callers_to_word(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing.yaml")
