"""Default caps on what one image may unpack to (``--max-unpacked-bytes``, ``--max-unpacked-files``)."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_FILES"]

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Default cap on an image's uncompressed bundle content in bytes (``--max-unpacked-bytes``)."""
DEFAULT_MAX_FILES = 10_000
"""Default cap on an image's entries (``--max-unpacked-files``)."""
