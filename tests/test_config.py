from __future__ import annotations

from pathlib import Path

import pytest

from extractor.config import DEFAULT_EXCLUDES, load_config, set_entry_version
from extractor.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

SAMPLE = """\
# top comment
bundles:
  # the first one
  - name: a-operator   # trailing comment
    image: registry.example.com/ns/a-bundle
    version: "1.0"
    namespace: a-system
    exclude: ['.kind == "Secret"']
  - name: b-operator
    image: registry.example.com/ns/b-bundle
    version: v2.0.0
    namespace: b-system
    needs: [a-operator]
    defaultExcludes: false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bundles.yaml"
    path.write_text(text)
    return path


def test_project_bundles_yaml_lists_the_three_targets() -> None:
    config = load_config(REPO / "bundles.yaml")
    by_name = {e.name: e for e in config.bundles}
    assert by_name["cert-manager-operator"].reference == (
        "registry.redhat.io/cert-manager/cert-manager-operator-bundle:v1.15.2"
    )
    assert by_name["cert-manager-operator"].namespace == "cert-manager-operator"
    assert by_name["sail-operator"].reference == (
        "registry.redhat.io/openshift-service-mesh/istio-sail-operator-bundle:3.2.1"
    )
    assert by_name["sail-operator"].namespace == "istio-system"
    assert by_name["lws-operator"].reference == "registry.redhat.io/leader-worker-set/lws-operator-bundle:1.0"
    assert by_name["lws-operator"].namespace == "openshift-lws-operator"
    assert config.bundles[0].name == "cert-manager-operator"
    assert "cert-manager-operator" in by_name["sail-operator"].needs


def test_entries_parse_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SAMPLE))
    a, b = config.bundles
    assert a.excludes == (*DEFAULT_EXCLUDES, '.kind == "Secret"')
    assert b.excludes == ()
    assert b.needs == ("a-operator",)
    assert config.entry("b-operator") is b
    with pytest.raises(ConfigError, match=r"no bundle named 'c'.*a-operator, b-operator"):
        config.entry("c")


def test_digest_version_gives_digest_reference(tmp_path: Path) -> None:
    text = SAMPLE.replace('version: "1.0"', 'version: "sha256:' + "a" * 64 + '"')
    entry = load_config(write(tmp_path, text)).bundles[0]
    assert entry.reference == "registry.example.com/ns/a-bundle@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bundles: {}\n", "top-level 'bundles:' list"),
        ("bundles:\n  - name: a\n", "'image' must be a non-empty string"),
        (SAMPLE.replace("a-system", "A_System"), "not a DNS-1123 label"),
        (SAMPLE.replace("needs: [a-operator]", "needs: [zzz]"), "needs unknown bundle 'zzz'"),
        (SAMPLE.replace("name: b-operator", "name: a-operator").replace("needs: [a-operator]", ""),
         "used more than once"),
        (SAMPLE.replace("    defaultExcludes: false\n", "    colour: blue\n"), "unknown key"),
        ("bundles: [\n", "invalid YAML"),
    ],
)
def test_bad_config_is_one_line_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_set_entry_version_keeps_comments_order_and_quoting(tmp_path: Path) -> None:
    path = write(tmp_path, SAMPLE)
    assert set_entry_version(path, "a-operator", "1.1") is True
    text = path.read_text()
    assert text == SAMPLE.replace('version: "1.0"', 'version: "1.1"')
    assert set_entry_version(path, "a-operator", "1.1") is False
    assert set_entry_version(path, "b-operator", "v2.1.0") is True
    assert path.read_text() == SAMPLE.replace('version: "1.0"', 'version: "1.1"').replace("v2.0.0", "v2.1.0")
    with pytest.raises(ConfigError, match="no bundle named"):
        set_entry_version(path, "zzz", "1")


def test_local_sources_resolve_against_the_config_directory(tmp_path: Path) -> None:
    text = SAMPLE.replace("image: registry.example.com/ns/a-bundle\n    version: \"1.0\"\n",
                          "image: ./bundles/a\n").replace("registry.example.com/ns/b-bundle",
                                                          "oci-archive:../b.tar")
    config = load_config(write(tmp_path, text))
    a, b = config.bundles
    assert a.is_local and a.version == "" and a.reference == str(tmp_path / "bundles" / "a")
    assert b.is_local and b.reference == f"oci-archive:{tmp_path.parent / 'b.tar'}"
    # a registry image still needs a version
    with pytest.raises(ConfigError, match="'version' must be a non-empty string"):
        load_config(write(tmp_path, SAMPLE.replace('    version: "1.0"\n', "")))


def test_environments_default_first_then_in_file_order(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, SAMPLE)).environments == {"default": None}
    text = SAMPLE + "environments:\n  prod: {kubeContext: prod-admin@prod}\n  lab:\n  default:\n    kubeContext: dev\n"
    config = load_config(write(tmp_path, text))
    assert list(config.environments.items()) == [("default", "dev"), ("prod", "prod-admin@prod"), ("lab", None)]


@pytest.mark.parametrize(
    ("environments", "message"),
    [
        ("[prod]", "environments must be a mapping"),
        ("{Prod: {}}", "environment 'Prod': the name must be a DNS-1123 label"),
        ("{prod.eu: {}}", "environment 'prod.eu': the name must be a DNS-1123 label"),
        ("{prod: {kubeContext: x, namespace: y}}", "environment 'prod': unknown key.s. namespace"),
        ("{prod: {kubecontext: x}}", "environment 'prod': unknown key.s. kubecontext"),
        ("{prod: {kubeContext: 42}}", "environment 'prod': kubeContext must be a non-empty string .got 42"),
        ("{prod: {kubeContext: [a]}}", "environment 'prod': kubeContext must be a non-empty string"),
        ("{prod: {kubeContext: ''}}", "environment 'prod': kubeContext must be a non-empty string"),
        ("{prod: cluster-a}", "environment 'prod': expected a mapping"),
    ],
)
def test_bad_environment_is_one_line_error_naming_the_file_and_environment(
        tmp_path: Path, environments: str, message: str) -> None:
    path = write(tmp_path, SAMPLE + f"environments: {environments}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


# -- patches and extraManifests ----------------------------------------------------------------------
def with_fields(text: str) -> str:
    """SAMPLE with ``text`` (indented YAML keys) added to the first entry."""
    return SAMPLE.replace("    exclude: ['.kind == \"Secret\"']\n", "    exclude: ['.kind == \"Secret\"']\n" + text)


def test_repo_sail_entry_names_the_gateway_api_crds_with_digests() -> None:
    sail = load_config(REPO / "bundles.yaml").entry("sail-operator")
    urls = [item.url or "" for item in sail.extra_manifests]
    assert len(urls) == 10 and all(item.sha256 and len(item.sha256) == 64 for item in sail.extra_manifests)
    assert sum("/gateway-api/v1.4.0/config/crd/standard/" in u for u in urls) == 6
    assert sum("/gateway-api-inference-extension/v1.2.0/config/crd/bases/" in u for u in urls) == 4


def test_patches_and_extra_manifests_parse(tmp_path: Path) -> None:
    entry = load_config(write(tmp_path, with_fields(
        "    patches:\n"
        "      - target: {kind: Deployment, name: d, namespace: a-system, apiVersion: apps/v1}\n"
        "        patch:\n"
        "          - {op: test, path: /spec/replicas, value: 1}\n"
        "          - {op: move, from: /a, path: /b}\n"
        "    extraManifests:\n"
        "      - path: crds/\n"
        "      - url: https://example.com/x.yaml\n"
        "        sha256: " + "a" * 64 + "\n"))).bundles[0]
    [patch] = entry.patches
    assert (patch.target.kind, patch.target.name, patch.target.namespace, patch.target.api_version) == (
        "Deployment", "d", "a-system", "apps/v1")
    assert patch.operations == ({"op": "test", "path": "/spec/replicas", "value": 1},
                                {"op": "move", "from": "/a", "path": "/b"})
    assert [(m.path, m.url, m.sha256) for m in entry.extra_manifests] == [
        ("crds/", None, None), (None, "https://example.com/x.yaml", "a" * 64)]


@pytest.mark.parametrize(("text", "message"), [
    ("    patches: {a: 1}\n", "patches must be a list"),
    ("    patches: [{target: {kind: D}, patch: [{op: remove, path: /a}]}]\n", r"patches\[0\]: target.name must be"),
    ("    patches: [{target: {kind: D, name: d, colour: x}, patch: [{op: remove, path: /a}]}]\n",
     r"patches\[0\]: target: unknown key\(s\) colour"),
    ("    patches: [{target: {kind: D, name: d}, patch: []}]\n",
     r"patches\[0\] \(D/d\): patch must be a non-empty list"),
    ("    patches: [{target: {kind: D, name: d}, patch: [{op: frobnicate, path: /a}]}]\n",
     r"patches\[0\] \(D/d\): patch\[0\]: unknown op 'frobnicate'"),
    ("    patches: [{target: {kind: D, name: d}, patch: [{op: add, path: /a}]}]\n",
     r"patch\[0\]: op 'add' needs a value"),
    ("    patches: [{target: {kind: D, name: d}, patch: [{op: add, path: a, value: 1}]}]\n",
     r"patch\[0\]: path must be a JSON pointer"),
    ("    patches: [{target: {kind: D, name: d}, patch: [{op: copy, path: /a}]}]\n", r"op 'copy' needs 'from'"),
    ("    patches: [{target: {kind: D, name: d}, patch: [{op: remove, path: /a, value: 1}]}]\n",
     r"unknown key\(s\) value for op 'remove'"),
    ("    patches: [{target: {kind: D, name: d}, patch: [{op: remove, path: /~2}]}]\n", r"patches\[0\] \(D/d\): "),
    ("    extraManifests: {path: x}\n", "extraManifests must be a list"),
    ("    extraManifests: [{path: /etc/passwd}]\n", r"extraManifests\[0\]: path '/etc/passwd' must be relative"),
    ("    extraManifests: [{path: ../x.yaml}]\n", r"extraManifests\[0\]: path '../x.yaml' must stay inside"),
    ("    extraManifests: [{path: a/../../x}]\n", "must stay inside"),
    ("    extraManifests: [{url: 'https://example.com/x'}]\n", r"extraManifests\[0\]: url needs sha256"),
    ("    extraManifests: [{url: 'https://example.com/x', sha256: abc}]\n", "sha256 must be 64 lower-case hex"),
    ("    extraManifests: [{url: 'https://example.com/x', sha256: '" + "A" * 64 + "'}]\n", "sha256 must be 64"),
    ("    extraManifests: [{url: 'http://example.com/x', sha256: '" + "a" * 64 + "'}]\n",
     r"extraManifests\[0\]: url .*plain http:// is allowed for loopback hosts only"),
    ("    extraManifests: [{path: a, url: 'https://example.com/x'}]\n",
     r"expected exactly \{path\} or \{url, sha256\}"),
])
def test_bad_patches_and_extra_manifests(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, with_fields(text))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert f"{path}: bundle 'a-operator': " in str(info.value)
    assert "\n" not in str(info.value)


# -- reading with the C loader (ruamel only to rewrite) ----------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("bundles:\n  - name: a\n    name: b\n", r"invalid YAML: duplicate key 'name' \(line 3\)"),
    ("bundles: []\nbundles: []\n", r"invalid YAML: duplicate key 'bundles' \(line 2\)"),
    ("bundles: [\n", "invalid YAML: "),
    ("bundles:\n" + "  " + "[" * 300 + "]" * 300 + "\n", "invalid YAML: nesting deeper than 200 levels"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)) + "bundles: [*h]\n", "invalid YAML: more than"),
    (SAMPLE.replace('version: "1.0"', "version: 1.0"), r"bundles\[0\]: 'version' must be a non-empty string"),
])
def test_bundles_yaml_errors_stay_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_bundles_yaml_is_read_with_yaml_1_2_core_types(tmp_path: Path) -> None:
    """Unquoted yes/on stay strings (YAML 1.2, as the round-trip reader had them), and so does a date
    (ruamel made it a ``datetime.date``, which no chart file can hold); anchors work."""
    text = SAMPLE.replace("    defaultExcludes: false\n", "    defaultExcludes: false\n    postprocessors:\n"
                          "      x: &opts {a: yes, b: on, c: 2024-01-02, d: 0o17, e: 0x1f, f: 1.5, g: ~}\n"
                          "      y: *opts\n")
    entry = load_config(write(tmp_path, text)).bundles[1]
    expected = {"a": "yes", "b": "on", "c": "2024-01-02", "d": 15, "e": 31, "f": 1.5, "g": None}
    assert entry.postprocessors == {"x": expected, "y": expected}
    assert [type(v) for v in entry.postprocessors["x"].values()] == [str, str, str, int, int, float, type(None)]


def test_reading_bundles_yaml_imports_no_ruamel_or_render_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path, SAMPLE)
    script = ("import sys\nfrom pathlib import Path\nfrom extractor.config import load_config\n"
              f"load_config(Path({str(path)!r}))\n"
              "print(sorted(m for m in sys.modules if m.startswith(('ruamel', 'extractor.render'))))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                          cwd=REPO)
    assert proc.stdout.strip() == "[]"
    assert set_entry_version(path, "a-operator", "1.1") is True  # writing still goes through ruamel
    assert path.read_text() == SAMPLE.replace('version: "1.0"', 'version: "1.1"')
