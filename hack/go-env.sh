# Sourced by the hack/build-*.sh scripts: the Go environment for building test-only binaries from
# Go modules into the tools cache.  Expects NAME (the script's name, for log lines) to be set;
# defines TOOLS, GOWORK_DIR, GO, log() and lock <name> (one build at a time per tools dir).
# shellcheck shell=bash

TOOLS="${BUNDLE_EXTRACT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-extract/tools}"
GOWORK_DIR="$TOOLS/go"

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if ! [ -x "$GO" ]; then
  echo "$NAME: no Go toolchain found (set GO=/path/to/go)" >&2
  exit 1
fi

# Module and build caches live under the tools dir, shared by every build script.
export GOPATH="$GOWORK_DIR"
export GOMODCACHE="$GOWORK_DIR/pkg/mod"
export GOCACHE="$GOWORK_DIR/cache"
export GOTOOLCHAIN=local
export GOFLAGS="-modcacherw -buildvcs=false"
export CGO_ENABLED=0
unset GOWORK GOOS GOARCH 2>/dev/null || true

mkdir -p "$GOMODCACHE" "$GOCACHE"

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }

# lock NAME: hold an exclusive lock on "$TOOLS/.NAME.lock" until the script exits (fd 8).
lock() {
  exec 8>"$TOOLS/.$1.lock"
  flock 8
}

# go_install PROGRAM PACKAGE@VERSION TARGET [LDFLAGS]: `go install` PACKAGE@VERSION (with the
# module's own go.mod and module verification on) into a scratch dir under the tools cache, then
# move the PROGRAM binary to TARGET atomically. The Go output goes to a log, shown on failure.
go_install() {
  local program=$1 package=$2 target=$3 ldflags="-s -w ${4:-}" dir
  dir="$TOOLS/src/$program-${package##*@}"
  log "building $program ${package##*@} from Go modules into $target"
  rm -rf "$dir"
  mkdir -p "$dir" "$(dirname "$target")"
  if ! GOBIN="$dir" "$GO" install -trimpath -ldflags "$ldflags" "$package" >"$dir/build.log" 2>&1; then
    tail -n 30 "$dir/build.log" >&2
    log "go install $package failed (log: $dir/build.log)"
    exit 1
  fi
  mv -f "$dir/$program" "$target.tmp"
  mv -f "$target.tmp" "$target"
}
