"""``exclude`` (default on): drop rendered objects selected by jq expressions (olm-extractor style).

Options: ``{exclude: [jq...], include: [jq...]}``. Without an ``exclude`` option the built-in
:data:`~extractor.render.filters.DEFAULT_EXCLUDES` apply (the pipeline always passes the entry's
full list). Matching, the sandbox of configuration expressions and the time limit:
:mod:`extractor.render.filters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extractor.draft import ChartDraft
from extractor.render.filters import (
    DEFAULT_EXCLUDES,
    FORBIDDEN,
    JQ_TIMEOUT,
    check_expression,
    compile_expressions,
    filter_objects,
)
from postprocess._common import Options, copy_draft

__all__ = [
    "DEFAULT_EXCLUDES",
    "DOC",
    "FORBIDDEN",
    "JQ_TIMEOUT",
    "check_expression",
    "compile_expressions",
    "filter_objects",
    "run",
]

DOC = "drop objects matching jq expressions (exclude first; include keeps only matches)"


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring)."""
    opts = Options("exclude", options)
    exclude = opts.str_list("exclude", list(DEFAULT_EXCLUDES))
    include = opts.str_list("include")
    opts.done()
    out = copy_draft(draft)
    out.objects = filter_objects(out.objects, exclude, include)
    return out
