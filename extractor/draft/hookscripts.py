"""Shell text shared by the generated hooks (bash, run by helmfile on the deploying machine).

Hook scripts never have values substituted into them: values travel as positional arguments
(``bash -c SCRIPT NAME ARG...``), so a bundle or bundles.yaml value can never become shell code.
"""

from __future__ import annotations

__all__ = ["KUBECTL_RETRY", "REQUIRE_APIS", "STORED_VERSIONS", "WAIT_ESTABLISHED", "wait_established_script"]

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

KUBECTL_RETRY = """\
# kubectl_retry ARG...: kubectl ARG..., tried again (5 tries, 2 s apart) when it fails for any
# reason but NotFound, so that a brief API-server error does not fail the deploy; stderr of the
# last try is passed on.
kubectl_retry() {
  local out err tries=0
  err=$(mktemp)
  while :; do
    if out=$(kubectl "$@" 2>"$err"); then
      rm -f "$err"
      printf '%s' "$out"
      return 0
    fi
    tries=$((tries + 1))
    if grep -qE 'NotFound|could not find the requested resource' "$err" || [ "$tries" -ge 5 ]; then
      cat "$err" >&2
      rm -f "$err"
      return 1
    fi
    sleep 2
  done
}
"""

REQUIRE_APIS = KUBECTL_RETRY + """\
# require-apis RELEASE [GROUP/VERSION KINDS WHAT]...: fail, naming every missing kind and what to
# install, unless the cluster serves each KIND (space-separated) of GROUP/VERSION.
set -euo pipefail
release="$1"
shift
missing=0
while [ "$#" -ge 3 ]; do
  gv="$1"; kinds="$2"; what="$3"
  shift 3
  if ! served=$(kubectl_retry get --raw "/apis/$gv" 2>&1); then
    case "$served" in
      *NotFound*|*"could not find the requested resource"*) served="" ;;
      *) printf '%s\\n' "$served" >&2; echo "error: release $release: cannot ask the cluster for $gv" >&2; exit 1 ;;
    esac
  fi
  absent=""
  for kind in $kinds; do
    case "$served" in
      *"\\"kind\\":\\"$kind\\""*) ;;
      *) absent="$absent${absent:+,} $kind" ;;
    esac
  done
  if [ -n "$absent" ]; then
    echo "error: release $release creates$absent ($gv), which this cluster does not serve: install $what first" >&2
    missing=1
  fi
done
if [ "$missing" -ne 0 ]; then
  exit 1
fi
echo "require-apis: the cluster serves what release $release needs"
"""

STORED_VERSIONS = KUBECTL_RETRY + """\
# crd-stored-versions RELEASE [CRD VERSIONS]...: fail when a CRD on the cluster lists a version in
# status.storedVersions that the new CRD (its spec.versions names: VERSIONS, space-separated) drops:
# the API server would refuse the update, and objects stored in that version need a migration first.
set -euo pipefail
release="$1"
shift
names=()
declare -A wanted
for ((i = 1; i < $#; i += 2)); do
  names+=("${!i}")
  j=$((i + 1))
  wanted["${!i}"]=" ${!j} "
done
[ "${#names[@]}" -gt 0 ] || exit 0
# kubectl answers one name with the object itself, several with a List
line='{.metadata.name}{" "}{.status.storedVersions[*]}{"\\n"}'
if [ "${#names[@]}" -gt 1 ]; then
  line="{range .items[*]}$line{end}"
fi
stored=$(kubectl_retry get crd "${names[@]}" --ignore-not-found -o "jsonpath=$line")
status=0
while read -r crd versions; do
  [ -n "$crd" ] || continue
  keep=""
  removed=""
  for version in $versions; do
    case "${wanted[$crd]:- }" in
      *" $version "*) keep="$keep${keep:+,}\\"$version\\"" ;;
      *) removed="$removed $version" ;;
    esac
  done
  for version in $removed; do
    echo "error: release $release: CRD $crd: the new CRD removes version $version, which is still listed in" \\
      "the cluster's status.storedVersions (objects may be stored as $version): run the storage migration first" \\
      "(rewrite every $crd object in a version the new CRD keeps, e.g. with kube-storage-version-migrator)," \\
      "then drop $version: kubectl patch crd $crd --subresource=status --type=merge" \\
      "-p '{\\"status\\":{\\"storedVersions\\":[$keep]}}'" >&2
    status=1
  done
done <<<"$stored"
exit "$status"
"""
