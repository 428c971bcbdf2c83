#!/usr/bin/env bash
# Build the helm-diff plugin (what `helmfile apply` / `make deploy` run) from Go modules and install
# it as a Helm plugin under the tools cache:
#
#   "$BUNDLE_EXTRACT_TOOLS/helm-plugins/diff/plugin.yaml"   (the module's own, install hooks removed)
#   "$BUNDLE_EXTRACT_TOOLS/helm-plugins/diff/bin/diff"      (the path plugin.yaml's command names)
#
# Helm finds it with HELM_PLUGINS="$BUNDLE_EXTRACT_TOOLS/helm-plugins" (the Makefile exports that;
# tests/test_deploy.py sets it).  Nothing is written to the user's own Helm plugin directory.
#
# The module is github.com/databus23/helm-diff/v3; its root package is the plugin's main program.
# Version: v3.9.11 (built against helm.sh/helm/v3 v3.16, client-go 0.31; it works with helm 3.17).
# Later tags (v3.9.14, built against helm 3.17.0) are on the module proxy but the checksum
# database does not answer for them from here, and this script does not turn verification off.
#
# Idempotent: a plugin whose binary reports the wanted version and whose plugin.yaml is in place
# is left alone.  The Go module and build caches are build-kube.sh's (under the tools dir).
#
# Environment: HELM_DIFF_VERSION (default below), GO (go binary), BUNDLE_EXTRACT_TOOLS,
# FORCE=1 to rebuild even if the plugin is current.
set -euo pipefail

HELM_DIFF_VERSION="${HELM_DIFF_VERSION:-v3.9.11}"
MODULE=github.com/databus23/helm-diff/v3
# The scratch module's "go" line (helm-diff v3.9.11's own); `go get` raises it if a dependency
# needs more.
GO_LANG_VERSION="${GO_LANG_VERSION:-1.22.0}"

NAME=build-helm-diff
# shellcheck source=hack/go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
PLUGINS="$TOOLS/helm-plugins"
PLUGIN_DIR="$PLUGINS/diff"
mkdir -p "$PLUGINS"

lock build-helm-diff

# current: true when the installed plugin is the wanted version.
current() {
  [ -x "$PLUGIN_DIR/bin/diff" ] && [ -f "$PLUGIN_DIR/plugin.yaml" ] || return 1
  [ "$("$PLUGIN_DIR/bin/diff" version 2>/dev/null || true)" = "${HELM_DIFF_VERSION#v}" ] || return 1
  grep -qx "version: \"${HELM_DIFF_VERSION#v}\"" "$PLUGIN_DIR/plugin.yaml"
}

build() {
  local start=$SECONDS
  local dir="$TOOLS/src/helm-diff-$HELM_DIFF_VERSION"
  log "building helm-diff $HELM_DIFF_VERSION in $dir"
  rm -rf "$dir"
  mkdir -p "$dir" "$PLUGIN_DIR/bin"
  printf 'module bundle-extract.test/helm-diff\n\ngo %s\n' "$GO_LANG_VERSION" >"$dir/go.mod"
  (
    cd "$dir"
    "$GO" get "$MODULE@$HELM_DIFF_VERSION"
    "$GO" build -trimpath -o "$PLUGIN_DIR/bin/diff.tmp" \
      -ldflags "-s -w -X $MODULE/cmd.Version=${HELM_DIFF_VERSION#v}" "$MODULE"
  )
  local src
  src="$(cd "$dir" && "$GO" list -m -f '{{.Dir}}' "$MODULE")"
  if [ -z "$src" ] || ! [ -f "$src/plugin.yaml" ]; then
    log "no plugin.yaml in $MODULE@$HELM_DIFF_VERSION"
    exit 1
  fi
  # The install/update hooks download release binaries from GitHub: drop them (the binary is
  # built here). Everything else -- name, version, command "$HELM_PLUGIN_DIR/bin/diff" -- stays.
  awk '/^hooks:/ { skip = 1; next } skip && /^[[:space:]]/ { next } { skip = 0; print }' \
    "$src/plugin.yaml" >"$PLUGIN_DIR/plugin.yaml.tmp"
  # shellcheck disable=SC2016 # a literal $HELM_PLUGIN_DIR, expanded by helm
  grep -q '^command: "\$HELM_PLUGIN_DIR/bin/diff"$' "$PLUGIN_DIR/plugin.yaml.tmp" || {
    log "plugin.yaml of $HELM_DIFF_VERSION does not run \$HELM_PLUGIN_DIR/bin/diff"
    exit 1
  }
  mv -f "$PLUGIN_DIR/bin/diff.tmp" "$PLUGIN_DIR/bin/diff"
  mv -f "$PLUGIN_DIR/plugin.yaml.tmp" "$PLUGIN_DIR/plugin.yaml"
  log "helm-diff $HELM_DIFF_VERSION built in $((SECONDS - start))s: $PLUGIN_DIR"
}

if [ "${FORCE:-0}" != 1 ] && current; then
  log "helm-diff $HELM_DIFF_VERSION already built"
else
  build
  current || {
    log "$PLUGIN_DIR/bin/diff does not report version ${HELM_DIFF_VERSION#v}"
    exit 1
  }
fi
echo "helm-diff ${HELM_DIFF_VERSION#v}: HELM_PLUGINS=$PLUGINS"
