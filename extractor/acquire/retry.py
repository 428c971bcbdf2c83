"""When registry requests are retried (:class:`RetryPolicy`): plain data, no networking imports,
so that options can be built without loading the HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RETRY_STATUSES", "RetryPolicy"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses that are retried (with ``Retry-After`` honoured when the server sends one)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a request is retried after a transient failure.

    Transient: a connection that cannot be made or breaks before the answer (refused, reset,
    connect timeout; not a TLS certificate failure), a blob download cut off mid-stream, and the
    statuses in :data:`RETRY_STATUSES`. ``attempts``: tries per request in total (1 = never
    retry). ``backoff``: seconds before the first retry, doubled for each further one (plus up to
    10 % jitter), at most ``max_delay``; a ``Retry-After`` header (seconds or HTTP date) replaces
    the computed delay. ``budget``: seconds of waiting one request may spend on retries; a retry
    whose delay would exceed it is not made.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 10.0
    budget: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        base: float = min(self.backoff * 2.0 ** (attempt - 1), self.max_delay)
        import random  # only once a request is retried

        return base * (1 + random.random() / 10)
