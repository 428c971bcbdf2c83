"""``make demo`` on a clone without ../shared: the tool writes small sample bundles itself, pushes
them to a loopback registry, generates the charts and runs `helmfile template` (real
docker-registry, helm and helmfile)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from extractor import yamlio
from extractor.bundle import load_bundle, validate_bundle
from extractor.config import load_config
from extractor.demo.samples import SAMPLES, write_sample_bundles
from extractor.model import BundleSource, RenderOptions
from tests.conftest import REPO
from tests.support.project import helm
from tests.support.tools import require_tool


def test_samples_are_valid_bundles_for_every_entry(tmp_path: Path) -> None:
    names = [e.name for e in load_config(REPO / "bundles.yaml").bundles]
    assert set(names) <= set(SAMPLES)
    for name, directory in write_sample_bundles(tmp_path, names).items():
        bundle = load_bundle(BundleSource(reference=str(directory), directory=directory))
        validate_bundle(bundle, RenderOptions(install_namespace="demo"))
        assert bundle.package == SAMPLES[name].package and len(bundle.crds) == 1


def test_demo_on_a_clone_without_shared(tmp_path: Path) -> None:
    for tool in ("docker-registry", "helm", "helmfile"):
        require_tool(tool)
    clone = tmp_path / "clone" / "bundle-extract"  # no ../shared beside it
    for part in ("extractor", "postprocess", "bundles.yaml", "pyproject.toml"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, clone / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            clone.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, clone / part)
    assert not (clone.parent / "shared").exists()
    env = {**os.environ, "PYTHONPATH": str(clone), "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "extractor", "demo", "--output", str(tmp_path / "demo")], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "helmfile template:" in proc.stdout
    # the Gateway API CRDs are fetched by URL; without ../shared/extra-crds and network they are left out
    assert "extraManifests: 10 URL(s) left out" in proc.stdout
    demo = tmp_path / "demo"
    assert "extraManifests" not in (demo / "bundles.yaml").read_text()
    assert not list((demo / "charts/sail-operator").rglob("*gateway.networking.k8s.io*"))
    assert (demo / ".samples/sail-operator/manifests").is_dir()  # the samples, not ../shared
    rendered = [d for d in yamlio.load_all((demo / "helmfile-template.yaml").read_text()) if d]
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "Istio", "CertManager", "LeaderWorkerSetOperator", "ValidatingWebhookConfiguration",
            "Certificate"} <= kinds, kinds
    for chart in sorted((demo / "charts").iterdir()):
        helm("helm", "lint", "--strict", str(chart))
