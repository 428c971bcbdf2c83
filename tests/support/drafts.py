"""Chart drafts rendered from the real bundles in ``../shared/bundles`` (skipped when absent).

``SETTINGS`` mirrors the ``postprocessors:`` of ``bundles.yaml`` for the three target bundles.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from extractor.bundle.loader import load_bundle
from extractor.config import DEFAULT_EXCLUDES
from extractor.draft import ChartDraft
from extractor.model import BundleSource, RenderOptions
from extractor.pipeline import new_draft
from extractor.render import render
from postprocess import run_postprocessors
from tests.support.tools import require_shared

__all__ = ["SETTINGS", "TARGETS", "Target", "processed_draft", "rendered_draft"]


@dataclass(frozen=True)
class Target:
    chart: str
    bundle_dir: str
    namespace: str
    needs: tuple[str, ...] = ()
    bundle_image: str = ""


TARGETS = {
    "cert-manager-operator": Target(
        "cert-manager-operator",
        "cert-manager-operator-v1.15.2",
        "cert-manager-operator",
        bundle_image="registry.redhat.io/cert-manager/cert-manager-operator-bundle:v1.15.2",
    ),
    "sail-operator": Target(
        "sail-operator",
        "servicemeshoperator3-v3.2.1",
        "istio-system",
        ("cert-manager-operator",),
        "registry.redhat.io/openshift-service-mesh/istio-sail-operator-bundle:3.2.1",
    ),
    "lws-operator": Target(
        "lws-operator",
        "leader-worker-set-v1.0.0-rendered",
        "openshift-lws-operator",
        ("cert-manager-operator",),
        "registry.redhat.io/leader-worker-set/lws-operator-bundle:1.0",
    ),
}

SETTINGS: dict[str, dict[str, Any]] = {
    "cert-manager-operator": {
        "exclude": {"exclude": list(DEFAULT_EXCLUDES)},
        "image-pull-secrets": {
            "operandServiceAccounts": [
                {
                    "namespace": "cert-manager",
                    "names": ["cert-manager", "cert-manager-cainjector", "cert-manager-webhook"],
                }
            ]
        },
        "openshift-infrastructure-stub": {},
        "operator-crs": [
            {
                "kind": "CertManager",
                "name": "cluster",
                "valuesKey": "certManager",
                "fromAlmExample": True,
                "spec": {"managementState": "Managed", "logLevel": "Normal", "operatorLogLevel": "Normal"},
            }
        ],
    },
    "sail-operator": {
        "exclude": {"exclude": list(DEFAULT_EXCLUDES)},
        "operator-crs": [
            {
                "kind": "Istio",
                "name": "default",
                "valuesKey": "istio",
                "fromAlmExample": True,
                "pullSecretsAt": "values.global.imagePullSecrets",
            }
        ],
        "sail-webhook-ignore": {"fixedIn": "3.2.3"},
    },
    "lws-operator": {
        "exclude": {"exclude": list(DEFAULT_EXCLUDES)},
        "kube-system-auth-reader": {},
        "operator-crs": [
            {
                "kind": "LeaderWorkerSetOperator",
                "name": "cluster",
                "valuesKey": "lwsOperator",
                "fromAlmExample": True,
                "spec": {"managementState": "Managed"},
            }
        ],
    },
}


@functools.cache
def _rendered(chart: str) -> ChartDraft:
    target = TARGETS[chart]
    directory = require_shared("bundles", target.bundle_dir)
    bundle = load_bundle(BundleSource(reference=str(directory), directory=directory))
    manifests = render(bundle, RenderOptions(install_namespace=target.namespace))
    bundle.source = BundleSource(reference=str(directory), directory=directory, image=target.bundle_image,
                                 digest="sha256:" + "ab" * 32)
    return new_draft(target.chart, target.namespace, bundle, manifests, needs=target.needs)


def rendered_draft(chart: str) -> ChartDraft:
    """A fresh copy of the draft of ``chart`` straight from the render (no post-processing)."""
    return copy.deepcopy(_rendered(chart))


@functools.cache
def _processed(chart: str) -> ChartDraft:
    return run_postprocessors(rendered_draft(chart), SETTINGS[chart])


def processed_draft(chart: str) -> ChartDraft:
    """A fresh copy of ``chart``'s draft after the post-processors of :data:`SETTINGS`."""
    return copy.deepcopy(_processed(chart))
