"""Hostile and careless input, end to end through the command line: every case must fail with a
non-zero exit and exactly one ``error:`` line naming what is wrong (one line per bundles.yaml entry
when several fail), no traceback, no "internal error", nothing written (the project tree and
bundles.yaml byte-identical), quickly (no hang), and no trace of a secret: every case runs with a
unique marker as the registry password, in an auth file and in the environment, and the marker
must not appear in stdout, stderr or any file the run could write.

Families (inputs generated here, at test time):

- registry faults that a real registry cannot produce, from a tiny scripted HTTP server on
  127.0.0.1 (tests/support/faults.py): missing challenges, oversized and endless answers, bodies
  dripping one byte at a time, malformed and deeply nested JSON, redirect loops, hostile tokens,
  a manifest listing one layer thousands of times;
- mutated bundles (a copy of the webhook-demo fixture, changed per case);
- bundles.yaml and command-line input (needs cycles, jq expressions reaching for secrets or
  running away, YAML bombs, bad encodings, bad namespaces, unwritable or occupied outputs);
- archives and layers (oversized PAX headers and GNU long names, escapes, devices, caps).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire.manifests import OCI_MANIFEST, sha256_digest
from extractor.demo.push import BuiltImage, build_image, gzip_bytes, push_image
from tests.conftest import REPO
from tests.support.faults import FaultServer, answer, fault_server
from tests.support.registry import TestRegistry, make_tar, tar_file, tar_member

MARKER = "Zq7-hostile-secret-4c1d"
FIXTURE = REPO / "tests/fixtures/bundles/webhook-demo"
CSV = "manifests/demo.clusterserviceversion.yaml"
CRD = "manifests/demo.example.com_widgets.yaml"
DEADLINE = 60.0  # seconds any single case may take (the slowest legitimate one is the 2 s drip cut-off)


@dataclass
class Context:
    """What a case may use: a scratch directory, the fault server, the real registry, and the
    project (bundles.yaml + a good local bundle) whose tree must stay unchanged."""

    tmp: Path
    faults: FaultServer
    registry: TestRegistry
    project: Path
    env: dict[str, str] = field(default_factory=dict)

    def bundle(self, mutate: Callable[[Path], None] | None = None, name: str = "bundle") -> Path:
        """A copy of the webhook-demo fixture, changed by ``mutate``."""
        target = self.tmp / name
        shutil.copytree(FIXTURE, target)
        if mutate is not None:
            mutate(target)
        return target

    def image(self, repo: str, manifest: bytes, extra: dict[str, list[Any]] | None = None) -> str:
        """Serve ``manifest`` as ``<faults>/<repo>:v1``; return the reference."""
        self.faults.routes[f"/v2/{repo}/manifests/v1"] = [answer(200, manifest, {
            "Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256_digest(manifest)})]
        for path, handlers in (extra or {}).items():
            self.faults.routes[path] = handlers
        return f"{self.faults.host}/{repo}:v1"

    def config(self, entries: list[dict[str, Any]] | str) -> Path:
        """Write the project's bundles.yaml (entries, or raw text)."""
        path = self.project / "bundles.yaml"
        path.write_text(entries if isinstance(entries, str) else yamlio.dump({"bundles": entries}))
        return path


@dataclass(frozen=True)
class Case:
    id: str
    prepare: Callable[[Context], list[str]]  # returns the CLI arguments
    expect: tuple[str, ...]  # fragments of the error line(s)
    env: tuple[tuple[str, str], ...] = ()
    lines: int = 1


CASES: list[Case] = []


def case(id: str, *expect: str, env: dict[str, str] | None = None, lines: int = 1) -> Callable[
        [Callable[[Context], list[str]]], Callable[[Context], list[str]]]:
    def register(prepare: Callable[[Context], list[str]]) -> Callable[[Context], list[str]]:
        CASES.append(Case(id, prepare, expect, tuple((env or {}).items()), lines))
        return prepare
    return register


def run_image(ref: str, *extra: str) -> list[str]:
    return ["run", ref, "-n", "demo", "--registry-timeout", "2", "--registry-retries", "1", *extra]


def layer_manifest(layers: list[tuple[bytes, str]]) -> bytes:
    config = b"{}"
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(b)}
                   for b, d in layers],
    }).encode()


def drip(body: bytes, interval: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """Send the headers, then one byte every ``interval`` seconds (bounded: stops after 120 s)."""
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", OCI_MANIFEST)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        deadline = time.monotonic() + 120
        try:
            for byte in body:
                if time.monotonic() > deadline:
                    break
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
                time.sleep(interval)
        except OSError:
            return
    return handle


def nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bearer(realm: str) -> Callable[[BaseHTTPRequestHandler], None]:
    return answer(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="x",scope="repository:x:pull"'})


# -- registry faults ---------------------------------------------------------------------------------
@case("401-without-challenge", "without a WWW-Authenticate challenge")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/a/manifests/v1"] = [answer(401, b"")]
    return run_image(f"{c.faults.host}/r/a:v1")


@case("basic-challenge-without-credentials", "requires authentication and no credentials")
def _(c: Context) -> list[str]:
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_PASSWORD")
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_USERNAME")
    c.env["REGISTRY_AUTH_FILE"] = str(c.tmp / "empty-auth.json")
    (c.tmp / "empty-auth.json").write_text('{"auths": {}}')
    c.faults.routes["/v2/r/b/manifests/v1"] = [answer(401, b"", {"WWW-Authenticate": 'Basic realm="r"'})]
    return run_image(f"{c.faults.host}/r/b:v1")


@case("unsupported-auth-scheme", "unsupported authentication 'negotiate'")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/c/manifests/v1"] = [answer(401, b"", {"WWW-Authenticate": "Negotiate"})]
    return run_image(f"{c.faults.host}/r/c:v1")


@case("token-answer-too-large", "larger than")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/d/manifests/v1"] = [bearer(f"http://{c.faults.host}/token-d")]
    c.faults.routes["/token-d"] = [answer(200, b'{"token": "' + b"x" * (6 * 1024 * 1024) + b'"}')]
    return run_image(f"{c.faults.host}/r/d:v1")


@case("token-answer-deeply-nested", "malformed answer")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/e/manifests/v1"] = [bearer(f"http://{c.faults.host}/token-e")]
    c.faults.routes["/token-e"] = [answer(200, nested_json(100_000))]
    return run_image(f"{c.faults.host}/r/e:v1")


@case("token-not-ascii", "not printable ASCII")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/f/manifests/v1"] = [bearer(f"http://{c.faults.host}/token-f")]
    c.faults.routes["/token-f"] = [answer(200, json.dumps({"token": "t\u00e9l\u00e9"}).encode())]
    return run_image(f"{c.faults.host}/r/f:v1")


@case("token-refused", "refused the credentials")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/g/manifests/v1"] = [bearer(f"http://{c.faults.host}/token-g")]
    c.faults.routes["/token-g"] = [answer(401, MARKER.encode())]
    return run_image(f"{c.faults.host}/r/g:v1")


@case("token-realm-plain-http-elsewhere", "is plain HTTP")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/h/manifests/v1"] = [bearer("http://auth.example.invalid/token")]
    return run_image(f"{c.faults.host}/r/h:v1")


@case("token-realm-invalid", "invalid token realm")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/i/manifests/v1"] = [bearer("ftp://x/token")]
    return run_image(f"{c.faults.host}/r/i:v1")


@case("huge-error-body", "not found (HTTP 404")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/j/manifests/v1"] = [answer(404, b'{"errors":[{"code":"' + b"A" * (30 << 20) + b'"}]}')]
    return run_image(f"{c.faults.host}/r/j:v1")


@case("error-body-echo", "failed (HTTP 400")
def _(c: Context) -> list[str]:
    body = json.dumps({"errors": [{"code": f"X {MARKER}", "message": MARKER}]}).encode()
    c.faults.routes["/v2/r/k/manifests/v1"] = [answer(400, body)]
    return run_image(f"{c.faults.host}/r/k:v1")


@case("manifest-drip", "took longer than 2s")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/l/manifests/v1"] = [drip(layer_manifest([]), 0.3)]
    return run_image(f"{c.faults.host}/r/l:v1")


@case("manifest-too-large", "larger than")
def _(c: Context) -> list[str]:
    return run_image(c.image("r/m", b'{"schemaVersion": 2, "x": "' + b"y" * (5 << 20) + b'"}'))


@case("manifest-deeply-nested", "not valid JSON")
def _(c: Context) -> list[str]:
    return run_image(c.image("r/n", nested_json(50_000)))


@case("manifest-not-json", "not valid JSON")
def _(c: Context) -> list[str]:
    return run_image(c.image("r/o", b"\x00\xffnot json"))


@case("manifest-schema1", "unsupported manifest type")
def _(c: Context) -> list[str]:
    return run_image(c.image("r/p", json.dumps({"schemaVersion": 1, "name": "x"}).encode()))


@case("manifest-digest-mismatch", "expected sha256:")
def _(c: Context) -> list[str]:
    manifest = layer_manifest([])
    c.faults.routes["/v2/r/q/manifests/v1"] = [answer(200, manifest, {
        "Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "0" * 64})]
    return run_image(f"{c.faults.host}/r/q:v1")


@case("same-layer-5000-times", "5000 layers")
def _(c: Context) -> list[str]:
    layer = gzip_bytes(make_tar(tar_file("manifests/x.yaml", b"x: 1\n")))
    return run_image(c.image("r/r", layer_manifest([(layer, sha256_digest(layer))] * 5000)))


@case("layer-descriptor-bad-digest", "unsupported digest")
def _(c: Context) -> list[str]:
    return run_image(c.image("r/s", layer_manifest([(b"x", "md5:abc")])))


@case("redirect-loop", "too many redirects")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/t/manifests/v1"] = [answer(307, b"", {"Location": "/v2/r/t/manifests/v1"})]
    return run_image(f"{c.faults.host}/r/t:v1")


@case("server-error-forever", "HTTP 503", "2 attempts")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/u/manifests/v1"] = [answer(503, b"", {"Retry-After": "0"})]
    return run_image(f"{c.faults.host}/r/u:v1")


@case("connection-refused", "cannot connect")
def _(c: Context) -> list[str]:
    from extractor.demo.localregistry import free_port

    return run_image(f"127.0.0.1:{free_port()}/r/v:v1")


@case("host-label-too-long", "longer than 63")
def _(c: Context) -> list[str]:
    return run_image("a" * 70 + ".example.com/r/w:v1")


@case("tag-list-too-large", "larger than")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/x/tags/list"] = [answer(200, b'{"tags": ["' + b"v" * (6 << 20) + b'"]}')]
    return ["list-versions", f"{c.faults.host}/r/x", "--registry-timeout", "5"]


@case("tag-list-malformed", "malformed tag list")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/y/tags/list"] = [answer(200, b'{"tags": "latest"}')]
    return ["list-versions", f"{c.faults.host}/r/y"]


@case("tag-list-deeply-nested", "malformed tag list")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/r/z/tags/list"] = [answer(200, nested_json(100_000))]
    return ["list-versions", f"{c.faults.host}/r/z"]


# -- mutated bundles ---------------------------------------------------------------------------------
def edit_yaml(path: Path, change: Callable[[Any], Any]) -> None:
    """Change the YAML document in ``path`` in place (``change``'s return value is ignored)."""
    data = yamlio.load(path.read_bytes())
    change(data)
    path.write_text(yamlio.dump(data))


def bundle_case(id: str, mutate: Callable[[Path], None], *expect: str) -> None:
    @case(f"bundle-{id}", *expect)
    def _(c: Context) -> list[str]:
        return ["run", str(c.bundle(mutate)), "-n", "demo"]


def _set(path: str, value: Any) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        def change(csv: Any) -> None:
            node = csv
            keys = path.split(".")
            for key in keys[:-1]:
                node = node[int(key)] if isinstance(node, list) else node[key]
            node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
        edit_yaml(root / CSV, change)
    return mutate


def _crd(change: Callable[[Any], None]) -> Callable[[Path], None]:
    return lambda root: edit_yaml(root / CRD, change)


def _write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    return mutate


LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))

bundle_case("csv-spec-is-a-list", _set("spec", [1, 2]), "ClusterServiceVersion spec is a list")
bundle_case("csv-metadata-annotations", _set("metadata.annotations", "x"), "annotations")
bundle_case("deployment-not-a-mapping", _set("spec.install.spec.deployments.0", "oops"),
            "deployments[0] is a string, not an object")
bundle_case("deployment-spec-missing", _set("spec.install.spec.deployments.0.spec", None), "spec is null")
bundle_case("deployments-not-a-list", _set("spec.install.spec.deployments", {"a": 1}), "deployments is an object")
bundle_case("install-modes-empty", _set("spec.installModes", []), "installModes is empty")
bundle_case("install-mode-not-object", _set("spec.installModes", ["AllNamespaces"]), "installModes[0] is a string")
bundle_case("webhooks-not-a-list", _set("spec.webhookdefinitions", "x"), "webhookdefinitions is a string")
bundle_case("crd-without-names", _crd(lambda crd: crd["spec"].pop("names")), "spec.names needs kind and plural")
bundle_case("crd-without-group", _crd(lambda crd: crd["spec"].pop("group")), "spec.group is missing")
bundle_case("crd-versions-empty", _crd(lambda crd: crd["spec"].update(versions=[])), "spec.versions is empty")
bundle_case("crd-spec-a-string", _crd(lambda crd: crd.update(spec="x")), "spec is a string")
bundle_case("billion-laughs-manifest", _write("manifests/laughs.yaml", LAUGHS), "laughs.yaml", "aliases expanded")
bundle_case("deep-flow-nesting", _write("manifests/deep.yaml", "a: " + "[" * 50_000 + "]" * 50_000),
            "deep.yaml", "nesting deeper")
bundle_case("deep-block-nesting", _write("manifests/deep.yaml", "".join(" " * i + f"k{i}:\n" for i in range(400))
                                         + " " * 400 + "v"), "deep.yaml", "nesting deeper")
bundle_case("recursive-alias", _write("manifests/cycle.yaml", "a: &a [*a]\n"), "cycle.yaml", "contains it")
bundle_case("manifest-not-utf8", _write("manifests/latin1.yaml", b"kind: ConfigMap\nx: caf\xe9\n"), "latin1.yaml")
bundle_case("annotations-invalid-yaml", _write("metadata/annotations.yaml", "annotations: [\n"),
            "metadata/annotations.yaml")
bundle_case("properties-not-objects", _write("metadata/properties.yaml", "properties: [1, 2]\n"),
            "properties.yaml")
bundle_case("olm-properties-not-objects",
            lambda root: (edit_yaml(root / CSV, lambda csv: csv["metadata"]["annotations"].update(
                {"olm.properties": "[1]"})), _write("metadata/properties.yaml", "properties: []\n")(root)),
            "olm.properties")
bundle_case("two-csvs", lambda root: shutil.copy(root / CSV, root / "manifests/second.clusterserviceversion.yaml"),
            "more than one ClusterServiceVersion")
bundle_case("no-csv", lambda root: (root / CSV).unlink(), "no ClusterServiceVersion")


# -- bundles.yaml and command-line input -------------------------------------------------------------
def entry(c: Context, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": str(c.project / "good-bundle"), "namespace": "demo", **extra}


def update(c: Context, *extra: str) -> list[str]:
    return ["update-bundle", "--config", str(c.project / "bundles.yaml"), *extra]


@case("needs-cycle", "needs form a cycle", "a -> b -> a")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", needs=["b"]), entry(c, "b", needs=["a"])])
    return update(c)


@case("needs-itself", "bundle 'a'", "needs itself")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", needs=["a"])])
    return update(c)


@case("needs-unknown", "needs unknown bundle 'zz'")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", needs=["zz"])])
    return update(c)


for _index, _expression in enumerate([
    '$ENV.BUNDLE_EXTRACT_TEST_SECRET | startswith("Zq")',
    "error(env.BUNDLE_EXTRACT_TEST_SECRET)",
    'import "auth" as a {search: "/"}; true',
    "input_filename | error",
    "$__loc__ | error",
    '"\\(env | tostring)" | error',
]):
    @case(f"jq-exfiltration-{_index}", "bundle 'a'", "may only read the objects")
    def _(c: Context, expression: str = _expression) -> list[str]:
        c.config([entry(c, "a", exclude=[expression])])
        return update(c)


@case("jq-runaway", "did not finish within 2s", env={"BUNDLE_EXTRACT_JQ_TIMEOUT": "2"})
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", exclude=["last(range(1e15)) > 0"])])
    return update(c)


@case("jq-runaway-run", "did not finish within 2s", env={"BUNDLE_EXTRACT_JQ_TIMEOUT": "2"})
def _(c: Context) -> list[str]:
    return ["run", str(c.project / "good-bundle"), "-n", "demo", "--exclude", "[limit(1e15; repeat(1))] | true"]


@case("config-billion-laughs", "bundles.yaml", "aliases expanded")
def _(c: Context) -> list[str]:
    c.config(LAUGHS.replace("a: &a", "bundles: []\na: &a"))
    return update(c)


@case("config-deep-nesting", "bundles.yaml", "nesting deeper")
def _(c: Context) -> list[str]:
    c.config("bundles: " + "[" * 5000 + "]" * 5000 + "\n")
    return update(c)


@case("config-not-utf8", "bundles.yaml", "not UTF-8")
def _(c: Context) -> list[str]:
    (c.project / "bundles.yaml").write_bytes(b"bundles:\n  - name: caf\xe9\n")
    return update(c)


@case("config-too-large", "bundles.yaml: larger than 16777216 bytes")
def _(c: Context) -> list[str]:
    with (c.project / "bundles.yaml").open("wb") as handle:  # sparse: 16 MiB + 1 without writing them
        handle.truncate(16 * 1024 * 1024 + 1)
    return update(c)


@case("lock-too-large", "bundles.lock.yaml: larger than 16777216 bytes")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a")])
    with (c.project / "bundles.lock.yaml").open("wb") as handle:
        handle.truncate(16 * 1024 * 1024 + 1)
    return update(c)


@case("config-not-a-mapping", "expected a top-level 'bundles:' list")
def _(c: Context) -> list[str]:
    c.config("- a\n- b\n")
    return update(c)


# -- bundles.yaml patches and extraManifests (one line naming the entry and the field) ------------------
_DEPLOYMENT = {"kind": "Deployment", "name": "webhook-demo-controller-manager"}
for _id, _patch, _fragments in [
    ("patch-malformed", {"target": _DEPLOYMENT, "patch": [{"op": "add", "path": "/a"}]},
     ("patches[0] (Deployment/webhook-demo-controller-manager): patch[0]", "needs a value")),
    ("patch-not-a-list", {"target": _DEPLOYMENT, "patch": {"op": "remove"}}, ("patches[0]", "non-empty list")),
    ("patch-unknown-op", {"target": _DEPLOYMENT, "patch": [{"op": "merge", "path": "/a", "value": 1}]},
     ("patch[0]", "unknown op 'merge'")),
    ("patch-target-missing", {"target": {"kind": "Deployment", "name": "gone"}, "patch": [{"op": "remove",
                                                                                         "path": "/spec"}]},
     ("patches[0] (Deployment/gone)", "no rendered object matches the target")),
    ("patch-test-fails", {"target": _DEPLOYMENT, "patch": [{"op": "test", "path": "/spec/replicas", "value": 9}]},
     ("patches[0] (Deployment/webhook-demo-controller-manager)", "test failed")),
]:
    @case(_id, "bundle 'a'", *_fragments)
    def _(c: Context, patch: dict[str, Any] = _patch) -> list[str]:
        c.config([entry(c, "a", patches=[patch])])
        return update(c)


for _id, _item, _setup, _fragments in [
    ("extra-missing-file", {"path": "nothing.yaml"}, None, ("extraManifests[0]: path 'nothing.yaml'", "not found")),
    ("extra-escaping-path", {"path": "../outside.yaml"}, None, ("extraManifests[0]", "must stay inside")),
    ("extra-not-yaml", {"path": "x.yaml"}, b"a: [unclosed\n", ("extraManifests[0] (x.yaml)", "invalid YAML")),
    ("extra-too-deep", {"path": "x.yaml"}, b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
     ("extraManifests[0] (x.yaml)", "nesting deeper")),
    ("extra-billion-laughs", {"path": "x.yaml"}, None, ("extraManifests[0] (x.yaml)", "aliases expanded")),
    ("extra-not-utf8", {"path": "x.yaml"}, b"kind: caf\xe9\n", ("extraManifests[0] (x.yaml)", "not UTF-8")),
    ("extra-unsupported-kind", {"path": "x.yaml"}, b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
     ("extraManifests[0] (x.yaml)", "Pod 'p': kind not supported")),
    ("extra-sha256-not-hex", {"url": "https://example.com/x.yaml", "sha256": "z" * 64}, None,
     ("extraManifests[0]", "sha256 must be 64 lower-case hex digits")),
    ("extra-http-not-loopback", {"url": "http://example.com/x.yaml", "sha256": "a" * 64}, None,
     ("extraManifests[0]: url", "loopback hosts only")),
]:
    @case(_id, "bundle 'a'", *_fragments)
    def _(c: Context, item: dict[str, str] = _item, data: bytes | None = _setup, case_id: str = _id) -> list[str]:
        if case_id == "extra-billion-laughs":
            data = LAUGHS.encode()
        if data is not None:
            (c.project / "x.yaml").write_bytes(data)
        c.config([entry(c, "a", extraManifests=[item])])
        return update(c)


@case("extra-sha256-mismatch", "bundle 'a': extraManifests[0]: https://files.example/crd.yaml: content has sha256:",
      f"expected sha256:{'0' * 64}")
def _(c: Context) -> list[str]:
    # a real server answers with other bytes than bundles.yaml pins (here: the scripted one)
    c.faults.routes["/files/crd.yaml"] = [answer(200, b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")]
    c.config([entry(c, "a", extraManifests=[{"url": "https://files.example/crd.yaml", "sha256": "0" * 64}])])
    return update(c, "--url-mirror", f"https://files.example=http://{c.faults.host}/files")


@case("extra-url-offline-not-cached", "bundle 'a': extraManifests[0]: https://files.example/crd.yaml",
      "is not in the cache")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", extraManifests=[{"url": "https://files.example/crd.yaml", "sha256": "0" * 64}])])
    return update(c, "--offline")


@case("config-bad-name", "name must be a DNS-1123 label")
def _(c: Context) -> list[str]:
    c.config([entry(c, "Bad_Name")])
    return update(c)


@case("config-environment-not-dns-label", "environment 'Prod_EU': the name must be a DNS-1123 label")
def _(c: Context) -> list[str]:
    path = c.config([entry(c, "a")])
    path.write_text(path.read_text() + "environments:\n  Prod_EU: {kubeContext: prod}\n")
    return update(c)


@case("config-bad-namespace", "is not a DNS-1123 label")
def _(c: Context) -> list[str]:
    c.config([{**entry(c, "a"), "namespace": "{{ .Release.Namespace }}"}])
    return update(c)


@case("config-unknown-postprocessor", "bundle 'a'", "unknown post-processor")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", postprocessors={"no-such-step": {}})])
    return update(c)


@case("alm-examples-deep", "bundle 'a'", "alm-examples")
def _(c: Context) -> list[str]:
    bundle = c.bundle(lambda root: edit_yaml(root / CSV, lambda csv: csv["metadata"]["annotations"].update(
        {"alm-examples": "[" * 10_000 + "]" * 10_000})))
    c.config([{**entry(c, "a"), "image": str(bundle), "postprocessors": {"operator-crs": [
        {"kind": "Widget", "name": "w", "valuesKey": "widget", "fromAlmExample": True}]}}])
    return update(c)


@case("config-bad-render-option", "bundle 'a'", "unknown render option")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a", render={"certProviderr": "none"})])
    return update(c)


@case("two-of-three-entries-fail", "2 bundles failed", "bundle 'b'", "bundle 'c'", lines=3)
def _(c: Context) -> list[str]:
    c.config([entry(c, "a"), {**entry(c, "b"), "image": str(c.tmp / "missing-b")},
              {**entry(c, "c"), "image": str(c.bundle(_set("spec", [1]), name="broken-c"))}])
    return update(c)


@case("run-bad-namespace", "-n/--namespace 'Bad_NS'")
def _(c: Context) -> list[str]:
    return ["run", str(c.project / "good-bundle"), "-n", "Bad_NS"]


@case("run-bad-watch-namespace", "Bad_W")
def _(c: Context) -> list[str]:
    return ["run", str(c.project / "good-bundle"), "-n", "demo", "--watch-namespace", "Bad_W"]


@case("run-missing-directory", "no such bundle directory")
def _(c: Context) -> list[str]:
    return ["run", "./no/such/bundle", "-n", "demo"]


@case("output-under-proc", "cannot write the output here")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a")])
    return update(c, "--output", "/proc/bundle-extract-test")


@case("output-is-a-file", "'--output'", "is a file")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a")])
    (c.tmp / "occupied").write_text("a file where the output directory goes\n")
    return update(c, "--output", str(c.tmp / "occupied"))


@case("version-for-local-entry", "is a local source")
def _(c: Context) -> list[str]:
    c.config([entry(c, "a")])
    return update(c, "--bundle", "a", "--version", "1.2.3")


# -- secrets -----------------------------------------------------------------------------------------
@case("auth-file-not-json", "auth file is not valid JSON")
def _(c: Context) -> list[str]:
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_PASSWORD")
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_USERNAME")
    (c.tmp / "auth.json").write_text(f'{{"auths": {{"x": {{"auth": "{MARKER}"}}')
    c.faults.routes["/v2/s/a/manifests/v1"] = [answer(401, b"", {"WWW-Authenticate": 'Basic realm="r"'})]
    return run_image(f"{c.faults.host}/s/a:v1", "--authfile", str(c.tmp / "auth.json"))


@case("auth-file-deeply-nested", "auth file is not valid JSON")
def _(c: Context) -> list[str]:
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_PASSWORD")
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_USERNAME")
    (c.tmp / "auth.json").write_bytes(nested_json(100_000))
    c.faults.routes["/v2/s/b/manifests/v1"] = [answer(401, b"", {"WWW-Authenticate": 'Basic realm="r"'})]
    return run_image(f"{c.faults.host}/s/b:v1", "--authfile", str(c.tmp / "auth.json"))


@case("credential-helper-fails", "credential helper")
def _(c: Context) -> list[str]:
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_PASSWORD")
    c.env.pop("BUNDLE_EXTRACT_REGISTRY_USERNAME")
    helper = c.tmp / "bin/docker-credential-hostile"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\necho 'fatal: {MARKER}' >&2\necho '{MARKER}'\nexit 1\n")
    helper.chmod(0o755)
    c.env["PATH"] = f"{helper.parent}{os.pathsep}{c.env['PATH']}"
    (c.tmp / "auth.json").write_text(json.dumps({"credHelpers": {c.faults.host: "hostile"}}))
    c.faults.routes["/v2/s/c/manifests/v1"] = [answer(401, b"", {"WWW-Authenticate": 'Basic realm="r"'})]
    return run_image(f"{c.faults.host}/s/c:v1", "--authfile", str(c.tmp / "auth.json"))


@case("password-refused", "access to manifest denied (HTTP 401")
def _(c: Context) -> list[str]:
    c.faults.routes["/v2/s/d/manifests/v1"] = [answer(401, b"", {"WWW-Authenticate": 'Basic realm="r"'}),
                                               answer(401, MARKER.encode(), {"WWW-Authenticate": 'Basic realm="r"'})]
    return run_image(f"{c.faults.host}/s/d:v1")


# -- archives and layers -----------------------------------------------------------------------------
def _pax_bomb(size: int) -> bytes:
    """A tar whose first member is a PAX extended header declaring ``size`` bytes (only the header
    block is real: the body is a run of zeros that gzip squeezes to almost nothing)."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    block = header.tobuf(format=tarfile.USTAR_FORMAT)
    return block + b"\0" * min(size, 64 << 20)


def _gnu_longname(size: int) -> bytes:
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = size
    return header.tobuf(format=tarfile.USTAR_FORMAT) + b"a" * min(size, 8 << 20)


def layer_case(id: str, layer: Callable[[], bytes], *expect: str, extra: tuple[str, ...] = ()) -> None:
    @case(f"layer-{id}", *expect)
    def _(c: Context) -> list[str]:
        ref = f"{c.registry.host}/hostile/{id}:v1"
        push_image(ref, build_image([layer()]))
        return ["run", ref, "-n", "demo", *extra]


layer_case("pax-header-1gib", lambda: _pax_bomb(1 << 30), "extended header of 1073741824 bytes")
layer_case("gnu-longname-64mib", lambda: _gnu_longname(64 << 20), "extended header")
layer_case("path-traversal", lambda: make_tar(tar_file("manifests/../../etc/x", b"x")), "path contains '..'")
layer_case("hardlink-escape", lambda: make_tar(tar_member("manifests/hl", tarfile.LNKTYPE, "../../etc/passwd")),
           "manifests/hl")
layer_case("symlink-escape", lambda: make_tar(tar_member("manifests/link", tarfile.SYMTYPE, "/etc/passwd")),
           "link")
layer_case("device", lambda: make_tar(tar_member("manifests/dev", tarfile.CHRTYPE)), "device")
layer_case("fifo", lambda: make_tar(tar_member("manifests/fifo", tarfile.FIFOTYPE)), "FIFO")
layer_case("too-many-files", lambda: make_tar(*[tar_file(f"manifests/f{i}.yaml", b"a: 1\n") for i in range(50)]),
           "more than 20", extra=("--max-unpacked-files", "20"))
layer_case("too-many-bytes", lambda: make_tar(tar_file("manifests/big.yaml", b"a" * (3 << 20))),
           "1048576", extra=("--max-unpacked-bytes", "1Mi"))


@case("layer-corrupt-gzip", "corrupt layer")
def _(c: Context) -> list[str]:
    ref = f"{c.registry.host}/hostile/corrupt:v1"
    image = build_image([make_tar(tar_file("manifests/x.yaml", b"a: 1\n"))])
    layer = b"\x1f\x8b\x08\x00garbage-not-deflate"
    manifest = json.loads(image.manifest)
    manifest["layers"] = [{"mediaType": manifest["layers"][0]["mediaType"], "digest": sha256_digest(layer),
                           "size": len(layer)}]
    blobs = {d: b for d, b in image.blobs.items() if d != json.loads(image.manifest)["layers"][0]["digest"]}
    push_image(ref, BuiltImage(blobs={**blobs, sha256_digest(layer): layer}, manifest=json.dumps(manifest).encode(),
                               media_type=image.media_type))
    return ["run", ref, "-n", "demo"]


@case("docker-archive-pax-bomb", "extended header")
def _(c: Context) -> list[str]:
    path = c.tmp / "bomb.tar.gz"
    path.write_bytes(gzip.compress(_pax_bomb(1 << 30), compresslevel=1))
    return ["run", f"docker-archive:{path}", "-n", "demo"]


@case("oci-archive-without-index", "index.json")
def _(c: Context) -> list[str]:
    path = c.tmp / "empty.tar"
    path.write_bytes(make_tar(tar_file("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')))
    return ["run", f"oci-archive:{path}", "-n", "demo"]


@case("docker-archive-not-a-tar", "docker-archive")
def _(c: Context) -> list[str]:
    path = c.tmp / "not.tar"
    path.write_bytes(b"just text, no tar at all\n" * 100)
    return ["run", f"docker-archive:{path}", "-n", "demo"]


# -- the harness -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with fault_server() as server:
        yield server


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "cache" not in p.relative_to(root).parts[:1]}


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_cleanly(
    hostile: Case, faults: FaultServer, registry: TestRegistry, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project / "good-bundle")
    auth = tmp_path / "marker-auth.json"
    auth.write_text(json.dumps({"auths": {faults.host: {"auth": MARKER}}}))
    context = Context(tmp=tmp_path / "scratch", faults=faults, registry=registry, project=project)
    context.tmp.mkdir()
    context.env = {
        **os.environ,
        "BUNDLE_EXTRACT_REGISTRY_USERNAME": "user",
        "BUNDLE_EXTRACT_REGISTRY_PASSWORD": MARKER,
        "BUNDLE_EXTRACT_TEST_SECRET": MARKER,
        "BUNDLE_EXTRACT_CACHE_DIR": str(project / "cache"),
        "REGISTRY_AUTH_FILE": str(auth),
        "HOME": str(tmp_path / "home"),
        **dict(hostile.env),
    }
    context.config([entry(context, "good")])
    args = hostile.prepare(context)
    before = _tree(project)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "extractor", *args], capture_output=True, text=True,
                          env=context.env, cwd=project, timeout=DEADLINE * 2, check=False)
    elapsed = time.monotonic() - started
    for path in (project, project / "charts"):
        if path.exists():
            os.chmod(path, 0o755)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode not in (0, 70), f"exit {proc.returncode}:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert len(lines) == hostile.lines, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    for fragment in hostile.expect:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    assert proc.stdout == "", "nothing may be printed as output"
    assert _tree(project) == before, "the project changed"
    assert MARKER not in proc.stdout + proc.stderr
    for path, data in _tree(tmp_path).items():
        if path not in {"marker-auth.json"} and not path.startswith(("scratch/", "project/cache")):
            assert MARKER.encode() not in data, path
    assert elapsed < DEADLINE, f"took {elapsed:.1f}s"


def test_keep_going_writes_what_succeeded(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project / "good-bundle")
    broken = project / "broken-bundle"
    shutil.copytree(FIXTURE, broken)
    edit_yaml(broken / CSV, lambda csv: csv.update(spec=[1]))
    (project / "bundles.yaml").write_text(yamlio.dump({"bundles": [
        {"name": "good", "image": "./good-bundle", "namespace": "demo"},
        {"name": "broken", "image": "./broken-bundle", "namespace": "demo"},
    ]}))
    env = {**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    strict = subprocess.run([sys.executable, "-m", "extractor", "update-bundle"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert strict.returncode == 4 and "bundle 'broken'" in strict.stderr, strict.stderr
    assert not (project / "charts").exists() and not (project / "helmfile.yaml.gotmpl").exists()
    going = subprocess.run([sys.executable, "-m", "extractor", "update-bundle", "--keep-going"], cwd=project,
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert going.returncode == 4 and "bundle 'broken'" in going.stderr, going.stderr
    assert (project / "charts/good/Chart.yaml").is_file()
    assert not (project / "charts/broken").exists()
    helmfile = (project / "helmfile.yaml.gotmpl").read_text()
    assert "name: good" in helmfile and "name: broken" not in helmfile


def test_a_bundle_secret_is_reported(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURE, bundle)
    (bundle / "manifests/secret.yaml").write_text(yamlio.dump(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shipped"}, "stringData": {"k": "v"}}))
    proc = subprocess.run([sys.executable, "-m", "extractor", "run", str(bundle), "-n", "demo"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "warning: the bundle ships Secret 'shipped'" in proc.stderr
    assert "kind: Secret" in proc.stdout
    (tmp_path / "bundles.yaml").write_text(yamlio.dump({"bundles": [
        {"name": "demo", "image": "./bundle", "namespace": "demo"}]}))
    generated = subprocess.run([sys.executable, "-m", "extractor", "update-bundle"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=120, check=False,
                               env={**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")})
    assert generated.returncode == 0, generated.stderr
    assert "warning: bundle 'demo': the bundle ships Secret 'shipped'" in generated.stderr


def test_swap_failure_rolls_everything_back(tmp_path: Path) -> None:
    """The last move fails (its target is a non-empty directory where a file goes): the charts
    already moved go back, and the tree is as before."""
    from extractor.emit.swap import swap_in
    from extractor.errors import EmitError

    root = tmp_path / "out"
    (root / "charts/a").mkdir(parents=True)
    (root / "charts/a/old").write_text("old a")
    (root / "helmfile.yaml.gotmpl").write_text("old helmfile")
    staging = root / ".staging"
    (staging / "charts/a").mkdir(parents=True)
    (staging / "charts/a/new").write_text("new a")
    (staging / "charts/b").mkdir(parents=True)
    (staging / "charts/b/new").write_text("new b")
    (staging / "helmfile").write_text("new helmfile")
    before = {p: d for p, d in _tree(root).items() if not p.startswith(".staging")}
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory must be")
    with pytest.raises(EmitError, match="cannot move the generated output into place"):
        swap_in([(staging / "charts/a", root / "charts/a"), (staging / "charts/b", root / "charts/b"),
                 (staging / "helmfile", root / "helmfile.yaml.gotmpl"),
                 (staging / "charts/b", blocker / "inside")], staging / "previous")
    assert {p: d for p, d in _tree(root).items() if not p.startswith(".staging")} == before


def test_every_family_is_covered() -> None:
    ids = [c.id for c in CASES]
    families = {
        "registry": [i for i in ids if i.startswith(("401", "basic", "unsupported", "token", "huge", "error-body",
                                                      "manifest", "same-layer", "layer-descriptor", "redirect",
                                                      "server", "connection", "host", "tag-list"))],
        "bundle": [i for i in ids if i.startswith("bundle-")],
        "input": [i for i in ids if i.startswith(("needs", "jq", "config", "two-of", "run-", "output", "version"))],
        "secrets": [i for i in ids if i.startswith(("auth", "credential", "password"))],
        "archives": [i for i in ids if i.startswith(("layer-", "docker-archive", "oci-archive"))],
    }
    assert all(len(v) >= 4 for v in families.values()), {k: len(v) for k, v in families.items()}

