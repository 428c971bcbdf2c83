#!/usr/bin/env bash
# Build chart-testing (`ct`, what tests/emit/test_chart_testing.py runs `ct lint` with on the
# generated charts) from Go modules into the tools cache:
#
#   "$BUNDLE_EXTRACT_TOOLS/bin/ct"
#   "$BUNDLE_EXTRACT_TOOLS/ct/chart_schema.yaml", "$BUNDLE_EXTRACT_TOOLS/ct/lintconf.yaml"
#
# ct reads the Chart.yaml schema (yamale) and the yamllint configuration from files its releases
# ship beside the binary; they are copied here from the module's etc/ directory, and the tests
# pass them with --chart-yaml-schema and --lint-conf.  ct itself runs the Python programs
# `yamale` and `yamllint` (PyPI packages, installed by hack/install-tools.sh with pip), `helm`
# and `git`.  Test-only: bundle-extract itself never runs ct.
#
# The module is github.com/helm/chart-testing/v3 (the program is its ct/ package).  Version:
# v3.14.0 (the Go module proxy here lists no versions of it, but serves v3.14.0 by exact
# version; its go.mod asks for an older Go than the one here).  The version `ct version` prints is
# set with -ldflags, as ct's own release builds do.
#
# Idempotent: a binary that reports the wanted version is left alone, and then the script prints
# nothing; a build prints one line (the Go output goes to a log, shown only when the build fails).
# The Go module and build caches are the other build scripts' (under the tools dir).
#
# Usage: build-ct.sh [--check]   (--check: exit 0 when the wanted version is built, else 1;
# builds nothing).
# Environment: CT_VERSION (default below), GO (go binary), BUNDLE_EXTRACT_TOOLS,
# FORCE=1 to rebuild even if the binary is current.
set -euo pipefail

CT_VERSION="${CT_VERSION:-v3.14.0}"
MODULE=github.com/helm/chart-testing/v3

NAME=build-ct
# shellcheck source=hack/go-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-tool.sh"
WANTED="$CT_VERSION"
TARGET="$BIN/ct"
CONF="$TOOLS/ct"

# current: true when the installed binary reports the wanted version and its config files exist.
current() {
  [ "${FORCE:-0}" != 1 ] || [ "${1:-}" = --built ] || return 1
  [ -x "$TARGET" ] && [ -f "$CONF/chart_schema.yaml" ] && [ -f "$CONF/lintconf.yaml" ] || return 1
  "$TARGET" version 2>/dev/null | grep -qE "^Version:[[:space:]]+$CT_VERSION\$"
}

# --check needs no Go toolchain: install-tools.sh asks before it builds.
go_tool_start "$@"
# `go install module@version` first asks the proxy for the module's version list (deprecation
# check), which the proxy here refuses for this module; so the exact version is downloaded and
# built as the main module, with its own go.mod and go.sum (module verification on).
dir="$TOOLS/src/ct-$CT_VERSION"
rm -rf "$dir"
mkdir -p "$dir"
log "building ct $CT_VERSION from Go modules into $TARGET"
if ! src=$(cd "$dir" && "$GO" mod download -json "$MODULE@$CT_VERSION" 2>"$dir/build.log" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || [ -z "$src" ]; then
  tail -n 30 "$dir/build.log" >&2
  log "go mod download $MODULE@$CT_VERSION failed (log: $dir/build.log)"
  exit 1
fi
if ! (cd "$src" && "$GO" build -trimpath -ldflags "-s -w -X $MODULE/ct/cmd.Version=$CT_VERSION" \
  -o "$dir/ct" ./ct) >>"$dir/build.log" 2>&1; then
  tail -n 30 "$dir/build.log" >&2
  log "go build $MODULE/ct@$CT_VERSION failed (log: $dir/build.log)"
  exit 1
fi
mv -f "$dir/ct" "$TARGET.tmp"
mv -f "$TARGET.tmp" "$TARGET"
# The configuration files ct's releases ship, from the module source `go install` downloaded.
src="$src/etc"
mkdir -p "$CONF"
for f in chart_schema.yaml lintconf.yaml; do
  [ -f "$src/$f" ] || {
    log "$src/$f not found in the module"
    exit 1
  }
  install -m 0644 "$src/$f" "$CONF/$f.tmp"
  mv -f "$CONF/$f.tmp" "$CONF/$f"
done
go_tool_verify
