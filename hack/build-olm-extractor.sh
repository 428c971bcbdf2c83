#!/usr/bin/env bash
# Build olm-extractor (github.com/lburgazzoli/olm-extractor, Go) for `make bench-vs-ox`, the side-by-
# side benchmark. It is not served by the Go module proxy, so it is built from a local copy of its
# public repository: OX_SRC names either a checked-out source tree or a (bare) git directory, whose
# HEAD is exported into the tools cache. Its dependencies come from the Go module proxy. Nothing of
# it is ever written into this repository.
#
#   OX_SRC=/path/to/olm-extractor hack/build-olm-extractor.sh   # prints the binary's path
#
# Output: "$BUNDLE_EXTRACT_TOOLS/bin/olm-extractor-<commit>" (rebuilt only when missing).
# Environment: OX_SRC (required), GO, BUNDLE_EXTRACT_TOOLS.
set -euo pipefail

NAME=build-olm-extractor
# shellcheck source=hack/go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

if [ -z "${OX_SRC:-}" ]; then
  echo "$NAME: set OX_SRC to a copy of github.com/lburgazzoli/olm-extractor (a source tree or git dir)," \
       "or OX to an olm-extractor binary" >&2
  exit 2
fi
lock build-olm-extractor

if git --git-dir="$OX_SRC" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  git_dir="$OX_SRC"
elif git -C "$OX_SRC" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  git_dir="$(git -C "$OX_SRC" rev-parse --absolute-git-dir)"
else
  git_dir=""
fi
if [ -n "$git_dir" ]; then
  commit="$(git --git-dir="$git_dir" rev-parse --short=8 HEAD)"
else
  commit="tree"
fi
target="$TOOLS/bin/olm-extractor-$commit"
if [ -x "$target" ] && [ "$commit" != "tree" ]; then
  echo "$target"
  exit 0
fi
src="$TOOLS/src/olm-extractor-$commit"
rm -rf "$src"
mkdir -p "$src" "$TOOLS/bin"
if [ -n "$git_dir" ]; then
  git --git-dir="$git_dir" archive HEAD | tar -x -C "$src"
else
  cp -a "$OX_SRC"/. "$src"/
fi
start=$SECONDS
log "building olm-extractor $commit in $src"
(
  cd "$src"
  "$GO" build -trimpath -ldflags "-s -w" -o "$target.tmp" ./cmd
) >&2
mv -f "$target.tmp" "$target"
log "olm-extractor $commit built in $((SECONDS - start))s"
echo "$target"
