"""Bounded reads of the files bundle-extract parses whole: project files (bundles.yaml,
bundles.lock.yaml, the files of ``extraManifests`` paths), the files of a bundle directory, and
the chart files it generated and reads back (``release.yaml``, ``Chart.yaml``, presync CRDs).

Only a regular file is read (a symbolic link is followed to one): a FIFO, a device such as
``/dev/zero`` or a socket is refused before any byte is read, so a wrong path never hangs the
run. A file past the limit is refused after reading at most one byte more than the limit, so a
multi-gigabyte file costs neither the memory nor the time of reading it whole. The limits are far
above any real file (the repository's bundles.yaml is 5 KB, its lock 3 KB; the largest CRD of the
shared corpus is 0.9 MB).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from extractor.errors import ConfigError, ExtractorError

__all__ = ["MAX_MANIFEST_FILE_BYTES", "MAX_PROJECT_FILE_BYTES", "read_bounded"]

MAX_PROJECT_FILE_BYTES = 16 * 1024 * 1024
"""Bytes a project file (or a small generated one: ``release.yaml``, ``Chart.yaml``) may have."""
MAX_MANIFEST_FILE_BYTES = 64 * 1024 * 1024
"""Bytes a file of a bundle directory, or a CRD file of a generated chart, may have."""


def read_bounded(path: Path, limit: int = MAX_PROJECT_FILE_BYTES, *, where: str | None = None,
                 error: type[ExtractorError] = ConfigError) -> bytes:
    """The bytes of the regular file ``path`` (a symbolic link is followed). Raises ``error``
    (``<where>: not a regular file`` or ``<where>: larger than <limit> bytes``, ``where``
    defaulting to the path); ``OSError`` (``FileNotFoundError`` included) as :func:`open` raises
    it, for the caller to word."""
    # non-blocking: opening a FIFO without a writer returns at once (and is then refused) instead
    # of waiting for one; reads of a regular file ignore the flag
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{where or path}: not a regular file")
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{where or path}: larger than {limit} bytes")
    return data
