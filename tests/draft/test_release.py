"""ReleaseSpec.from_file: ``charts/<name>/release.yaml`` is a file of the project (a pull request
can change it), read only when it is a regular file of bounded size, with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extractor.draft import ReleaseSpec
from extractor.errors import ConfigError
from extractor.files import MAX_PROJECT_FILE_BYTES


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "file not found"),
    (lambda p: p.write_text("name: [x\n"), "invalid YAML: "),
    (lambda p: os.mkfifo(p), "not a regular file"),  # a plain open would wait for a writer forever
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
    (lambda p: p.write_bytes(b"#" * (MAX_PROJECT_FILE_BYTES + 1)), f"larger than {MAX_PROJECT_FILE_BYTES} bytes"),
])
def test_a_release_file_that_cannot_be_read_is_a_one_line_error(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "release.yaml"
    make(path)  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        ReleaseSpec.from_file(path)
    assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)
