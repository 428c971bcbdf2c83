"""Orchestration: what ties the stages together.

In: bundles.yaml (or one bundle reference for ``run``). Out: ``charts/``, ``helmfile.yaml.gotmpl``
and ``bundles.lock.yaml`` written all or nothing (:mod:`extractor.pipeline.update`), the plain
manifests ``run`` prints (:mod:`extractor.pipeline.build`), and the drift check against the lock
(:mod:`extractor.pipeline.verify`).
"""

from __future__ import annotations

from extractor.pipeline.build import (
    build_chart,
    bundle_warnings,
    drop_excluded_unsupported,
    new_draft,
    render_options_for,
    render_plain,
)
from extractor.pipeline.update import (
    CHARTS_DIR,
    HELMFILE_NAME,
    GenerateResult,
    generate,
    read_release_spec,
    regenerate_helmfile,
    update_bundle,
)
from extractor.pipeline.verify import verify

__all__ = [
    "CHARTS_DIR",
    "HELMFILE_NAME",
    "GenerateResult",
    "build_chart",
    "bundle_warnings",
    "drop_excluded_unsupported",
    "generate",
    "new_draft",
    "read_release_spec",
    "regenerate_helmfile",
    "render_options_for",
    "render_plain",
    "update_bundle",
    "verify",
]
