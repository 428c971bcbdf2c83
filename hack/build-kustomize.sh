#!/usr/bin/env bash
# Build kustomize (what tests/pipeline/test_krm.py runs `kustomize build --enable-alpha-plugins
# --enable-exec` with, to use `bundle-extract krm` as an exec KRM generator) from Go modules into the tools cache:
#
#   "$BUNDLE_EXTRACT_TOOLS/bin/kustomize"
#
# where extractor.tools.find_tool and tests/support/tools.require_tool look for it.  Test-only:
# bundle-extract itself never runs it.
#
# The module is sigs.k8s.io/kustomize/kustomize/v5 (the program is its root package).  Version:
# v5.7.1 (`go list -m -versions sigs.k8s.io/kustomize/kustomize/v5`: ... v5.6.0 v5.7.1 v5.8.1 ...;
# v5.8 needs a newer Go than the one here).  `kustomize version` prints the module version, which
# it reads from the build information `go install module@version` records.
#
# Idempotent: a binary that reports the wanted version is left alone, and then the script prints
# nothing; a build prints one line (the Go output goes to a log, shown only when the build fails).
# The Go module and build caches are the other build scripts' (under the tools dir).
#
# Usage: build-kustomize.sh [--check]   (--check: exit 0 when the wanted version is built, else 1;
# builds nothing).
# Environment: KUSTOMIZE_VERSION (default below), GO (go binary), BUNDLE_EXTRACT_TOOLS,
# FORCE=1 to rebuild even if the binary is current.
set -euo pipefail

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
MODULE=sigs.k8s.io/kustomize/kustomize/v5

NAME=build-kustomize
# shellcheck source=hack/go-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-tool.sh"
WANTED="$KUSTOMIZE_VERSION"
TARGET="$BIN/kustomize"

# current: true when the installed binary reports the wanted version.
current() {
  [ "${FORCE:-0}" != 1 ] || [ "${1:-}" = --built ] || return 1
  [ -x "$TARGET" ] || return 1
  [ "$("$TARGET" version 2>/dev/null | head -n 1 || true)" = "$KUSTOMIZE_VERSION" ]
}

# --check needs no Go toolchain: install-tools.sh asks before it builds.
go_tool_start "$@"
go_install kustomize "$MODULE@$KUSTOMIZE_VERSION" "$TARGET"
go_tool_verify
