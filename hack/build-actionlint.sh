#!/usr/bin/env bash
# Build actionlint (the GitHub Actions workflow checker tests/test_workflows.py runs on
# .github/workflows/) from Go modules into the tools cache:
#
#   "$BUNDLE_EXTRACT_TOOLS/bin/actionlint"
#
# where extractor.tools.find_tool and tests/support/tools.require_tool look for it.  Test-only:
# bundle-extract itself never runs it.  actionlint checks the shell of `run:` steps with shellcheck
# when shellcheck is on PATH (hack/install-tools.sh installs Debian's shellcheck).
#
# The module is github.com/rhysd/actionlint; cmd/actionlint is the program.  Version: v1.7.12
# (`go list -m -versions github.com/rhysd/actionlint`: v1.6.27 ... v1.7.11 v1.7.12; its go.mod
# asks for Go 1.25).  The version string the binary prints is set with -ldflags, as actionlint's
# own release builds do.
#
# Idempotent: a binary that reports the wanted version is left alone, and then the script prints
# nothing; a build prints one line (the Go output goes to a log, shown only when the build fails).
# The Go module and build caches are the other build scripts' (under the tools dir).
#
# Usage: build-actionlint.sh [--check]   (--check: exit 0 when the wanted version is built, else 1;
# builds nothing).
# Environment: ACTIONLINT_VERSION (default below), GO (go binary), BUNDLE_EXTRACT_TOOLS,
# FORCE=1 to rebuild even if the binary is current.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
MODULE=github.com/rhysd/actionlint

NAME=build-actionlint
# shellcheck source=hack/go-tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-tool.sh"
WANTED="${ACTIONLINT_VERSION#v}"
TARGET="$BIN/actionlint"

# current: true when the installed binary reports the wanted version (first line of -version).
current() {
  [ "${FORCE:-0}" != 1 ] || [ "${1:-}" = --built ] || return 1
  [ -x "$TARGET" ] || return 1
  [ "$("$TARGET" -version 2>/dev/null | head -n 1 || true)" = "${ACTIONLINT_VERSION#v}" ]
}

# --check needs no Go toolchain: install-tools.sh asks before it builds.
go_tool_start "$@"
go_install actionlint "$MODULE/cmd/actionlint@$ACTIONLINT_VERSION" "$TARGET" \
  "-X $MODULE.version=${ACTIONLINT_VERSION#v}"
go_tool_verify
