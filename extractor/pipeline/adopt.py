"""``bundle-extract adopt``: hand objects of the old rhaii-on-xks charts over to a generated release.

The old charts (their helmfiles) created some objects outside Helm (``kubectl apply`` in presync
and postsync hooks: the lws ``lws-controller-manager`` ServiceAccount, the
``LeaderWorkerSetOperator`` ``cluster``, the sail ``istiod`` ServiceAccount), and a release may be
installed under another name than before. Helm refuses to install an object that exists without
its ownership metadata ("exists and cannot be imported into the current release: invalid ownership
metadata"). Adoption, an explicit step:

1. the objects the new release owns: ``helm template`` of ``charts/<release>`` (helm from
   ``BUNDLE_EXTRACT_HELM``, the tools directory or ``PATH``) with the user's values files, the
   cluster's API versions, and the pull Secret switched on;
2. each one is read from the cluster (``kubectl``); one that exists and has no Helm owner, or is
   owned by the old release (``meta.helm.sh/release-name`` = ``from_release`` in the same
   namespace), is adopted: label ``app.kubernetes.io/managed-by=Helm``, annotations
   ``meta.helm.sh/release-name``/``meta.helm.sh/release-namespace`` of the new release;
3. an object owned by any other Helm release is refused: nothing is changed at all (every object
   is checked before any is patched), the error names each such object and its owner;
4. the patch carries the ``resourceVersion`` that was read, so an object changed in between is
   not adopted (the API server answers Conflict);
5. objects the old release (``helm get manifest``) or the old helmfile hooks created that the new
   release does not own are reported as left-overs, for the user to delete or keep.

Nothing is printed here; the CLI prints the result. Every kubectl and helm call has a timeout and
its output a size limit.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.config import load_config
from extractor.errors import AdoptionRefusedError, ConfigError, ToolError
from extractor.pipeline.update import CHARTS_DIR
from extractor.tools import run_tool

__all__ = [
    "HELM_MANAGED_BY",
    "OLD_HOOK_OBJECTS",
    "RELEASE_NAME",
    "RELEASE_NAMESPACE",
    "AdoptOptions",
    "AdoptResult",
    "Adoption",
    "AdoptionRefusedError",
    "LeftOver",
    "ObjectRef",
    "adopt",
]

MANAGED_BY = "app.kubernetes.io/managed-by"
HELM_MANAGED_BY = "Helm"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
#: user values files of a release, relative to the project, in the generated helmfile's order
USER_VALUES = ("values/{release}.yaml", "values/{release}.{environment}.yaml")
#: the largest helm/kubectl output read (a rendered chart, a release manifest, a list of objects)
MAX_OUTPUT = 64 * 1024 * 1024
#: a placeholder turning on each chart's pull Secret (``pullSecret.dockerConfigJson``) when
#: rendering: at deploy time the helmfile fills it whenever the user has an auth file
_PULL_SECRET_ON = 'pullSecret:\n  dockerConfigJson: "{\\"auths\\": {}}"\n'


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One Kubernetes object: ``namespace`` is ``""`` for cluster-scoped kinds. Two references are
    the same object when kind, API group, namespace and name match (the version does not count)."""

    kind: str
    namespace: str
    name: str
    api_version: str = field(compare=False)
    group: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", self.api_version.rpartition("/")[0])

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


#: objects the old rhaii-on-xks helmfiles (reference-charts, rhaii-on-xks 8f3386a) created outside
#: Helm, by old release name: sail's presync ``kubectl apply -f manifests-presync/`` (the istiod
#: ServiceAccount, annotated for the operator's own ``default-istiod`` release, pulling with
#: ``redhat-pull-secret``), lws's presync (the ``lws-controller-manager`` ServiceAccount) and postsync
#: heredoc (the ``LeaderWorkerSetOperator``). Namespaces are left out: the new helmfile keeps them.
OLD_HOOK_OBJECTS: Mapping[str, tuple[ObjectRef, ...]] = {
    "sail-operator": (ObjectRef("ServiceAccount", "istio-system", "istiod", "v1"),),
    "lws-operator": (
        ObjectRef("ServiceAccount", "openshift-lws-operator", "lws-controller-manager", "v1"),
        ObjectRef("LeaderWorkerSetOperator", "", "cluster", "operator.openshift.io/v1"),
    ),
}


@dataclass(frozen=True)
class Adoption:
    """An object adopted (or, in a dry run, to adopt); ``owner``: its Helm release before
    (``"none"`` or ``"release NAME in NAMESPACE"``)."""

    ref: ObjectRef
    owner: str


@dataclass(frozen=True)
class LeftOver:
    """An object the old chart created that the new release does not own. ``source``: ``"release
    OLD"`` or ``"old helmfile hook"``; ``fate``: what happens to it at the next sync."""

    ref: ObjectRef
    source: str
    fate: str


@dataclass(frozen=True)
class AdoptResult:
    """What :func:`adopt` found and did (``adopted`` is empty-handed in a dry run: nothing patched)."""

    release: str
    namespace: str
    from_release: str
    dry_run: bool
    adopted: tuple[Adoption, ...]
    owned: tuple[ObjectRef, ...]  # already the new release's
    absent: tuple[ObjectRef, ...]  # Helm creates them
    left_over: tuple[LeftOver, ...]


@dataclass(frozen=True)
class AdoptOptions:
    """Inputs of :func:`adopt`.

    ``config``: bundles.yaml; ``root``: the directory holding ``charts/`` (default: the config's);
    ``namespace``: the release namespace (default: the entry's); ``from_release``: the old release
    name in that namespace (default: ``release``); ``environment``: the helmfile environment (its
    ``kubeContext`` from bundles.yaml unless ``kube_context`` is given, and its user values file);
    ``values``: extra values files, after the user's ``values/<release>.yaml`` and
    ``values/<release>.<environment>.yaml`` (read when they exist, as the helmfile does);
    ``timeout``: seconds per kubectl/helm call.
    """

    release: str
    config: Path = Path("bundles.yaml")
    root: Path | None = None
    namespace: str | None = None
    from_release: str | None = None
    kube_context: str | None = None
    environment: str = "default"
    values: tuple[Path, ...] = ()
    dry_run: bool = False
    timeout: float = 60.0


class _Cluster:
    """kubectl and helm against one kubeconfig context, each call bounded in time and output."""

    def __init__(self, context: str | None, timeout: float) -> None:
        self.context = context
        self.timeout = timeout
        self._resources: dict[str, dict[str, tuple[str, bool]]] = {}

    def kubectl(self, *args: str) -> str:
        extra = ("--context", self.context) if self.context else ()
        return _bounded(run_tool("kubectl", [*extra, *args], timeout=self.timeout).stdout, "kubectl", args)

    def helm(self, *args: str) -> str:
        extra = ("--kube-context", self.context) if self.context else ()
        return _bounded(run_tool("helm", [*args, *extra], timeout=self.timeout).stdout, "helm", args)

    def kubectl_json(self, *args: str) -> Any:
        """``kubectl`` output parsed as JSON; :class:`ToolError` (one line) when it is not JSON."""
        text = self.kubectl(*args)
        try:
            return json.loads(text)
        except ValueError:
            raise ToolError(f"kubectl {' '.join(args[:2])}: output is not JSON") from None

    def api_versions(self) -> list[str]:
        return sorted(line.strip() for line in self.kubectl("api-versions").splitlines() if line.strip())

    def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(``resource.version.group``, namespaced) of a kind, from discovery; ``None`` when the
        cluster does not serve it."""
        if api_version not in self._resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = self.kubectl_json("get", "--raw", path)
            except ToolError as error:
                if "NotFound" in str(error) or "could not find the requested resource" in str(error):
                    listing = {}
                else:
                    raise
            group, _, version = api_version.rpartition("/")
            self._resources[api_version] = {  # core kinds by plain name: "configmaps.v1" would be a group
                r["kind"]: (f"{r['name']}.{version}.{group}" if group else r["name"], bool(r.get("namespaced")))
                for r in (listing.get("resources") if isinstance(listing, dict) else None) or []
                if isinstance(r, dict) and "/" not in r.get("name", "/")
            }
        return self._resources[api_version].get(kind)

    def metadata(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The live object's metadata, ``None`` when it or its kind does not exist."""
        found = self.resource(ref.api_version, ref.kind)
        if found is None:
            return None
        resource, namespaced = found
        scope = ("-n", ref.namespace) if namespaced else ()
        text = self.kubectl("get", resource, ref.name, *scope, "--ignore-not-found", "-o", "jsonpath={.metadata}")
        if not text.strip():
            return None
        try:
            meta = json.loads(text)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            raise ToolError(f"kubectl get {resource} {ref.name}: metadata is not a JSON object")
        return meta

    def label_as_owned(self, ref: ObjectRef, resource_version: str, release: str, namespace: str) -> None:
        found = self.resource(ref.api_version, ref.kind)
        assert found is not None  # only live objects are adopted
        resource, namespaced = found
        scope = ("-n", ref.namespace) if namespaced else ()
        patch = {"metadata": {
            "resourceVersion": resource_version,
            "labels": {MANAGED_BY: HELM_MANAGED_BY},
            "annotations": {RELEASE_NAME: release, RELEASE_NAMESPACE: namespace},
        }}
        self.kubectl("patch", resource, ref.name, *scope, "--type=merge", "-p", json.dumps(patch, sort_keys=True))


def _bounded(text: str, tool: str, args: Sequence[str]) -> str:
    if len(text) > MAX_OUTPUT:
        raise ToolError(f"{tool} {' '.join(args[:2])}: output over {MAX_OUTPUT // (1024 * 1024)} MiB")
    return text


def _refs(text: str, namespace: str, cluster: _Cluster, *, skip_hooks: bool) -> set[ObjectRef]:
    """The objects of a YAML stream (a rendered chart, a release manifest), their namespace
    normalised by the cluster's discovery: the release namespace for namespaced kinds without one,
    ``""`` for cluster-scoped kinds (the old sail chart set one on its cluster-scoped Istio)."""
    found: set[ObjectRef] = set()
    for doc in yamlio.load_all(text):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = doc.get("metadata") or {}
        if skip_hooks and "helm.sh/hook" in (meta.get("annotations") or {}):
            continue  # hooks are not part of the release: Helm never checks their ownership
        api_version, kind, name = str(doc.get("apiVersion", "")), str(doc["kind"]), str(meta.get("name", ""))
        scope = cluster.resource(api_version, kind)
        namespaced = scope[1] if scope else bool(meta.get("namespace"))
        found.add(ObjectRef(kind, str(meta.get("namespace") or namespace) if namespaced else "", name, api_version))
    return found


def _owner(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    annotations = meta.get("annotations") or {}
    name = annotations.get(RELEASE_NAME)
    return (str(name), str(annotations.get(RELEASE_NAMESPACE, ""))) if name else None


def _new_objects(options: AdoptOptions, root: Path, namespace: str, cluster: _Cluster) -> set[ObjectRef]:
    chart = root / CHARTS_DIR / options.release
    if not (chart / "Chart.yaml").is_file():
        raise ConfigError(f"{chart}: no generated chart for release {options.release!r}; run 'make update-bundle'")
    values = [root / v.format(release=options.release, environment=options.environment) for v in USER_VALUES]
    files = [p for p in values if p.is_file()] + list(options.values)
    for path in options.values:
        if not path.is_file():
            raise ConfigError(f"{path}: values file not found")
    with tempfile.TemporaryDirectory(prefix="bundle-extract-adopt-") as tmp:
        pull = Path(tmp) / "pull-secret.yaml"
        pull.write_text(_PULL_SECRET_ON)
        args = ["template", options.release, str(chart), "--namespace", namespace, "-f", str(pull)]
        for path in files:
            args += ["-f", str(path)]
        for version in cluster.api_versions():
            args += ["--api-versions", version]
        text = _bounded(run_tool("helm", args, timeout=options.timeout).stdout, "helm", args)
    return _refs(text, namespace, cluster, skip_hooks=True)


def _old_manifest(cluster: _Cluster, release: str, namespace: str, explicit: bool) -> str:
    try:
        return cluster.helm("get", "manifest", release, "--namespace", namespace)
    except ToolError as error:
        if "not found" not in str(error):
            raise
        if explicit:
            raise ConfigError(f"--from-release {release}: no Helm release {release!r} in namespace {namespace}"
                              ) from None
        return ""  # no release of that name yet: nothing left over from it


def adopt(options: AdoptOptions) -> AdoptResult:
    """Adopt into release ``options.release`` the existing objects it would own (see the module
    docstring); return what was adopted, already owned, absent, and left over from the old chart.

    Raises :class:`AdoptionRefusedError` (nothing changed) when an object belongs to another Helm
    release, :class:`ConfigError` for an unknown entry, a missing chart or values file, or an
    unknown ``--from-release``, :class:`ToolError` when kubectl or helm fails or is missing.
    """
    config = load_config(options.config)
    entry = config.entry(options.release)
    root = options.root or options.config.resolve().parent
    namespace = options.namespace or entry.namespace
    old = options.from_release or options.release
    if options.environment not in config.environments:
        known = ", ".join(sorted(config.environments))
        raise ConfigError(f"{options.config}: no environment {options.environment!r} (known: {known})")
    cluster = _Cluster(options.kube_context or config.environments[options.environment], options.timeout)

    new = _new_objects(options, root, namespace, cluster)
    adopt_list: list[tuple[Adoption, str]] = []
    owned: list[ObjectRef] = []
    absent: list[ObjectRef] = []
    refused: list[str] = []
    for ref in sorted(new):
        meta = cluster.metadata(ref)
        if meta is None:
            absent.append(ref)
            continue
        owner = _owner(meta)
        labelled = (meta.get("labels") or {}).get(MANAGED_BY) == HELM_MANAGED_BY
        if owner == (options.release, namespace) and labelled:
            owned.append(ref)
        elif owner is None or owner in ((options.release, namespace), (old, namespace)):
            text = "none" if owner is None else f"release {owner[0]} in {owner[1]}"
            adopt_list.append((Adoption(ref, text), str(meta.get("resourceVersion", ""))))
        else:
            refused.append(f"{ref} belongs to Helm release {owner[0]} in namespace {owner[1] or '?'}")
    if refused:
        raise AdoptionRefusedError(
            f"release {options.release}: nothing adopted, {len(refused)} object(s) owned by another release "
            f"(neither {options.release} nor {old}): " + "; ".join(refused))

    left_over = _left_over(cluster, old, namespace, new, same=old == options.release)
    if not options.dry_run:
        for adoption, version in adopt_list:
            cluster.label_as_owned(adoption.ref, version, options.release, namespace)
    return AdoptResult(
        release=options.release, namespace=namespace, from_release=old, dry_run=options.dry_run,
        adopted=tuple(a for a, _ in adopt_list), owned=tuple(owned), absent=tuple(absent),
        left_over=left_over,
    )


def _left_over(cluster: _Cluster, old: str, namespace: str, new: Iterable[ObjectRef], *,
               same: bool) -> tuple[LeftOver, ...]:
    keep = set(new)
    found: dict[ObjectRef, LeftOver] = {}
    manifest = _old_manifest(cluster, old, namespace, explicit=not same)
    fate = ("deleted by Helm at the next sync (no longer in the release)" if same
            else f"still in release {old}: do not 'helm uninstall {old}', it would delete adopted objects too")
    for ref in sorted(_refs(manifest, namespace, cluster, skip_hooks=True) - keep):
        found[ref] = LeftOver(ref, f"release {old}", fate)
    for ref in OLD_HOOK_OBJECTS.get(old, ()):
        if ref not in keep and ref not in found and cluster.metadata(ref) is not None:
            found[ref] = LeftOver(ref, "old helmfile hook", "left in the cluster (no Helm release owns it)")
    return tuple(found[r] for r in sorted(found))
