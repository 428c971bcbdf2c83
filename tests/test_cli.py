"""The command line as users run it: `bundle-extract run` (olm-extractor drop-in),
`update-bundle` for one bundle at a new version, error handling, and `demo`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.tools import tools_dir
from tests.conftest import REPO, SeededRegistry
from tests.support.project import docs, tree, update_bundle
from tests.support.tools import require_shared


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "extractor", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=600, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode not in (0, 70), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_run_by_tag_digest_and_directory_prints_identical_manifests(
    seeded_registry: SeededRegistry, tmp_path: Path
) -> None:
    image = seeded_registry.images["cert-manager-operator"]
    digest = seeded_registry.digests[image]
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    by_tag = cli("run", image, "-n", "cert-manager-operator", env=env)
    assert by_tag.returncode == 0, by_tag.stderr
    by_digest = cli("run", image.split(":")[0] + ":" + image.split(":")[1] + "@" + digest,
                    "-n", "cert-manager-operator", env=env)
    assert by_digest.returncode == 0, by_digest.stderr
    directory = cli("run", str(seeded_registry.bundle_dirs["cert-manager-operator"]), "-n", "cert-manager-operator")
    assert by_tag.stdout == by_digest.stdout == directory.stdout
    objects = docs(by_tag.stdout)
    kinds = [d["kind"] for d in objects]
    assert kinds.count("CustomResourceDefinition") == 8
    deployment = next(d for d in objects if d["kind"] == "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["olm.targetNamespaces"] == ""
    assert annotations["olm.operatorNamespace"] == "cert-manager-operator"


def test_run_through_a_mirror_of_registry_redhat_io(seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    proc = cli("run", "registry.redhat.io/leader-worker-set/lws-operator-bundle:1.0", "-n", "lws",
               "--mirror", seeded_registry.mirror, env={"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    objects = docs(proc.stdout)
    deployment = next(d for d in objects if d["kind"] == "Deployment")
    # OwnNamespace bundle: target namespace is the install namespace
    assert deployment["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == "lws"
    assert {d["kind"] for d in objects} >= {"Role", "RoleBinding", "ServiceAccount", "CustomResourceDefinition"}


def test_run_exclude_and_include_jq(seeded_registry: SeededRegistry) -> None:
    directory = str(seeded_registry.bundle_dirs["sail-operator"])
    everything = docs(cli("run", directory, "-n", "istio-system").stdout)
    assert "ConsoleCLIDownload" in {d["kind"] for d in everything}
    excluded = cli("run", directory, "-n", "istio-system", "--exclude", '.kind == "ConsoleCLIDownload"',
                   "--exclude", '.kind == "CustomResourceDefinition"')
    assert excluded.returncode == 0, excluded.stderr
    kinds = {d["kind"] for d in docs(excluded.stdout)}
    assert "ConsoleCLIDownload" not in kinds and "CustomResourceDefinition" not in kinds
    included = docs(cli("run", directory, "-n", "istio-system", "--include", '.kind == "Deployment"').stdout)
    assert [d["kind"] for d in included] == ["Deployment"]
    bad = cli("run", directory, "-n", "istio-system", "--exclude", ".kind ==")
    assert_one_line_error(bad, ".kind ==")


def test_run_watch_namespace_single(seeded_registry: SeededRegistry) -> None:
    directory = str(seeded_registry.bundle_dirs["cert-manager-operator"])
    proc = cli("run", directory, "-n", "cert-manager-operator", "--watch-namespace", "team-a")
    assert proc.returncode == 0, proc.stderr
    objects = docs(proc.stdout)
    roles = [d for d in objects if d["kind"] == "Role"]
    assert roles and all(r["metadata"]["namespace"] == "team-a" for r in roles)
    # sail supports AllNamespaces only: OLM's error, one line
    sail = cli("run", str(seeded_registry.bundle_dirs["sail-operator"]), "-n", "istio-system",
               "--watch-namespace", "team-a")
    assert_one_line_error(sail, "team-a")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "127.0.0.1:1/nothing/here:1", "-n", "x"], ["127.0.0.1:1/nothing/here:1"]),
        (["run", "/does/not/exist", "-n", "x"], ["/does/not/exist"]),
        (["update-bundle", "--config", "/does/not/bundles.yaml"], ["/does/not/bundles.yaml"]),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(cli(*args), *fragments)


def test_missing_tag_names_the_reference(seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    ref = f"{seeded_registry.host}/cert-manager/cert-manager-operator-bundle:v0.0.0-missing"
    proc = cli("run", ref, "-n", "x", env={"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path)})
    assert_one_line_error(proc, "v0.0.0-missing")


def test_update_one_bundle_to_a_new_version(project: Path, seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    before = tree(copy)
    config_before = (copy / "bundles.yaml").read_text()
    update_bundle(copy, seeded_registry.mirror, tmp_path / "cache", "BUNDLE=sail-operator", "VERSION=3.2.1-rebuild")
    after = tree(copy)
    # bundles.yaml: only that version line changed, comments kept
    config_after = (copy / "bundles.yaml").read_text()
    assert config_after == config_before.replace('version: "3.2.1"', 'version: "3.2.1-rebuild"')
    # the other charts are untouched; the sail chart records the new image and digest
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert changed, "nothing changed"
    allowed = ("bundles.yaml", "bundles.lock.yaml", "helmfile.yaml.gotmpl")
    companion = {"charts/sail-operator-crds/Chart.yaml", "charts/sail-operator-crds/README.md"}
    assert all(p.startswith("charts/sail-operator/") or p in allowed for p in changed - companion), changed
    # the companion CRD chart moves its version (Chart.yaml, README's version line) with the chart;
    # its CRDs are the same
    assert companion <= changed
    old_readme, new_readme = (t["charts/sail-operator-crds/README.md"].decode().splitlines() for t in (before, after))
    readme = [a for a, b in zip(old_readme, new_readme, strict=True) if a != b]
    assert len(readme) == 1 and readme[0].startswith("**Version:** 3.2.1-rev.1 "), readme
    chart = yamlio.load((copy / "charts/sail-operator/Chart.yaml").read_text())
    # same CSV version, new bundle digest: the chart content changed, so its version moves
    assert (chart["appVersion"], chart["version"]) == ("3.2.1", "3.2.1-rev.2")
    rebuild = f"{seeded_registry.host}/openshift-service-mesh/istio-sail-operator-bundle:3.2.1-rebuild"
    assert seeded_registry.digests[rebuild] in str(chart["annotations"])
    assert "3.2.1-rebuild" in str(chart["annotations"])
    # same bundle content: the CRD files are unchanged
    assert not [p for p in changed if "/presync/" in p]


def test_failed_update_changes_nothing(project: Path, seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    before = tree(copy)
    proc = update_bundle(copy, seeded_registry.mirror, tmp_path / "cache", "BUNDLE=sail-operator",
                         "VERSION=9.9.9-missing", check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "9.9.9-missing" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree(copy) == before
    leftovers = [p for p in copy.iterdir() if p.name.startswith(".bundle-extract")]
    assert not leftovers


def test_regenerate_all_keeps_output_deterministic_and_idempotent(
    project: Path, seeded_registry: SeededRegistry, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    before = tree(copy)
    update_bundle(copy, seeded_registry.mirror, tmp_path / "cache")
    assert tree(copy) == before


def test_demo_runs_the_main_job_end_to_end(tmp_path: Path) -> None:
    # HOME points at an empty directory: no user auth file can reach the output
    env = {"HOME": str(tmp_path), "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache"),
           "BUNDLE_EXTRACT_TOOLS": str(tools_dir())}
    proc = cli("demo", "--output", str(tmp_path / "demo"), env=env)
    assert proc.returncode == 0, proc.stderr
    rendered = tmp_path / "demo" / "helmfile-template.yaml"
    objects = docs(rendered.read_text())
    kinds = {d["kind"] for d in objects}
    assert {"Deployment", "CertManager", "Istio", "LeaderWorkerSetOperator"} <= kinds
    assert "helmfile template:" in proc.stdout
    # no credentials were around: no pull Secret rendered
    assert "Secret" not in kinds
    digests = [line.split("(")[-1].rstrip(")") for line in proc.stdout.splitlines() if line.startswith("pushed")]
    assert len(digests) == 3 and all(d.startswith("sha256:") for d in digests)


def test_hand_edits_and_config_changes_trigger_regeneration(
    project: Path, seeded_registry: SeededRegistry, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    before = tree(copy)
    edited = copy / "charts/lws-operator/values.yaml"
    edited.write_text(edited.read_text() + "# a hand edit\n")
    update_bundle(copy, seeded_registry.mirror, tmp_path / "cache")
    assert tree(copy) == before  # the generated file is restored
    # a changed entry (an extra exclusion) regenerates that chart
    config = copy / "bundles.yaml"
    config.write_text(config.read_text().replace(
        "    needs: [cert-manager-operator]\n    postprocessors:\n      image-pull-secrets:",
        "    needs: [cert-manager-operator]\n    exclude: ['.kind == \"Role\"']\n"
        "    postprocessors:\n      image-pull-secrets:", 1))
    update_bundle(copy, seeded_registry.mirror, tmp_path / "cache")
    templates = {p.name for p in (copy / "charts/lws-operator/templates").iterdir()}
    assert not [t for t in templates if t.startswith("role-")], templates


def test_unsupported_kind_is_an_error_unless_excluded_or_allowed(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(REPO / "tests/fixtures/bundles/multi-doc", bundle)
    (bundle / "manifests/zz-widget.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
    base = ["run", str(bundle), "-n", "ns", "--watch-namespace", "a,b"]
    assert_one_line_error(cli(*base), "unsupported resource: Name: w, Kind: Widget", "zz-widget.yaml")
    excluded = cli(*base, "--exclude", '.kind == "Widget"')
    assert excluded.returncode == 0, excluded.stderr
    assert "Widget" not in {d["kind"] for d in docs(excluded.stdout)}
    allowed = cli(*base, "--allow-kind", "Widget")
    assert allowed.returncode == 0, allowed.stderr
    assert "Widget" in {d["kind"] for d in docs(allowed.stdout)}


def test_run_deployment_config_from_a_subscription_or_its_spec_config(tmp_path: Path) -> None:
    bundle = str(REPO / "tests/fixtures/bundles/webhook-demo")
    config = {"nodeSelector": {"kubernetes.io/os": "linux"}, "env": [{"name": "HTTP_PROXY", "value": "p"}],
              "volumes": [{"name": "tmp", "configMap": {"name": "c"}}]}
    subscription = tmp_path / "subscription.yaml"
    subscription.write_text(yamlio.dump({"apiVersion": "operators.coreos.com/v1alpha1", "kind": "Subscription",
                                         "metadata": {"name": "s"}, "spec": {"name": "x", "config": config}}))
    as_json = tmp_path / "config.json"
    as_json.write_text(json.dumps(config))
    outputs = []
    for path in (subscription, as_json):
        proc = cli("run", bundle, "-n", "ns", "--deployment-config", str(path))
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    pod = next(d for d in docs(outputs[0]) if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["containers"][0]["env"] == [{"name": "HTTP_PROXY", "value": "p"}]
    assert pod["volumes"][0] == {"name": "tmp", "configMap": {"name": "c"}}  # replaced by name


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("nodeSelector: [a\n", "invalid YAML/JSON"),
        ("replicas: 3\n", "unknown field(s) replicas"),
        ("env: {A: '1'}\n", "env must be a list"),
        ("- a\n", "expected a Subscription or its spec.config mapping"),
    ],
)
def test_run_bad_deployment_config_is_a_one_line_error_naming_the_file(
    tmp_path: Path, content: str, fragment: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(content)
    proc = cli("run", str(REPO / "tests/fixtures/bundles/webhook-demo"), "-n", "ns", "--deployment-config", str(path))
    assert_one_line_error(proc, str(path), fragment)
    assert proc.returncode == 2
    missing = cli("run", str(REPO / "tests/fixtures/bundles/webhook-demo"), "-n", "ns",
                  "--deployment-config", str(tmp_path / "missing.yaml"))
    assert_one_line_error(missing, str(tmp_path / "missing.yaml"))


def test_bundles_yaml_entry_may_be_a_local_bundle_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "tests/fixtures/bundles/webhook-demo", project / "bundles" / "webhook-demo")
    (project / "bundles.yaml").write_text(
        "bundles:\n  - name: webhook-demo\n    image: ./bundles/webhook-demo\n    namespace: webhook-system\n")
    proc = cli("update-bundle", "--config", str(project / "bundles.yaml"))
    assert proc.returncode == 0, proc.stderr
    chart = yamlio.load((project / "charts/webhook-demo/Chart.yaml").read_text())
    assert "bundle-extract.io/bundle-digest" not in chart.get("annotations", {})
    assert (project / "helmfile.yaml.gotmpl").is_file()
    refused = cli("update-bundle", "--config", str(project / "bundles.yaml"), "--bundle", "webhook-demo",
                  "--version", "2")
    assert_one_line_error(refused, "local source")


def test_notes_and_warnings_reach_stderr(tmp_path: Path) -> None:
    """What departs from OLMv1 is a `note:` line, what needs the user a `warning:` line (issue 13):
    `run` on an Own+Single bundle, `update-bundle` on a webhook chart without cert-manager."""
    kubernaut = require_shared("corpus", "kubernaut-operator-1.5.12")
    proc = cli("run", str(kubernaut), "-n", "kubernaut")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "note: kubernaut-operator.v1.5.12: no AllNamespaces install mode: watching the install namespace "
        "'kubernaut' (OwnNamespace; OLMv1 would require a watch namespace; set watchNamespaces / "
        "--watch-namespace for another)"]
    assert docs(proc.stdout)
    project = tmp_path / "project"
    (project / "bundles").mkdir(parents=True)
    shutil.copytree(REPO / "tests/fixtures/bundles/webhook-demo", project / "bundles" / "webhook-demo")
    (project / "bundles.yaml").write_text(
        "bundles:\n  - name: webhook-demo\n    image: ./bundles/webhook-demo\n    namespace: webhook-system\n")
    proc = cli("update-bundle", "--config", str(project / "bundles.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith(("note:", "warning:"))] == [
        "warning: bundle 'webhook-demo' creates Certificate, Issuer (cert-manager.io/v1), which no entry of "
        "bundles.yaml provides: install cert-manager (the cert-manager Operator or upstream cert-manager; an entry "
        "of bundles.yaml that ships its CRDs is installed first automatically) first (the release's presync hook "
        "checks)"]
