"""The puller protocol: one backend that fetches an image and unpacks its bundle directories.

:func:`extractor.acquire.make_puller` chooses the backend; backends import this module and
:mod:`extractor.acquire.options`, never the module that chooses them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from extractor.acquire.reference import Reference
from extractor.errors import AcquireError

__all__ = ["KeepDirs", "PullResult", "Puller"]

KeepDirs = Sequence[str] | Callable[[Mapping[str, str]], Sequence[str]]
"""The directories a puller unpacks: names, or a function of the image's labels returning them (a
catalog's ``operators.operatorframework.io.index.configs.v1``)."""


@dataclass(frozen=True)
class PullResult:
    """What a :class:`Puller` produced: ``digest`` of what the reference points to (an index's
    digest for multi-platform images) and ``manifest_digest`` of the platform image manifest."""

    digest: str
    manifest_digest: str


class Puller(Protocol):
    """A backend that fetches an image and unpacks its bundle directories into ``dest``."""

    def pull(self, ref: Reference, dest: Path, *, image: str, keep: KeepDirs = ...,
             skipped: tuple[int, int] | None = None) -> PullResult:
        """Unpack the ``keep`` directories of ``ref`` (a bundle's ``manifests/`` and ``metadata/`` by
        default) into the empty directory ``dest``; ``image`` is the name for errors; ``skipped``:
        ``(bytes, entries)`` caps on the content outside them."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@contextlib.contextmanager
def pulling(puller: Puller, requested: Reference, pulled: Reference, dest: Path) -> Iterator[None]:
    """Around a pull of ``pulled`` (``requested`` after mirroring) into ``dest``: on any error
    ``dest`` is removed and an :class:`AcquireError` names the requested reference and the mirror
    it came from; the puller is closed either way."""
    import shutil  # here: resolving tags (a no-op update-bundle) pulls nothing

    try:
        yield
    except AcquireError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        message = str(exc)
        if pulled != requested and not message.startswith(str(requested)):
            raise type(exc)(f"{requested} (mirror {pulled.registry}): {message}") from None
        raise
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(Exception):
            puller.close()
