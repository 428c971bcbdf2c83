# Sourced by the hack/build-<tool>.sh scripts that build one pinned Go program into the tools cache
# (build-actionlint.sh, build-ct.sh, build-kustomize.sh): their shared command line, locking and
# final version check.  Needs no Go toolchain until go_tool_start decides to build.
# Expects NAME (the script's name) before sourcing; defines TOOLS and BIN.  The script then sets
# TARGET and WANTED (the version, for the failure line) and defines current [--built]: true when
# the installed tool is the wanted version (--built: ignore FORCE=1).
# shellcheck shell=bash

TOOLS="${BUNDLE_EXTRACT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-extract/tools}"
BIN="$TOOLS/bin"

# go_tool_start "$@": with --check, exit with current's status (builds nothing, no Go needed);
# other arguments: usage, exit 2; when current: exit 0 (prints nothing).  Otherwise source
# go-env.sh (GO, go_install, log), take the build lock and return, unless another build finished
# while this one waited for the lock (then exit 0).  Sets start (SECONDS when the build begins).
go_tool_start() {
  if [ "${1:-}" = --check ]; then
    current
    exit
  fi
  [ $# -eq 0 ] || {
    echo "usage: $0 [--check]" >&2
    exit 2
  }
  current && exit 0
  # shellcheck source=hack/go-env.sh
  source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
  mkdir -p "$BIN"
  lock "$NAME"
  current && exit 0
  start=$SECONDS
}

# go_tool_verify: exit 1 with a log line unless the built TARGET is the wanted version.
go_tool_verify() {
  current --built || {
    # shellcheck disable=SC2153 # TARGET and WANTED are set by the sourcing script
    log "$TARGET does not report version $WANTED (after $((SECONDS - start))s)"
    exit 1
  }
}
