"""``kube-system-auth-reader`` (opt-in, lws): let the operator read the delegated-authentication
ConfigMap in ``kube-system`` (OpenShift grants this; vanilla Kubernetes does not and the
lws operator crashes on start without it).

Adds one RoleBinding in ``kube-system`` to the Role ``extension-apiserver-authentication-reader``
for the operator ServiceAccount(s) (the CSV deployments' ``serviceAccountName``; option
``serviceAccounts: [...]`` overrides), subjects in the install namespace (templatized later).
Its name, ``<release name>-<release namespace>-auth-reader``, is deterministic and unique per
release, since every release's binding lives in the same namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extractor.bundle.csv import deployment_specs
from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import Go, Tpl
from extractor.errors import PostProcessError
from postprocess._common import DNS_SUBDOMAIN, Options, copy_draft, kind_of

__all__ = ["DOC", "FILENAME", "operator_service_accounts", "run"]

DOC = "RoleBinding in kube-system to extension-apiserver-authentication-reader for the operator SA"
FILENAME = "rolebinding-kube-system-auth-reader.yaml"


def operator_service_accounts(draft: ChartDraft) -> list[str]:
    """Sorted ``serviceAccountName``s of the CSV's deployments (falling back to the rendered
    Deployments when the draft carries no CSV); ``default`` when a deployment names none."""
    names: set[str] = set()
    for deployment in deployment_specs(draft.csv):
        pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        names.add(str(pod.get("serviceAccountName") or "default"))
    if not names:
        for obj in draft.objects:
            if kind_of(obj) == "Deployment":
                pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
                names.add(str(pod.get("serviceAccountName") or "default"))
    return sorted(names)


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring).

    Raises :class:`PostProcessError` when no operator ServiceAccount can be found.
    """
    opts = Options("kube-system-auth-reader", options)
    accounts = opts.str_list("serviceAccounts")
    opts.done()
    for name in accounts:
        if not DNS_SUBDOMAIN.match(name):
            raise opts.error(f"ServiceAccount name {name!r} is not a DNS-1123 subdomain")
    accounts = sorted(set(accounts)) or operator_service_accounts(draft)
    if not accounts:
        raise PostProcessError("no operator deployment, so no ServiceAccount to bind")
    out = copy_draft(draft)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": Tpl(Go(".Release.Name"), "-", Go(".Release.Namespace"), "-auth-reader"),
            "namespace": "kube-system",
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "extension-apiserver-authentication-reader",
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": out.install_namespace} for name in accounts],
    }
    out.templates.append(Template(obj=binding, filename=FILENAME))
    return out
