#!/usr/bin/env bash
# Build the test-only Kubernetes control plane (kube-apiserver + etcd) from Go modules.
#
# Both binaries land in "$BUNDLE_EXTRACT_TOOLS/bin" (default ~/.cache/bundle-extract/tools/bin),
# where extractor.tools.find_tool and tests/support/tools.require_tool look for them.  They are
# used only by the test suite (tests/support/kube.py), never by bundle-extract itself.
#
# Everything comes from the Go module proxy.  k8s.io/kubernetes cannot be "go install"ed because
# its go.mod points the k8s.io/* staging repos at ./staging/...; so a scratch module under the cache
# requires k8s.io/kubernetes and replaces every staging repo with its published v0.X.Y twin.
# etcd is built from go.etcd.io/etcd/server/v3, whose root package is the etcd main program.
#
# Idempotent: a binary that already reports the wanted version is left alone.  The Go module and
# build caches live under the tools dir too, so a rerun after a version bump is incremental.
#
# Environment: KUBE_VERSION (default below), ETCD_VERSION, GO (go binary), BUNDLE_EXTRACT_TOOLS,
# FORCE=1 to rebuild even if the binaries are current.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.32.13}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.35}"
# The scratch modules' "go" line: the language version Kubernetes 1.32 and etcd 3.5 are built for,
# which also fixes the GODEBUG defaults compiled into the binaries.
GO_LANG_VERSION="${GO_LANG_VERSION:-1.23.0}"

NAME=build-kube
# shellcheck source=hack/go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
BIN="$TOOLS/bin"
mkdir -p "$BIN"

lock build-kube

# have_version BINARY EXPECTED: true when BINARY exists and its --version output contains EXPECTED.
have_version() {
  [ "${FORCE:-0}" != 1 ] || return 1
  [ -x "$1" ] || return 1
  local out
  out="$("$1" --version 2>/dev/null || true)"
  case "$out" in
    *"$2"*) return 0 ;;
    *) return 1 ;;
  esac
}

# new_module DIR PATH: (re)create DIR holding an empty go.mod for module PATH.
new_module() {
  rm -rf "$1"
  mkdir -p "$1"
  printf 'module %s\n\ngo %s\n' "$2" "$GO_LANG_VERSION" >"$1/go.mod"
}

build_kube_apiserver() {
  local target="$BIN/kube-apiserver"
  if have_version "$target" "Kubernetes $KUBE_VERSION"; then
    log "kube-apiserver $KUBE_VERSION already built"
    return
  fi
  local start=$SECONDS
  local staging_version="v0.${KUBE_VERSION#v1.}"
  local dir="$TOOLS/src/kube-apiserver-$KUBE_VERSION"
  log "building kube-apiserver $KUBE_VERSION (staging modules $staging_version) in $dir"
  new_module "$dir" bundle-extract.test/kube-apiserver

  # Read the staging repos from the upstream go.mod: every "k8s.io/X => ./staging/src/k8s.io/X".
  local upstream_mod
  upstream_mod="$(cd "$dir" && "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$upstream_mod" ] || ! [ -f "$upstream_mod" ]; then
    log "could not download k8s.io/kubernetes@$KUBE_VERSION"
    exit 1
  fi
  local staging
  staging="$(sed -n 's|^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*$|\1|p' "$upstream_mod" \
    | sort -u)"
  if [ -z "$staging" ]; then
    log "no staging replace directives found in $upstream_mod"
    exit 1
  fi
  local repo args=()
  for repo in $staging; do
    args+=("-replace=$repo=$repo@$staging_version")
  done
  (
    cd "$dir"
    "$GO" mod edit "${args[@]}" "-require=k8s.io/kubernetes@$KUBE_VERSION"
    "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
    local minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    local pkg=k8s.io/component-base/version
    "$GO" build -trimpath -o "$target.tmp" \
      -ldflags "-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor
        -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
      k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv -f "$target.tmp" "$target"
  log "kube-apiserver $KUBE_VERSION built in $((SECONDS - start))s: $target"
}

build_etcd() {
  local target="$BIN/etcd"
  if have_version "$target" "etcd Version: ${ETCD_VERSION#v}"; then
    log "etcd $ETCD_VERSION already built"
    return
  fi
  local start=$SECONDS
  local dir="$TOOLS/src/etcd-$ETCD_VERSION"
  log "building etcd $ETCD_VERSION in $dir"
  new_module "$dir" bundle-extract.test/etcd
  (
    cd "$dir"
    "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    "$GO" build -trimpath -o "$target.tmp" -ldflags "-s -w" go.etcd.io/etcd/server/v3
  )
  mv -f "$target.tmp" "$target"
  log "etcd $ETCD_VERSION built in $((SECONDS - start))s: $target"
}

build_etcd
build_kube_apiserver
# Not "| head -n 1": under pipefail, etcd can die of SIGPIPE when head exits first.
etcd_version=$("$BIN/etcd" --version)
echo "${etcd_version%%$'\n'*}"
"$BIN/kube-apiserver" --version
