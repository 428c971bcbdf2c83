"""``crd-stubs`` (opt-in): minimal CRDs an operator needs on clusters that lack them, created
only when absent.

Example: the lws operator creates ``ServiceMonitor`` objects; on a cluster without the Prometheus
Operator that API does not exist. A presync hook ``crd-stubs`` creates, for each listed CRD that
is **not already on the cluster**, a minimal CRD (every version served, the first one stored, the
whole object ``x-kubernetes-preserve-unknown-fields``), then waits until it is Established. An
existing CRD (the real one from the Prometheus Operator, or OpenShift's) is never touched, so the
hook is safe everywhere; a later install of the real CRD replaces the stub.

Options: a list (or ``{items: [...]}``) of
``{name: servicemonitors.monitoring.coreos.com, kind: ServiceMonitor, scope: Namespaced, versions: [v1]}``.
The CRD manifest is passed to a fixed ``bash -c`` script as a positional argument (never
substituted into the script).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extractor import yamlio
from extractor.draft import ChartDraft, Hook
from extractor.draft.hookscripts import WAIT_ESTABLISHED
from postprocess._common import DNS_LABEL, DNS_SUBDOMAIN, Options, copy_draft

__all__ = ["DOC", "HOOK_NAME", "SCRIPT", "run", "stub_crd"]

DOC = "presync hook creating minimal CRDs the operator needs, only where the cluster lacks them"
HOOK_NAME = "crd-stubs"

SCRIPT = WAIT_ESTABLISHED + """\
set -euo pipefail
while [ "$#" -ge 2 ]; do
  name="$1"
  manifest="$2"
  shift 2
  if kubectl get crd "$name" >/dev/null 2>&1; then
    echo "crd-stubs: $name exists, left as it is"
  else
    printf '%s\\n' "$manifest" | kubectl create -f -
    wait_established 120 "crd/$name"
  fi
done"""


def stub_crd(name: str, kind: str, scope: str, versions: list[str]) -> dict[str, Any]:
    """A minimal ``apiextensions.k8s.io/v1`` CRD named ``<plural>.<group>`` accepting any content."""
    plural, group = name.split(".", 1)
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": name,
            "annotations": {"bundle-extract.io/stub": "minimal CRD created because the cluster had none"},
        },
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "scope": scope,
            "versions": [
                {"name": version, "served": True, "storage": index == 0, "schema": schema}
                for index, version in enumerate(versions)
            ],
        },
    }


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). Raises :class:`ConfigError` for bad options."""
    opts = Options("crd-stubs", options)
    items = opts.mapping_list("items")
    opts.done()
    if not items:
        raise opts.error("list at least one CRD")
    args: list[str] = []
    for index, raw in enumerate(items):
        item = Options("crd-stubs", raw, f"items[{index}]")
        name = item.required_str("name")
        kind = item.required_str("kind")
        scope = item.string("scope", "Namespaced") or "Namespaced"
        versions = item.str_list("versions", ["v1"])
        item.done()
        plural, _, group = name.partition(".")
        if not group or not DNS_LABEL.match(plural) or not DNS_SUBDOMAIN.match(group):
            raise item.error(f"name {name!r} must be <plural>.<group>")
        if scope not in ("Namespaced", "Cluster"):
            raise item.error(f"scope {scope!r} must be Namespaced or Cluster")
        if not kind[:1].isupper() or not kind.isalnum():
            raise item.error(f"kind {kind!r} must be a CamelCase identifier")
        if not versions or not all(DNS_LABEL.match(v) for v in versions):
            raise item.error("versions must list version names such as v1")
        args += [name, yamlio.dump(stub_crd(name, kind, scope, versions))]
    out = copy_draft(draft)
    out.hooks.append(Hook(name=HOOK_NAME, events=("presync",), command="bash", args=("-c", SCRIPT, HOOK_NAME, *args)))
    return out
