"""``sail-webhook-ignore`` (opt-in, sail): break the Sail operator / istiod webhook fight.

On vanilla Kubernetes, Sail operators before OSSM 3.2.3 (sail-operator PR #1651) keep resetting
the webhook configurations istiod patches, and the two loop. The workaround annotates both
``MutatingWebhookConfiguration/istio-sidecar-injector`` and
``ValidatingWebhookConfiguration/istio-validator-<release namespace>`` with
``sailoperator.io/ignore=true``.

A helmfile ``postsync`` hook ``sail-webhook-ignore`` runs a fixed ``bash -c`` script (the namespace
and timeout are positional arguments, never substituted into the script) that waits, bounded by
option ``timeout`` (seconds, default 300; the environment variable ``SAIL_WEBHOOK_IGNORE_TIMEOUT``
overrides it at deploy time), for istiod to create both objects, annotates them, and
**exits non-zero on timeout**. It is gated by the helmfile value ``sailWebhookIgnore.enabled``,
whose default is true only when the CSV version is older than option ``fixedIn`` (``"3.2.3"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from extractor.draft import ChartDraft, Hook
from postprocess._common import Options, copy_draft

__all__ = ["DOC", "HOOK_NAME", "SCRIPT", "run", "version_tuple"]

DOC = "postsync hook annotating istiod's webhooks sailoperator.io/ignore=true (Sail < fixedIn)"
HOOK_NAME = "sail-webhook-ignore"
CONDITION = "sailWebhookIgnore.enabled"

SCRIPT = """\
set -euo pipefail
namespace="$1"
timeout="${SAIL_WEBHOOK_IGNORE_TIMEOUT:-$2}"
deadline=$(( $(date +%s) + timeout ))
for object in mutatingwebhookconfiguration/istio-sidecar-injector \\
              "validatingwebhookconfiguration/istio-validator-${namespace}"; do
  until kubectl get "$object" >/dev/null 2>&1; do
    if (( $(date +%s) >= deadline )); then
      echo "sail-webhook-ignore: $object did not appear within ${timeout}s" >&2
      exit 1
    fi
    sleep 5
  done
  kubectl annotate --overwrite "$object" sailoperator.io/ignore=true
done"""

_VERSION = re.compile(r"^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(-[0-9A-Za-z.-]+)?(?:\+.*)?$")


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """Comparable tuple of a SemVer-ish version; a pre-release sorts before its release.

    Raises :class:`ValueError` for anything else.
    """
    match = _VERSION.match(version.strip())
    if not match:
        raise ValueError(f"{version!r} is not a version")
    major, minor, patch, pre = match.groups()
    return int(major), int(minor or 0), int(patch or 0), 0 if pre else 1


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). Raises :class:`ConfigError` for a bad
    ``fixedIn``/``timeout`` or a CSV version that is not a version."""
    opts = Options("sail-webhook-ignore", options)
    timeout = opts.integer("timeout", 300)
    fixed_in = opts.string("fixedIn", "3.2.3") or "3.2.3"
    opts.done()
    try:
        fixed = version_tuple(fixed_in)
    except ValueError as exc:
        raise opts.error(f"fixedIn: {exc}") from None
    try:
        enabled = version_tuple(draft.csv_version) < fixed
    except ValueError as exc:
        raise opts.error(f"CSV version: {exc}") from None
    out = copy_draft(draft)
    out.hooks.append(
        Hook(
            name=HOOK_NAME,
            events=("postsync",),
            command="bash",
            args=("-c", SCRIPT, HOOK_NAME, "{{ .Release.Namespace }}", str(timeout)),
            condition=CONDITION,
        )
    )
    out.helmfile_values.setdefault("sailWebhookIgnore", {})
    out.helmfile_values["sailWebhookIgnore"].setdefault("enabled", enabled)
    return out
