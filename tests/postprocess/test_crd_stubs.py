from __future__ import annotations

import pytest

from extractor import yamlio
from extractor.errors import ConfigError
from postprocess import crd_stubs
from tests.support.drafts import rendered_draft
from tests.support.kubeschema import validate_objects

SERVICE_MONITOR = {"name": "servicemonitors.monitoring.coreos.com", "kind": "ServiceMonitor", "versions": ["v1"]}


def test_hook_carries_a_valid_minimal_crd_per_item() -> None:
    draft = rendered_draft("lws-operator")
    out = crd_stubs.run(draft, {"items": [SERVICE_MONITOR, {"name": "widgets.example.com", "kind": "Widget",
                                                            "scope": "Cluster", "versions": ["v1", "v1beta1"]}]})
    assert draft.hooks == []  # input untouched
    [hook] = out.hooks
    assert hook.name == "crd-stubs" and hook.events == ("presync",) and hook.command == "bash"
    assert hook.args[:3] == ("-c", crd_stubs.SCRIPT, "crd-stubs")
    pairs = list(zip(hook.args[3::2], hook.args[4::2], strict=True))
    assert [name for name, _ in pairs] == ["servicemonitors.monitoring.coreos.com", "widgets.example.com"]
    crds = [yamlio.load(manifest) for _, manifest in pairs]
    report = validate_objects(crds)
    assert not report.errors and len(report.validated) == 2
    assert crds[0]["spec"]["scope"] == "Namespaced" and crds[0]["spec"]["group"] == "monitoring.coreos.com"
    assert [v["storage"] for v in crds[1]["spec"]["versions"]] == [True, False]
    # the script only creates what is missing; it never applies over an existing CRD
    assert "kubectl get crd" in crd_stubs.SCRIPT and "kubectl apply" not in crd_stubs.SCRIPT


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "at least one"),
        ([{"name": "nogroup", "kind": "X"}], "<plural>.<group>"),
        ([{**SERVICE_MONITOR, "scope": "Global"}], "Namespaced or Cluster"),
        ([{**SERVICE_MONITOR, "kind": "service-monitor"}], "CamelCase"),
        ([{**SERVICE_MONITOR, "versions": []}], "versions"),
        ([{**SERVICE_MONITOR, "colour": 1}], "unknown option"),
    ],
)
def test_bad_options(items: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        crd_stubs.run(rendered_draft("lws-operator"), {"items": items})
