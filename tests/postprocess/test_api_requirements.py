"""``api-requirements``: the APIs a chart provides and requires, and optional monitoring objects
created only where the cluster serves them (class 4 of issue 13). Charts are written with the real
chart writer and rendered with real helm (3 and 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.draft import ChartDraft, CRDFile, Template
from extractor.emit.chart import write_chart
from extractor.errors import ConfigError, PostProcessError
from postprocess import api_requirements, run_postprocessors
from postprocess.openshift_infrastructure_stub import run as infrastructure_stub
from tests.render import crd
from tests.support.drafts import rendered_draft
from tests.support.project import docs, helm

MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"


def _monitor(name: str = "metrics") -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"endpoints": [{"port": "https"}], "selector": {"matchLabels": {"app": "demo"}}}}


def _draft(*objects: dict[str, Any], templates: list[Template] | None = None) -> ChartDraft:
    return ChartDraft(name="demo", install_namespace="demo", bundle_image=None, bundle_digest=None,
                      csv_name="demo.v1.0.0", csv_version="1.0.0", package="demo", objects=list(objects),
                      templates=templates or [])


def _certificate() -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c", "namespace": "demo"},
            "spec": {"secretName": "c", "issuerRef": {"name": "i"}}}


def test_records_what_the_chart_provides_and_requires() -> None:
    widget_crd = crd("demo.example.com", "widgets", "Widget")
    widget = {"apiVersion": "demo.example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "demo"}}
    vpa = {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler", "metadata": {"name": "v"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo"}}
    draft = _draft(widget_crd, config, _certificate(), vpa, templates=[Template(obj=widget)])
    out = api_requirements.run(draft, {})
    assert out.provides == ["demo.example.com/v1/Widget"]
    assert out.requires == ["autoscaling.k8s.io/v1/VerticalPodAutoscaler", "cert-manager.io/v1/Certificate"]
    assert draft.requires == []  # input untouched
    assert out.objects == draft.objects and "monitoring" not in out.values


def test_crds_added_by_other_postprocessors_count_as_provided() -> None:
    draft = infrastructure_stub(rendered_draft("cert-manager-operator"), {})
    out = api_requirements.run(draft, {})
    assert "config.openshift.io/v1/Infrastructure" in out.provides
    assert not any(r.startswith("config.openshift.io/") for r in out.requires)
    assert "cert-manager.io/v1/Certificate" in out.provides  # cert-manager-operator ships them


def test_monitoring_objects_are_guarded_not_required() -> None:
    out = api_requirements.run(_draft(_monitor(), _certificate()), {})
    assert out.requires == ["cert-manager.io/v1/Certificate"]
    assert [o["kind"] for o in out.objects] == ["Certificate"]
    [guarded] = out.templates
    assert guarded.obj == _monitor()
    assert guarded.condition == api_requirements.monitoring_condition(MONITOR_API)
    assert '.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor"' in guarded.condition
    assert out.values == {"monitoring": {"create": "auto"}}
    assert "monitoring.create" in out.value_docs


def test_guard_switched_off_makes_them_required() -> None:
    out = api_requirements.run(_draft(_monitor()), {"guardMonitoring": False})
    assert out.requires == [MONITOR_API] and not out.templates and len(out.objects) == 1


def test_bad_options_and_a_taken_value() -> None:
    with pytest.raises(ConfigError, match="option 'guardMonitoring' must be true or false"):
        api_requirements.run(_draft(), {"guardMonitoring": "yes"})
    with pytest.raises(ConfigError, match="unknown option"):
        api_requirements.run(_draft(), {"guard": True})
    taken = _draft(_monitor())
    taken.values["monitoring"] = {"spec": {}}
    with pytest.raises(PostProcessError, match="chart value 'monitoring' is taken"):
        api_requirements.run(taken, {})


def _chart(tmp_path: Path) -> Path:
    draft = run_postprocessors(_draft(_monitor()), {})
    chart = tmp_path / "demo"
    write_chart(draft, chart)
    return chart


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_helm_creates_the_monitor_only_where_the_cluster_serves_it(tmp_path: Path, binary: str) -> None:
    chart = _chart(tmp_path)
    helm(binary, "lint", "--strict", str(chart))

    def kinds(*args: str) -> list[str]:
        return [d["kind"] for d in docs(helm(binary, "template", "demo", str(chart), *args).stdout)]

    assert "ServiceMonitor" not in kinds()  # no cluster: only the default API versions
    assert "ServiceMonitor" in kinds("--api-versions", MONITOR_API)
    assert "ServiceMonitor" in kinds("--set", "monitoring.create=true")
    assert "ServiceMonitor" not in kinds("--api-versions", MONITOR_API, "--set", "monitoring.create=false")
    # another version of the API does not count
    assert "ServiceMonitor" not in kinds("--api-versions", "monitoring.coreos.com/v1alpha1/ServiceMonitor")
    values = (chart / "values.yaml").read_text()
    assert yamlio.load(values)["monitoring"] == {"create": "auto"}
    assert "# -- Optional monitoring objects of the bundle" in values


def test_release_spec_carries_provides_requires_and_crd_versions(tmp_path: Path) -> None:
    draft = rendered_draft("cert-manager-operator")
    spec = write_chart(run_postprocessors(draft, {}), tmp_path / "chart")
    assert "cert-manager.io/v1/Certificate" in spec.provides and spec.requires == ()
    assert spec.package == "cert-manager-operator" and spec.version == "1.15.2"
    versions = dict(spec.crd_versions)
    assert versions["certificates.cert-manager.io"] == ("v1",)
    release = yamlio.load((tmp_path / "chart" / "release.yaml").read_bytes())
    assert {"name": "certificates.cert-manager.io", "versions": ["v1"]} in release["crdVersions"]


def test_crd_file_versions_come_from_split_crds() -> None:
    out = run_postprocessors(rendered_draft("sail-operator"), {})
    by_name = {c.name: c for c in out.crds}
    assert by_name["istios.sailoperator.io"].versions == ("v1",)
    assert all(isinstance(c, CRDFile) and c.versions for c in out.crds)
