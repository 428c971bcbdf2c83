"""The staging directory of ``update-bundle`` is made on first use only (a no-op run creates no
directory in the project) and removed on exit; an output root that cannot hold it is one error."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.emit.swap import Staging
from extractor.errors import EmitError


def test_nothing_is_made_until_the_path_is_used(tmp_path: Path) -> None:
    root = tmp_path / "out"
    with Staging(root):
        pass
    assert not root.exists()  # not even the output root
    with Staging(root) as staging:
        made = staging.path
        assert staging.path == made and made.parent == root and made.name.startswith(".bundle-extract-")
        (made / "charts/demo").mkdir(parents=True)
        (made / "charts/demo/Chart.yaml").write_text("name: demo\n")
    assert root.is_dir() and list(root.iterdir()) == []  # removed with its content


def test_the_directory_is_removed_when_the_body_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), Staging(tmp_path) as staging:
        (staging.path / "partial").write_text("x")
        raise RuntimeError("failed while building")
    assert list(tmp_path.iterdir()) == []


def test_a_root_that_cannot_hold_it_is_one_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    root = tmp_path / "a-file" / "out"
    with Staging(root) as staging, pytest.raises(EmitError) as info:
        staging.path  # noqa: B018 - making it is the test
    assert str(info.value) == f"{root}: cannot write the output here: Not a directory"
