"""Review of what a regeneration changes: version discovery (and, as they land, the lock and the
diff report).

In: registry tag lists (through :mod:`extractor.acquire`) and generated outputs. Out: ordered
version lists (:func:`extractor.review.versions.list_versions`). Reads only; never writes
``charts/``.
"""

from __future__ import annotations
