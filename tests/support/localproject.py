"""A project generated from the three target bundles' directories in ../shared/bundles (no registry).

For tests of what is done with generated charts (packaging, companion CRD charts, uninstall): the
bundles.yaml below keeps what matters for them from the repository's (cert-manager's operand
namespace and the conditional OpenShift Infrastructure stub group, the operator custom resources,
the needs) and reads the bundles from directories, so generating takes well under a second.
With ``extra_manifests``, the sail entry also has the repository's ``extraManifests`` (the Gateway
API and Inference Extension CRDs, served on loopback by :mod:`tests.support.urlserver`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.tools import require_shared

#: entry name -> directory under ../shared/bundles
BUNDLE_DIRS = {
    "cert-manager-operator": "cert-manager-operator-v1.15.2",
    "sail-operator": "servicemeshoperator3-v3.2.1",
    "lws-operator": "leader-worker-set-v1.0.0-rendered",
}

_ENTRIES = {
    "cert-manager-operator": """\
  - name: cert-manager-operator
    image: {dir}
    namespace: cert-manager-operator
    render: {{rbacNames: readable}}
    postprocessors:
      image-pull-secrets:
        operandServiceAccounts:
          - namespace: cert-manager
            names: [cert-manager, cert-manager-cainjector, cert-manager-webhook]
      openshift-infrastructure-stub: {{}}
      operator-crs:
        - {{kind: CertManager, name: cluster, valuesKey: certManager, fromAlmExample: true}}
""",
    "sail-operator": """\
  - name: sail-operator
    image: {dir}
    namespace: istio-system
    render: {{rbacNames: readable}}
    needs: [cert-manager-operator]
    postprocessors:
      operator-crs:
        - {{kind: Istio, name: default, valuesKey: istio, fromAlmExample: true}}
""",
    "lws-operator": """\
  - name: lws-operator
    image: {dir}
    namespace: openshift-lws-operator
    render: {{rbacNames: readable}}
    needs: [cert-manager-operator]
    postprocessors:
      operator-crs:
        - {{kind: LeaderWorkerSetOperator, name: cluster, valuesKey: lwsOperator, fromAlmExample: true}}
""",
}


def bundles_yaml(names: tuple[str, ...] = tuple(BUNDLE_DIRS), *, extra_manifests: bool = False) -> str:
    """bundles.yaml text for the entries ``names`` (bundle directories from ../shared/bundles);
    ``extra_manifests``: the sail entry gets the repository sail entry's ``extraManifests``."""
    entries = {name: _ENTRIES[name].format(dir=require_shared("bundles", BUNDLE_DIRS[name])) for name in names}
    if extra_manifests and "sail-operator" in entries:
        from extractor.config import load_config
        from tests.conftest import REPO

        urls = load_config(REPO / "bundles.yaml").entry("sail-operator").extra_manifests
        entries["sail-operator"] += "    extraManifests:\n" + "".join(
            f"      - {{url: {m.url}, sha256: {m.sha256}}}\n" for m in urls)
    return "bundles:\n" + "".join(entries[name] for name in names)


def bundle_extract(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                   check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m extractor ARGS``; assert success when ``check``."""
    import os

    proc = subprocess.run([sys.executable, "-m", "extractor", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False, env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, f"bundle-extract {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def local_project(root: Path, names: tuple[str, ...] = tuple(BUNDLE_DIRS), *, extra_manifests: bool = False) -> Path:
    """Generate ``root`` (charts/, helmfile, lock) from the bundle directories of ``names`` (and
    the repository's sail ``extraManifests`` when ``extra_manifests``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(bundles_yaml(names, extra_manifests=extra_manifests))
    env = None
    if extra_manifests:
        from tests.support.urlserver import url_mirror_value

        env = {"BUNDLE_EXTRACT_URL_MIRROR": url_mirror_value(), "BUNDLE_EXTRACT_CACHE_DIR": str(root.parent / "cache")}
    bundle_extract("update-bundle", "--config", str(root / "bundles.yaml"), "--output", str(root), env=env)
    return root
