"""Review of what a regeneration changes: version discovery, ``outdated``, and the semantic diff
report of two generated projects.

In: registry tag lists (through :mod:`extractor.acquire`) and generated projects (``charts/`` and
the helmfile, from directories or git refs). Out: ordered versions
(:func:`extractor.review.versions.list_versions`), per-entry update verdicts
(:func:`extractor.review.outdated.outdated`), and the review report
(:func:`extractor.review.diff.review`, rendered by :func:`extractor.review.markdown.to_markdown` or
as JSON). Reads only; never writes ``charts/``.

Modules: ``versions`` (tag order, floating tags), ``outdated`` (policy, rebuilds, table/JSON),
``snapshot`` (the two sides: git export, ``helm template``, presync CRDs), ``changes`` (deepdiff
field changes), ``images``, ``rbac``, ``crds``, ``workloads`` (webhooks, Deployments), ``releases``
(helmfile hooks and needs), ``diff`` (matching objects, renames, noise; the report), ``markdown``.
"""

from __future__ import annotations
