"""Write the chart files and the helmfile.

In: a post-processed :class:`extractor.draft.ChartDraft` per bundle. Out: ``charts/<name>/``
(:func:`extractor.emit.chart.write_chart`, which returns the :class:`extractor.draft.ReleaseSpec`
the helmfile needs) and ``helmfile.yaml.gotmpl``
(:func:`extractor.emit.helmfile.write_helmfile`, from the Jinja templates in ``templates/``).
Go templates are never made by text replacement: objects carry
:mod:`extractor.draft.gotemplate` nodes, serialised here. Only this package writes chart files.
"""

from __future__ import annotations
