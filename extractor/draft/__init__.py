"""The chart draft: data that render produces, post-processors transform and emitters write.

In: the rendered objects (:class:`extractor.model.Manifests`) and the bundle's CRD bytes. Out: a
:class:`ChartDraft` (templates, values, CRD files, hooks; :mod:`extractor.draft.chart`) and, once written, a
:class:`ReleaseSpec` (:mod:`extractor.draft.release`).
Go-template nodes (:mod:`extractor.draft.gotemplate`) are part of this data: post-processors put
them into objects, the chart writer serialises them. Nothing here writes files or knows about
Helm's command line; this package sits below :mod:`postprocess` and above :mod:`extractor.render`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from extractor.lazy import lazy_exports

if TYPE_CHECKING:
    from extractor.draft.chart import ChartDraft, CRDFile, Template
    from extractor.draft.release import Hook, ImageUse, ReleaseSpec

_EXPORTS = {
    "ChartDraft": "chart",
    "CRDFile": "chart",
    "Template": "chart",
    "Hook": "release",
    "ImageUse": "release",
    "ReleaseSpec": "release",
}

# Each name loads its submodule on first use: reading ``release.yaml`` files (the
# helmfile, a no-op ``update-bundle``) needs only :mod:`extractor.draft.release`, not the draft
# model.
__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = ["CRDFile", "ChartDraft", "Hook", "ImageUse", "ReleaseSpec", "Template"]
