"""`bundle-extract run --catalog` against the loopback registry (head of the default channel, a
version, another channel, the same objects as running the resolved bundle), its one-line errors,
and configuration parity with olm-extractor: every run flag from BUNDLE_EXTRACT_<FLAG>, --temp-dir."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from extractor.acquire.catalog import CONFIGS_LABEL
from extractor.cli.run import run_command
from tests.support.catalogs import CM, SAIL, CatalogRegistry, catalog_registry  # noqa: F401  (fixture)
from tests.support.project import docs
from tests.test_cli import assert_one_line_error, cli


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache"), **extra}


def test_run_catalog_head_version_and_channel(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    cat = catalog_registry.catalog
    head = cli("run", "--catalog", cat, CM, "-n", "cert-manager-operator", env=env(tmp_path))
    assert head.returncode == 0, head.stderr
    direct = cli("run", str(catalog_registry.bundle_dirs["cm-1.16.2"]), "-n", "cert-manager-operator")
    assert head.stdout == direct.stdout  # the head of stable-v1 is v1.16.2
    pinned = cli("run", "--catalog", cat, f"{CM}:1.15.2", "-n", "cert-manager-operator", env=env(tmp_path))
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout == cli("run", str(catalog_registry.bundle_dirs["cm-1.15.2"]), "-n",
                                "cert-manager-operator").stdout
    channel = cli("run", "--catalog", cat, "--channel", "stable-v1.15", CM, "-n", "cert-manager-operator",
                  env=env(tmp_path))
    assert channel.stdout == pinned.stdout
    by_name = cli("run", "--catalog", cat, f"{CM}:{CM}.v1.15.2", "-n", "cert-manager-operator", env=env(tmp_path))
    assert by_name.stdout == pinned.stdout
    # the same through the environment, as olm-extractor documents it
    through_env = cli("run", SAIL, env=env(tmp_path, BUNDLE_EXTRACT_CATALOG=cat, BUNDLE_EXTRACT_CHANNEL="stable-3.2",
                                            BUNDLE_EXTRACT_NAMESPACE="istio-system"))
    assert through_env.returncode == 0, through_env.stderr
    assert through_env.stdout == cli("run", str(catalog_registry.bundle_dirs["sail-3.2.3"]), "-n",
                                     "istio-system").stdout


@pytest.mark.parametrize(("args", "fragments", "code"), [
    (["cert-manager"], ["operator-index:v1: no package 'cert-manager' (packages: cert-manager-operator, "
                        "servicemeshoperator3)"], 2),
    ([f"{CM}:1.16.2", "--channel", "stable-v1.15"], ["version '1.16.2' of package 'cert-manager-operator' is not in "
                                                     "channel 'stable-v1.15' (versions: 1.14.0, 1.15.2)"], 2),
    ([CM, "--channel", "fast"], ["has no channel 'fast' (channels: stable-v1, stable-v1.15; default: stable-v1)"], 2),
    ([f"{CM}:"], ["expected PACKAGE or PACKAGE:VERSION"], 2),
])
def test_catalog_resolution_errors_list_what_exists(
    catalog_registry: CatalogRegistry, tmp_path: Path, args: list[str], fragments: list[str], code: int,  # noqa: F811
) -> None:
    proc = cli("run", "--catalog", catalog_registry.catalog, *args, "-n", "ns", env=env(tmp_path))
    assert_one_line_error(proc, *fragments)
    assert proc.returncode == code
    assert proc.stdout == ""


def test_catalog_image_errors(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    proc = cli("run", "--catalog", catalog_registry.no_label, CM, "-n", "ns", env=env(tmp_path))
    assert_one_line_error(proc, "not a file-based catalog image", CONFIGS_LABEL)
    assert proc.returncode == 9
    proc = cli("run", "--channel", "stable", CM, "-n", "ns")
    assert_one_line_error(proc, "--channel needs --catalog")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "c.json").write_text((catalog_registry.fbc / CM / "catalog.json").read_text().replace(
        f'"name": "{CM}.v1.14.0"\n', f'"name": "{CM}.v1.14.0", "replaces": "{CM}.v1.16.0"\n', 1))
    proc = cli("run", "--catalog", str(broken), CM, "-n", "ns")
    assert_one_line_error(proc, "c.json: document 2", "cycle in replaces")
    assert proc.stdout == ""


def test_every_run_flag_has_its_environment_variable() -> None:
    missing = []
    for param in run_command.params:
        if isinstance(param, click.Option):
            flag = max(param.opts, key=len).lstrip("-")
            if param.envvar != "BUNDLE_EXTRACT_" + flag.upper().replace("-", "_"):
                missing.append((flag, param.envvar))
    assert missing == []
    assert len([p for p in run_command.params if isinstance(p, click.Option)]) >= 28


def test_flags_from_the_environment(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    bundle = str(catalog_registry.bundle_dirs["cm-1.15.2"])
    expected = cli("run", bundle, "-n", "cm", "--exclude", '.kind == "ClusterRole"', "--exclude",
                   '.kind == "Deployment"', "--rbac-names", "readable", "--cert-manager-enabled", "false")
    assert expected.returncode == 0, expected.stderr
    through_env = cli("run", bundle, env={
        "BUNDLE_EXTRACT_NAMESPACE": "cm", "BUNDLE_EXTRACT_EXCLUDE": '.kind == "ClusterRole"\n.kind == "Deployment"\n',
        "BUNDLE_EXTRACT_RBAC_NAMES": "readable", "BUNDLE_EXTRACT_CERT_MANAGER_ENABLED": "false"})
    assert through_env.stdout == expected.stdout
    kinds = {d["kind"] for d in docs(expected.stdout)}
    assert "Deployment" not in kinds and "ClusterRole" not in kinds and "CustomResourceDefinition" in kinds
    # a flag wins over its variable
    flag_wins = cli("run", bundle, "-n", "cm", env={"BUNDLE_EXTRACT_NAMESPACE": "Not_A_Namespace"})
    assert flag_wins.returncode == 0, flag_wins.stderr
    bad = cli("run", bundle, env={"BUNDLE_EXTRACT_NAMESPACE": "cm", "BUNDLE_EXTRACT_REGISTRY_TIMEOUT": "soon"})
    assert_one_line_error(bad, "--registry-timeout", "soon")


def test_temp_dir_receives_the_unpacked_images(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    temp = tmp_path / "scratch" / "deeper"
    proc = cli("run", "--catalog", catalog_registry.catalog, CM, "-n", "cm", "--temp-dir", str(temp),
               env=env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert temp.is_dir() and list(temp.iterdir()) == []  # created, used, and cleaned up
    proc = cli("run", "--catalog", catalog_registry.catalog, CM, "-n", "cm",
               env=env(tmp_path, BUNDLE_EXTRACT_TEMP_DIR=str(tmp_path / "t2"), TMPDIR=str(tmp_path / "none")))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "t2").is_dir() and not (tmp_path / "none").exists()
    (tmp_path / "file").write_text("")
    bad = cli("run", "x", "-n", "cm", "--temp-dir", str(tmp_path / "file" / "sub"))
    assert_one_line_error(bad, "--temp-dir")


def test_list_versions_of_a_catalog_entry_points_to_outdated(tmp_path: Path) -> None:
    (tmp_path / "bundles.yaml").write_text("bundles:\n  - name: cm\n    catalog: ./fbc\n    package: p\n"
                                           "    namespace: ns\n")
    proc = cli("list-versions", "--config", str(tmp_path / "bundles.yaml"), "--bundle", "cm")
    assert_one_line_error(proc, "bundle 'cm' comes from catalog ./fbc", "'bundle-extract outdated'")
    assert proc.returncode == 2
