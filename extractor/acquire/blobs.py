"""The digest-keyed blob cache: manifests, indexes and layers by ``sha256``, and tag records.

Layout: ``<root>/blobs/sha256/<hex>`` holds blobs, written only after verification (atomically,
through a temporary file); ``<root>/tags/<registry>/<repository>/<tag>`` holds the digest a tag
last resolved to online (what offline mode uses).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from extractor.acquire.manifests import DIGEST_RE
from extractor.acquire.reference import Reference
from extractor.errors import AcquireError

__all__ = ["BlobCache"]


def _holds(path: Path, data: bytes) -> bool:
    """True when ``path`` is a regular file whose content is exactly ``data`` (read at most
    ``len(data) + 1`` bytes); any error reading it is ``False``."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


class BlobCache:
    """Content-addressed files under ``<root>/blobs/sha256/<hex>``; entries are verified on read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where blob ``digest`` (``sha256:<hex>``) lives."""
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or not re.fullmatch(r"[a-f0-9]{64}", hexdigest):
            raise AcquireError(f"unsupported digest {digest[:80]!r}")
        return self.root / "blobs" / "sha256" / hexdigest

    def get(self, digest: str) -> Path | None:
        """The cached file if present and intact; a corrupt entry is deleted and ``None`` returned."""
        path = self.path(digest)
        if not path.is_file():
            return None
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                hasher.update(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            path.unlink(missing_ok=True)
            return None
        return path

    def put_bytes(self, digest: str, data: bytes) -> Path:
        """Store ``data`` (already verified to be ``digest``) atomically; return its path. An entry
        already holding exactly ``data`` is left as it is."""
        path = self.path(digest)
        if _holds(path, data):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # here: a run whose manifests are all cached writes no file

        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def tag_path(self, ref: Reference) -> Path:
        """Where the digest tag ``ref.tag`` of ``ref``'s repository last resolved to is recorded."""
        return self.root / "tags" / ref.registry / ref.repository / (ref.tag or "latest")

    def record_tag(self, ref: Reference, digest: str) -> None:
        """Remember (atomically) that ``ref``'s tag resolved to ``digest`` (a record that says so
        already is left as it is)."""
        path = self.tag_path(ref)
        if _holds(path, (digest + "\n").encode("ascii")):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(digest + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def tag_digest(self, ref: Reference) -> str | None:
        """The digest recorded for ``ref``'s tag, or ``None``."""
        try:
            text = self.tag_path(ref).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if DIGEST_RE.fullmatch(text) else None
