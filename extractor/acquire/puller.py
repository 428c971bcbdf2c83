"""The puller protocol: one backend that fetches an image and unpacks its bundle directories.

:func:`extractor.acquire.make_puller` chooses the backend; backends import this module and
:mod:`extractor.acquire.options`, never the module that chooses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from extractor.acquire.reference import Reference

__all__ = ["PullResult", "Puller"]


@dataclass(frozen=True)
class PullResult:
    """What a :class:`Puller` produced: ``digest`` of what the reference points to (an index's
    digest for multi-platform images) and ``manifest_digest`` of the platform image manifest."""

    digest: str
    manifest_digest: str


class Puller(Protocol):
    """A backend that fetches an image and unpacks its bundle directories into ``dest``."""

    def pull(self, ref: Reference, dest: Path, *, image: str) -> PullResult:
        """Unpack ``ref`` into the empty directory ``dest``; ``image`` is the name for errors."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
