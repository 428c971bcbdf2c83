"""The corpus run of tests/test_corpus.py: every bundle of ``../shared/corpus`` and
``../shared/bundles`` as an entry of one bundles.yaml (local directory sources), generated through
the real pipeline, then checked chart by chart with the real programs.

Per chart (:func:`check_chart`): ``helm lint --strict`` with helm 3 and helm 4; ``helm template``
validated against the Kubernetes 1.32 schemas (custom resources against the project's CRDs; those
without one are counted as unchecked); ``helm template --namespace other`` leaves nothing in the
install namespace (:func:`namespace_leftovers`).

Per release, on an API server of its chunk (:func:`apply_chunk`): ``helmfile sync`` of that release
(presync hooks included), every CRD of its ``presync/`` Established, every object of its
``helm template`` present, then ``helmfile apply --detailed-exitcode`` reporting no change.
Releases of one chunk share an API server and go in bundles.yaml order; bundles that cannot share a
cluster (two versions of one operator: same cluster-scoped names, same suggested namespace) are in
different chunks (:data:`CHUNKS`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.bundle import kinds
from tests.support.kube import KubeCluster, start_kube
from tests.support.kubeschema import BUILTIN_GROUPS, validate_objects
from tests.support.tools import SHARED, require_tool

__all__ = [
    "CHUNKS",
    "EXPECTED",
    "EXPECTED_REFUSED",
    "K8S_VERSION",
    "ApplyResult",
    "ChartResult",
    "CorpusBundle",
    "apply_chunk",
    "check_chart",
    "corpus_bundles",
    "namespace_leftovers",
    "write_bundles_yaml",
]

K8S_VERSION = "1.32"
SUGGESTED_NAMESPACE = "operatorframework.io/suggested-namespace"

#: every bundle directory, with what is expected of it: all generate, lint, validate, install and
#: re-apply as a no-op; the remarks say what each exercises (the failure classes of issue 13 it hit)
EXPECTED: dict[str, str] = {
    "ack-acm-controller-1.8.1": "all four install modes",
    "alloydb-omni-operator-1.8.0": "25 webhooks; olm.gvk dependencies on cert-manager (met by needs)",
    "authorino-operator-0.16.0": "AllNamespaces; a dependency of kuadrant",
    "azure-service-operator-1.0.59040": "conversion webhook: CRDs bound to the install namespace",
    "cass-operator-community-1.23.2": "webhook, all four install modes",
    "codeflare-operator-1.16.0": "webhooks; ships a Secret (warning)",
    "external-secrets-operator-0.11.0": "all four install modes, large CRDs",
    "infinispan-2.5.14": "webhooks, all four install modes",
    "jaeger-1.65.0": "webhooks",
    "keda-2.7.1": "AllNamespaces, suggested namespace",
    "kepler-operator-0.24.0": "conversion webhook; a ServiceMonitor (guarded: the test cluster has no Prometheus)",
    "kuadrant-operator-0.11.1": "olm.package dependencies: limitador met, authorino out of range, dns-operator missing",
    "kubernaut-operator-1.5.12": "Own+Single without AllNamespaces: OwnNamespace by default (failed before)",
    "limitador-operator-0.11.0": "a dependency of kuadrant",
    "marin3r-0.13.1": "two deployments, webhooks",
    "ndb-operator-1.10.0": "Own+Single+All, two deployments",
    "nexus-operator-3.5.0": "OwnNamespace only",
    "node-healthcheck-operator-0.12.0": "suggested namespace template annotation",
    "opendatahub-operator-3.5.0": "13 webhooks including conversion",
    "patterns-operator-0.0.80": "Own+All, two deployments",
    "strimzi-kafka-operator-1.2.0": "all four install modes, ConfigMaps",
    "tempo-operator-0.22.0": "webhooks",
    "vault-config-operator-0.8.52": "86 webhooks; a ServiceMonitor serverName naming its own Service (follows it)",
    "verticadb-operator-26.2.1-0": "conversion webhooks, pre-release style version",
    "cert-manager-operator-v1.15.2": "provides cert-manager.io: the charts with webhooks need it",
    "cert-manager-operator-v1.16.2": "second version (own chunk)",
    "leader-worker-set-v1.0.0": "image placeholders left as in the repository",
    "leader-worker-set-v1.0.0-rendered": "OwnNamespace only",
    "sailoperator-v1.27.3": "upstream Sail (own chunk: shares cluster-scoped names with OSSM)",
    "servicemeshoperator3-v3.2.1": "OSSM 3.2.1",
    "servicemeshoperator3-v3.2.3": "OSSM 3.2.3 (own chunk)",
}

#: bundles refused on purpose, entry name -> the reason, which lies in the bundle. None today: every
#: bundle of the corpus generates (issue 13 fixed the classes that did not).
EXPECTED_REFUSED: dict[str, str] = {}

#: chunk of the entries of ../shared/bundles (one API server each). cert-manager-operator goes first
#: in the two big chunks (the webhook charts need its cert-manager.io CRDs); the second version of
#: an operator goes to another chunk than the first (same cluster-scoped names, e.g. the
#: ``metrics-reader`` ClusterRole of all three Sail bundles; same suggested namespace).
CHUNKS: dict[str, int] = {
    "cert-manager-operator-v1.15.2": 0,
    "servicemeshoperator3-v3.2.1": 0,
    "leader-worker-set-v1.0.0-rendered": 0,
    "cert-manager-operator-v1.16.2": 1,
    "servicemeshoperator3-v3.2.3": 1,
    "leader-worker-set-v1.0.0": 1,
    "sailoperator-v1.27.3": 2,
}


@dataclass(frozen=True)
class CorpusBundle:
    """One entry: ``name`` (chart and release), the bundle ``directory``, the install
    ``namespace`` (the CSV's suggested namespace, else the entry name) and its API server chunk."""

    name: str
    directory: Path
    namespace: str
    chunk: int


def _csv(directory: Path) -> dict[str, Any]:
    for path in sorted((directory / "manifests").iterdir()):
        for doc in yamlio.load_all(path.read_bytes()):
            if isinstance(doc, dict) and doc.get("kind") == "ClusterServiceVersion":
                return doc
    raise AssertionError(f"{directory}: no ClusterServiceVersion")


def corpus_bundles() -> list[CorpusBundle]:
    """Every bundle directory of ``../shared/corpus`` (alternating between chunks 0 and 1) and of
    ``../shared/bundles`` (:data:`CHUNKS`), corpus first, each in name order."""
    found: list[CorpusBundle] = []
    for source in ("corpus", "bundles"):
        directories = sorted(p for p in (SHARED / source).iterdir() if (p / "manifests").is_dir())
        for index, directory in enumerate(directories):
            name = re.sub(r"[^a-z0-9]+", "-", directory.name.lower()).strip("-")[:53].strip("-")
            annotations = _csv(directory).get("metadata", {}).get("annotations") or {}
            namespace = str(annotations.get(SUGGESTED_NAMESPACE) or name)
            chunk = index % 2 if source == "corpus" else CHUNKS[directory.name]
            found.append(CorpusBundle(name, directory, namespace, chunk))
    # the cert-manager providers first in their chunks (bundles.yaml order is install order here)
    return sorted(found, key=lambda b: (not b.name.startswith("cert-manager-operator"),
                                        b.directory.parent.name != "corpus"))


def write_bundles_yaml(path: Path, bundles: list[CorpusBundle]) -> None:
    """A bundles.yaml with one local-directory entry per bundle."""
    entries = [{"name": b.name, "image": str(b.directory), "namespace": b.namespace} for b in bundles]
    path.write_text(yamlio.dump({"bundles": entries}))


# --- chart checks ---------------------------------------------------------------------------------


@dataclass
class ChartResult:
    """What the chart-level checks found; each list is empty when its check passed."""

    name: str
    lint: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # custom resources without a known CRD
    leftovers: list[str] = field(default_factory=list)
    objects: int = 0
    manifest: str = ""  # helm template in the install namespace

    @property
    def valid(self) -> bool:
        return not self.invalid and not self.leftovers


def _run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False)


def _crds_by_group(root: Path) -> dict[str, list[Path]]:
    """Presync CRD files of every chart of the project, by API group (from the file name)."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(root.glob("charts/*/presync/*/*.yaml")):
        groups.setdefault(path.stem.partition(".")[2], []).append(path)
    return groups


def _custom_groups(docs: list[dict[str, Any]]) -> set[str]:
    return {str(d.get("apiVersion", "")).rpartition("/")[0] for d in docs} - BUILTIN_GROUPS


_NAMESPACE_FLAG = re.compile(r"^--?[A-Za-z0-9_.-]*namespace[A-Za-z0-9_.-]*=(.*)$", re.IGNORECASE)


def namespace_leftovers(docs: list[dict[str, Any]], namespace: str) -> list[str]:
    """Where objects rendered for another release namespace still name ``namespace``: a
    ``namespace`` field anywhere, an annotation value of a key mentioning a namespace or
    ``inject-ca-from``, a namespace-named env var or ``--*namespace*=`` argument, and any
    ``.<namespace>.svc`` DNS name."""
    found: list[str] = []
    dns = f".{namespace}.svc"

    def visit(node: Any, path: str, label: str) -> None:
        if isinstance(node, dict):
            env_name = str(node.get("name", "")) if "value" in node else ""
            for key, value in node.items():
                here = f"{path}.{key}"
                if isinstance(value, str):
                    named = key == "namespace" or (path.endswith(".annotations") and "namespace" in str(key).lower())
                    env = key == "value" and "NAMESPACE" in env_name.upper()
                    inject = str(key).startswith("cert-manager.io/inject-ca-from")
                    if ((named or env) and value == namespace) or (inject and value.startswith(namespace + "/")):
                        found.append(f"{label}: {here} = {value!r}")
                    elif dns in value:
                        found.append(f"{label}: {here} holds {dns}")
                else:
                    visit(value, here, label)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    flag = _NAMESPACE_FLAG.match(item)
                    if (flag and namespace in flag.group(1).split(",")) or dns in item:
                        found.append(f"{label}: {path}[{index}] = {item!r}")
                else:
                    visit(item, f"{path}[{index}]", label)

    for doc in docs:
        meta = doc.get("metadata") or {}
        label = f"{doc.get('kind')}/{meta.get('name')}"
        visit(doc, "", label)
    return found


def check_chart(root: Path, bundle: CorpusBundle) -> ChartResult:
    """The chart-level checks of one generated chart (see the module docstring)."""
    chart = root / "charts" / bundle.name
    result = ChartResult(bundle.name)
    for binary in ("helm", "helm4"):
        proc = _run([str(require_tool(binary)), "lint", "--strict", str(chart)])
        if proc.returncode != 0:
            result.lint.append(f"{binary} lint --strict: {(proc.stdout + proc.stderr).strip()[-600:]}")
    helm = str(require_tool("helm"))
    proc = _run([helm, "template", bundle.name, str(chart), "--namespace", bundle.namespace])
    if proc.returncode != 0:
        result.invalid.append(f"helm template: {proc.stderr.strip()[-600:]}")
        return result
    result.manifest = proc.stdout
    docs = [d for d in yamlio.load_all(proc.stdout) if isinstance(d, dict)]
    result.objects = len(docs)
    by_group = _crds_by_group(root)
    crds = [yamlio.load(p.read_bytes()) for group in sorted(_custom_groups(docs)) for p in by_group.get(group, [])]
    report = validate_objects(docs, K8S_VERSION, crds)
    result.invalid += report.errors
    result.unchecked += report.skipped
    other = _run([helm, "template", bundle.name, str(chart), "--namespace", "other"])
    if other.returncode != 0:
        result.invalid.append(f"helm template --namespace other: {other.stderr.strip()[-600:]}")
        return result
    moved = [d for d in yamlio.load_all(other.stdout) if isinstance(d, dict)]
    result.leftovers += namespace_leftovers(moved, bundle.namespace)
    for doc in moved:  # namespaced objects: in the release namespace (or one named on purpose)
        meta = doc.get("metadata") or {}
        if kinds.namespaced(str(doc.get("kind"))) and meta.get("namespace") is None:
            result.leftovers.append(f"{doc.get('kind')}/{meta.get('name')}: no metadata.namespace")
    return result


# --- apply on an API server -----------------------------------------------------------------------


@dataclass
class ApplyResult:
    """One release on the test API server: ``problems`` is empty when sync, CRDs, objects and the
    no-op apply all passed; ``seconds``: the time it took."""

    name: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return "\n".join(line for line in text if line.strip())[-2500:] if text else f"exit {proc.returncode}"


def _release_crds(chart: Path) -> list[str]:
    release = yamlio.load((chart / "release.yaml").read_bytes())
    names = [str(c["name"]) for c in release.get("crdVersions") or []]
    return names or [p.stem for p in sorted(chart.glob("presync/*/*.yaml"))]


def _established(cluster: KubeCluster, names: list[str]) -> list[str]:
    if not names:
        return []
    proc = cluster.kubectl("get", "crd", *names, "-o", "json", check=False)
    if proc.returncode != 0:
        return [f"kubectl get crd: {proc.stderr.strip()[-500:]}"]
    problems = []
    answer = json.loads(proc.stdout)
    for crd in answer.get("items", [answer]):  # one name: the object itself, not a List
        conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
        if conditions.get("Established") != "True":
            problems.append(f"CRD {crd['metadata']['name']} not Established: {conditions}")
    return problems


def _present(cluster: KubeCluster, manifest: str, namespace: str, work: Path) -> list[str]:
    if not manifest.strip():
        return []
    path = work / "rendered.yaml"
    path.write_text(manifest)
    proc = cluster.kubectl("get", "-f", str(path), "-n", namespace, "-o", "name", check=False)
    if proc.returncode != 0:
        return [f"rendered objects missing: {proc.stderr.strip()[-1500:]}"]
    return []


def apply_chunk(root: Path, bundles: list[CorpusBundle], manifests: dict[str, str],
                work: Path, helm_plugins: Path) -> Iterator[ApplyResult]:
    """Start one API server and sync, check and re-apply each of ``bundles`` in turn on it
    (``manifests``: each release's ``helm template`` output). Yields one result per bundle."""
    kubectl = require_tool("kubectl")
    tools = [require_tool("helm"), require_tool("helmfile")]
    work.mkdir(parents=True, exist_ok=True)
    with start_kube(work) as cluster:
        env = {
            "PATH": os.pathsep.join([str(kubectl.parent), str(tools[0].parent),
                                     os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(work),
            "KUBECONFIG": str(cluster.kubeconfig),
            "KUBECACHEDIR": str(cluster.root / "kube-cache"),
            "HELM_PLUGINS": str(helm_plugins),
            "HELMFILE_UPGRADE_NOTICE_DISABLED": "1",
        }
        base = [str(tools[1]), "--helm-binary", str(tools[0]), "--file", str(root / "helmfile.yaml.gotmpl")]
        for bundle in bundles:
            started = time.monotonic()
            result = ApplyResult(bundle.name)
            selector = ["--selector", f"name={bundle.name}"]
            sync = _run([*base, *selector, "sync", "--skip-deps", "--sync-args", "--wait=false"], env=env, cwd=root)
            if sync.returncode != 0:
                result.problems.append(f"helmfile sync:\n{_tail(sync)}")
            else:
                result.problems += _established(cluster, _release_crds(root / "charts" / bundle.name))
                with tempfile.TemporaryDirectory(dir=work) as tmp:
                    result.problems += _present(cluster, manifests.get(bundle.name, ""), bundle.namespace, Path(tmp))
                again = _run([*base, *selector, "apply", "--skip-deps", "--detailed-exitcode", "--sync-args",
                              "--wait=false"], env=env, cwd=root)
                if again.returncode != 0:
                    result.problems.append(f"second helmfile apply exited {again.returncode} (2 = changes):\n"
                                           f"{_tail(again)}")
            result.seconds = time.monotonic() - started
            yield result
