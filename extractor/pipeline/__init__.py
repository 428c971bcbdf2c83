"""Orchestration: what ties the stages together.

In: bundles.yaml (or one bundle reference for ``run``). Out: ``charts/``, ``helmfile.yaml.gotmpl``
and ``bundles.lock.yaml`` written all or nothing (:mod:`extractor.pipeline.update`), the plain
manifests ``run`` prints (:mod:`extractor.pipeline.build`), and the drift check against the lock
(:mod:`extractor.pipeline.drift`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from extractor.lazy import lazy_exports

if TYPE_CHECKING:
    from extractor.pipeline.build import (
        build_chart,
        bundle_warnings,
        drop_excluded_unsupported,
        new_draft,
        render_options_for,
        render_plain,
    )
    from extractor.pipeline.drift import verify
    from extractor.pipeline.update import (
        CHARTS_DIR,
        HELMFILE_NAME,
        GenerateResult,
        generate,
        read_release_spec,
        regenerate_helmfile,
        update_bundle,
    )

_EXPORTS = {
    "build_chart": "build",
    "bundle_warnings": "build",
    "drop_excluded_unsupported": "build",
    "new_draft": "build",
    "render_options_for": "build",
    "render_plain": "build",
    "CHARTS_DIR": "update",
    "HELMFILE_NAME": "update",
    "GenerateResult": "update",
    "generate": "update",
    "read_release_spec": "update",
    "regenerate_helmfile": "update",
    "update_bundle": "update",
    "verify": "drift",
}

# Each name loads its submodule on first use: ``run`` needs only ``build``, not the
# helmfile writer, bundles.yaml parsing or the lock.
__getattr__ = lazy_exports(__name__, _EXPORTS)


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
