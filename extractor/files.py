"""Bounded reads of the project files bundle-extract parses whole (bundles.yaml, bundles.lock.yaml,
the files of ``extraManifests`` paths).

A file past the limit is refused after reading at most one byte more than the limit, so a wrong
path (a device such as ``/dev/zero``, a multi-gigabyte file) costs neither the memory nor the time
of reading it whole. The limit is far above any real project file (the repository's bundles.yaml
is 5 KB, its lock 3 KB).
"""

from __future__ import annotations

from pathlib import Path

from extractor.errors import ConfigError

__all__ = ["MAX_PROJECT_FILE_BYTES", "read_bounded"]

MAX_PROJECT_FILE_BYTES = 16 * 1024 * 1024
"""Bytes a project file may have."""


def read_bounded(path: Path, limit: int = MAX_PROJECT_FILE_BYTES, *, where: str | None = None) -> bytes:
    """The bytes of ``path``. Raises :class:`ConfigError` (``<where>: larger than <limit> bytes``,
    ``where`` defaulting to the path) past ``limit`` bytes; ``OSError`` (``FileNotFoundError``
    included) as :func:`open` raises it, for the caller to word."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{where or path}: larger than {limit} bytes")
    return data
