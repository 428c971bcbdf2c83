"""``openshift-infrastructure-stub``."""

from __future__ import annotations

import pytest

from extractor import yamlio
from extractor.errors import ConfigError
from postprocess import openshift_infrastructure_stub as stub
from tests.support.drafts import rendered_draft


def test_stub_crd_group_and_cr() -> None:
    out = stub.run(rendered_draft("cert-manager-operator"), {})
    [crd] = out.crds
    assert (crd.name, crd.group, crd.condition) == (
        "infrastructures.config.openshift.io",
        "openshift-infrastructure",
        "!openshift.enabled",
    )
    loaded = yamlio.load(crd.data)
    assert loaded["spec"]["scope"] == "Cluster"
    version = loaded["spec"]["versions"][0]
    assert "subresources" not in version
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    assert properties["status"]["x-kubernetes-preserve-unknown-fields"] is True
    [template] = out.templates
    assert template.condition == ".Values.infrastructure.create"
    assert template.obj["metadata"] == {"name": "cluster"}
    assert template.obj["status"] == {
        "platform": "None",
        "controlPlaneTopology": "HighlyAvailable",
        "infrastructureTopology": "HighlyAvailable",
    }
    assert out.values["infrastructure"] == {"create": True}
    assert out.value_bindings == {"infrastructure.create": "!openshift.enabled"}
    assert out.helmfile_values == {"openshift": {"enabled": False}}


def test_values_key_option() -> None:
    out = stub.run(rendered_draft("cert-manager-operator"), {"valuesKey": "openshiftInfrastructure"})
    assert out.templates[0].condition == ".Values.openshiftInfrastructure.create"
    with pytest.raises(ConfigError, match="camelCase"):
        stub.run(rendered_draft("cert-manager-operator"), {"valuesKey": "a-b"})
