"""The chart draft: data that render produces, post-processors transform and emitters write.

In: the rendered objects (:class:`extractor.model.Manifests`) and the bundle's CRD bytes. Out: a
:class:`ChartDraft` (templates, values, CRD files, hooks) and, once written, a :class:`ReleaseSpec`.
Go-template nodes (:mod:`extractor.draft.gotemplate`) are part of this data: post-processors put
them into objects, the chart writer serialises them. Nothing here writes files or knows about
Helm's command line; this package sits below :mod:`postprocess` and above :mod:`extractor.render`.
"""

from __future__ import annotations

from extractor.draft.chart import ChartDraft, CRDFile, Hook, ImageUse, ReleaseSpec, Template

__all__ = ["CRDFile", "ChartDraft", "Hook", "ImageUse", "ReleaseSpec", "Template"]
