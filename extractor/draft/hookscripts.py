"""Shell text shared by the generated hooks (bash, run by helmfile on the deploying machine).

Hook scripts never have values substituted into them: values travel as positional arguments
(``bash -c SCRIPT NAME ARG...``), so a bundle or bundles.yaml value can never become shell code.
"""

from __future__ import annotations

__all__ = ["WAIT_ESTABLISHED", "wait_established_script"]

WAIT_ESTABLISHED = """\
# wait_established SECONDS TARGET...: kubectl wait --for=condition=Established on TARGET (-f DIR or
# crd/NAME), retried until SECONDS have passed. Right after a CRD is created the API server may
# not have written its status yet, and kubectl wait then fails at once ("accessor error: <nil>"):
# that, like any other failure, is retried until the deadline, then reported with kubectl's output.
wait_established() {
  local limit=$1 deadline out
  shift
  deadline=$((SECONDS + limit))
  while :; do
    if out=$(kubectl wait --for=condition=Established --timeout=10s "$@" 2>&1); then
      printf '%s\\n' "$out"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s\\n' "$out" >&2
      echo "CRDs not Established within ${limit}s: $*" >&2
      return 1
    fi
    sleep 1
  done
}
"""


def wait_established_script() -> str:
    """``bash -c`` text: ``$1`` = seconds, ``$2`` = a directory of CRD manifests to wait for."""
    return WAIT_ESTABLISHED + 'wait_established "$1" -f "$2"'
