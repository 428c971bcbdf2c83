"""Presync checks of a release, run before anything is applied (hooks of the generated helmfile).

* ``require-apis``: the custom resource APIs the chart creates objects of (``ReleaseSpec.requires``)
  that neither the chart nor a release it needs (transitively) provides must be served by the
  cluster; otherwise the hook fails naming each missing kind and what to install (cert-manager for
  ``cert-manager.io``). OLM resolves such requirements from its catalogs; a chart cannot, so the
  check turns Helm's "no matches for kind" into a message naming the fix.
* ``crd-stored-versions``: a CRD on the cluster whose ``status.storedVersions`` lists a version the
  new CRD no longer has would be refused by the API server; the hook fails first, naming the CRD,
  the version and the storage migration to run. Follows OLMv0's catalog operator
  (``safeStorageVersionUpgrade``: "risk of data loss updating ...: new CRD removes version ... that
  is listed as a stored version on the existing CRD") and OLMv1's CRD upgrade-safety preflight.

Values reach the scripts (:mod:`extractor.draft.hookscripts`) as positional arguments only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from extractor.draft import Hook, ReleaseSpec
from extractor.draft.hookscripts import REQUIRE_APIS, STORED_VERSIONS
from extractor.errors import EmitError

__all__ = ["REQUIRE_HOOK", "STORED_VERSIONS_HOOK", "check_hooks", "install_hint", "needs_closure", "unmet_requirements"]

REQUIRE_HOOK = "require-apis"
STORED_VERSIONS_HOOK = "crd-stored-versions"

_GROUP_VERSION = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]+$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_TOKEN = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9._]*$")

#: what to install for the API groups a chart commonly needs
_HINTS = {
    "cert-manager.io": "cert-manager (the cert-manager Operator or upstream cert-manager; an entry of bundles.yaml "
                       "that ships its CRDs is installed first automatically)",
    "monitoring.coreos.com": "the Prometheus Operator CRDs (monitoring.coreos.com)",
    "autoscaling.k8s.io": "the Vertical Pod Autoscaler CRDs (autoscaling.k8s.io)",
}


def install_hint(group_version: str) -> str:
    """What to install so that the cluster serves ``group_version``."""
    group = group_version.partition("/")[0]
    return _HINTS.get(group, f"the CRDs of {group} (or exclude those objects in bundles.yaml)")


def needs_closure(name: str, needs: Mapping[str, Sequence[str]]) -> list[str]:
    """The releases ``name`` needs, directly or through others (sorted; unknown names skipped);
    ``needs``: release name -> the names it needs directly."""
    seen: set[str] = set()
    stack = list(needs.get(name, ()))
    while stack:
        need = stack.pop()
        if need in seen or need not in needs:
            continue
        seen.add(need)
        stack.extend(needs[need])
    seen.discard(name)
    return sorted(seen)


def unmet_requirements(spec: ReleaseSpec, by_name: Mapping[str, ReleaseSpec]) -> dict[str, list[str]]:
    """``group/version`` -> sorted kinds of ``spec.requires`` that no release in its needs provides."""
    provided = set(spec.provides)
    for need in needs_closure(spec.name, {n: s.needs for n, s in by_name.items()}):
        provided.update(by_name[need].provides)
    unmet: dict[str, list[str]] = {}
    for api in sorted(set(spec.requires) - provided):
        group_version, _, kind = api.rpartition("/")
        if not _GROUP_VERSION.match(group_version) or not _KIND.match(kind):
            raise EmitError(f"release {spec.name!r}: required API {api!r} is not group/version/Kind")
        unmet.setdefault(group_version, []).append(kind)
    return unmet


def check_hooks(spec: ReleaseSpec, by_name: Mapping[str, ReleaseSpec]) -> list[Hook]:
    """The ``require-apis`` and ``crd-stored-versions`` presync hooks of ``spec`` (each only when it
    has something to check). Raises :class:`EmitError` for malformed API, CRD or version names."""
    hooks: list[Hook] = []
    unmet = unmet_requirements(spec, by_name)
    if unmet:
        args: list[str] = []
        for group_version, kinds in sorted(unmet.items()):
            args += [group_version, " ".join(kinds), install_hint(group_version)]
        hooks.append(Hook(name=REQUIRE_HOOK, events=("presync",), command="bash",
                          args=("-c", REQUIRE_APIS, REQUIRE_HOOK, spec.name, *args)))
    if spec.crd_versions:
        args = []
        for crd, versions in spec.crd_versions:
            if not _TOKEN.match(crd) or not versions or not all(_TOKEN.match(v) for v in versions):
                raise EmitError(f"release {spec.name!r}: CRD {crd!r} versions {list(versions)!r} are malformed")
            args += [crd, " ".join(versions)]
        hooks.append(Hook(name=STORED_VERSIONS_HOOK, events=("presync",), command="bash",
                          args=("-c", STORED_VERSIONS, STORED_VERSIONS_HOOK, spec.name, *args)))
    return hooks
