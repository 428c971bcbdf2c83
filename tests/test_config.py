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
