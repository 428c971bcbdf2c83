"""postprocess._common.copy_draft: what copy.deepcopy gives (CRDs and value-schema fragments
shared), on the real target drafts after every post-processor has run."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from extractor.draft import ChartDraft
from postprocess._common import copy_draft
from tests.support.drafts import TARGETS, processed_draft


def _deepcopy(draft: ChartDraft) -> ChartDraft:
    """The reference: copy.deepcopy with the shared objects in the memo."""
    memo: dict[int, Any] = {id(o): o for o in draft.objects if o.get("kind") == "CustomResourceDefinition"}
    memo.update((id(crd.obj), crd.obj) for crd in draft.crds if crd.obj is not None)
    memo.update((id(schema), schema) for schema in draft.value_schemas.values())
    return copy.deepcopy(draft, memo)


def _containers(value: Any) -> list[Any]:
    """Every dict and list under ``value`` (itself included), depth first."""
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            stack.extend(item)
    return found


@pytest.mark.parametrize("chart", sorted(TARGETS))
def test_copy_equals_deepcopy_and_shares_only_crds_and_schemas(chart: str) -> None:
    draft = processed_draft(chart)
    out = copy_draft(draft)
    assert out == _deepcopy(draft) == draft
    assert type(out) is ChartDraft and out is not draft
    shared = {id(o) for o in draft.objects if o.get("kind") == "CustomResourceDefinition"}
    shared |= {id(crd.obj) for crd in draft.crds if crd.obj is not None}
    shared |= {id(schema) for schema in draft.value_schemas.values()}
    parsed = [(a.obj, b.obj) for a, b in zip(out.crds, draft.crds, strict=True) if b.obj is not None]
    assert all(a is b for a, b in parsed) and (parsed or chart != "sail-operator")  # the parsed CRDs: shared
    originals = {id(node) for node in _containers([draft.objects, draft.csv, draft.values, draft.helmfile_values])}
    for node in _containers([out.objects, out.csv, out.values, out.helmfile_values]):
        if id(node) in originals:  # a node of the input in the copy: only inside a shared object
            assert any(node is s or any(node is n for n in _containers(s))
                       for s in (*(o for o in draft.objects if id(o) in shared), *(b for _, b in parsed),
                                 *draft.value_schemas.values())), type(node)
    out.values["copy-only"] = True
    out.csv.setdefault("metadata", {})["copy-only"] = True
    assert "copy-only" not in draft.values and "copy-only" not in draft.csv.get("metadata", {})


def test_aliased_nodes_stay_aliased() -> None:
    labels = {"app": "demo"}
    draft = ChartDraft(
        name="demo", install_namespace="demo", bundle_image=None, bundle_digest=None, csv_name="demo.v1",
        csv_version="1.0.0", package="demo",
        objects=[{"kind": "ConfigMap", "metadata": {"labels": labels}},
                 {"kind": "Secret", "metadata": {"labels": labels}}],
    )
    out = copy_draft(draft)
    first, second = (obj["metadata"]["labels"] for obj in out.objects)
    assert first is second and first is not labels and first == labels
