"""Generated projects for the review tests, made with the library the way ``make update-bundle``
makes them: the repository's bundles.yaml with its entries pointed at the sample bundle
directories of ``../shared/bundles`` (a bundles.yaml ``image:`` may name a local bundle directory).

``old_project``: sail 3.2.1, cert-manager-operator v1.15.2, lws 1.0; ``new_project``: sail 3.2.3,
cert-manager-operator v1.16.2, the same lws.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.config import load_config
from extractor.pipeline import generate
from tests.support.project import REPO
from tests.support.tools import require_shared, require_tool
from tests.support.urlserver import url_mirrors

OLD = {"cert-manager-operator": "cert-manager-operator-v1.15.2", "sail-operator": "servicemeshoperator3-v3.2.1",
       "lws-operator": "leader-worker-set-v1.0.0-rendered"}
NEW = {**OLD, "cert-manager-operator": "cert-manager-operator-v1.16.2", "sail-operator": "servicemeshoperator3-v3.2.3"}


def local_bundles_yaml(bundles: dict[str, str]) -> str:
    """The repository's bundles.yaml with each named entry's ``image:``/``version:`` replaced by the
    absolute path of its shared bundle directory."""
    text = (REPO / "bundles.yaml").read_text(encoding="utf-8")
    for name, directory in bundles.items():
        path = require_shared("bundles", directory)
        pattern = re.compile(rf"(- name: {re.escape(name)}\n    image: )\S+\n    version: \S+\n")
        match = pattern.search(text)
        assert match is not None, f"no entry {name} in bundles.yaml"
        text = text[: match.start()] + f"{match.group(1)}{path}\n" + text[match.end():]
    return text


def generate_project(root: Path, bundles: dict[str, str]) -> Path:
    """Write ``root/bundles.yaml`` for ``bundles`` and generate charts + helmfile into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(local_bundles_yaml(bundles), encoding="utf-8")
    work = root.parent / f".work-{root.name}"
    generate(load_config(root / "bundles.yaml"), root, AcquireOptions(work_dir=work, url_mirrors=url_mirrors(),
                                                                       cache_dir=root.parent / ".cache"))
    shutil.rmtree(work, ignore_errors=True)
    return root


@pytest.fixture
def helm() -> Path:
    """The report renders charts with helm (found in the tools cache, like the Makefile does)."""
    return require_tool("helm")


@pytest.fixture(scope="session")
def old_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_project(tmp_path_factory.mktemp("review") / "old", OLD)


@pytest.fixture(scope="session")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_project(tmp_path_factory.mktemp("review") / "new", NEW)
