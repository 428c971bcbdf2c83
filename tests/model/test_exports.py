"""The packages exported lazily (:mod:`extractor.lazy`: the model, the draft, the pipeline): every
exported name is the object its submodule defines, an unknown name is an ``AttributeError``, and
importing a package, or one of its light submodules, loads none of the others."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

PACKAGES = {
    "extractor.model": ("source", "bundle", "render"),
    "extractor.draft": ("release", "chart"),
    "extractor.pipeline": ("build", "update", "drift"),
}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_exported_name_is_its_submodule_object(package: str) -> None:
    module = importlib.import_module(package)
    found = {}
    for name in module.__all__:
        value = getattr(module, name)
        owners = [sub for sub in PACKAGES[package]
                  if getattr(importlib.import_module(f"{package}.{sub}"), name, None) is value]
        assert owners, f"{package}.{name} is defined by none of its submodules"
        found[name] = owners[0]
    assert set(found.values()) == set(PACKAGES[package])  # every submodule exports something
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        module.Nothing  # noqa: B018 - the lookup is the test


@pytest.mark.parametrize(("statement", "loaded", "not_loaded"), [
    ("import extractor.model", [], ["extractor.model.source", "extractor.model.bundle", "extractor.model.render"]),
    ("from extractor.model import BundleSource, DNS_LABEL", ["extractor.model.source"],
     ["extractor.model.bundle", "extractor.model.render"]),
    ("from extractor.draft import ReleaseSpec", ["extractor.draft.release"],
     ["extractor.draft.chart", "extractor.model.bundle", "extractor.model.render"]),
    ("from extractor.draft import ChartDraft", ["extractor.draft.chart", "extractor.draft.release"],
     ["extractor.model.bundle", "extractor.model.render"]),
])
def test_a_name_loads_only_its_submodule(statement: str, loaded: list[str], not_loaded: list[str]) -> None:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                          check=True)
    modules = set(json.loads(proc.stdout))
    assert set(loaded) <= modules
    assert modules.isdisjoint(not_loaded)
