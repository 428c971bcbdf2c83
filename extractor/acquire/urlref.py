"""URLs of files fetched when charts are generated: what is accepted, and URL mirrors (pure data,
no I/O; the fetching is :mod:`extractor.acquire.urls`).

- ``https://`` URLs; plain ``http://`` only for loopback hosts (``localhost``, ``127.0.0.0/8``,
  ``[::1]``), as for registries (:func:`extractor.acquire.reference.is_loopback`); no credentials;
- :class:`UrlMirror` rewrites URL prefixes (``--url-mirror SRC=DST``, the URL counterpart of the
  registry ``--mirror``): the longest matching source wins, whole path segments only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from extractor.acquire.reference import is_loopback
from extractor.errors import ConfigError

__all__ = ["SHA256_HEX", "UrlMirror", "apply_url_mirrors", "check_url"]

SHA256_HEX = re.compile(r"[a-f0-9]{64}")
_MAX_URL_LENGTH = 2048
_USERINFO = re.compile(r"//[^@]*@")


def _shown(text: object, limit: int = 200) -> str:
    """``text`` quoted for an error message: everything from ``//`` to an ``@`` (a
    ``user:password@``, even one with an unencoded ``/``) replaced by ``***@``
    (a URL rejected for another reason may still hold credentials), at most ``limit`` characters."""
    return repr(_USERINFO.sub("//***@", str(text))[:limit])


def check_url(url: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is an absolute ``https://`` URL, or ``http://`` to
    a loopback host, without credentials (``user:password@``), at most 2048 characters."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL_LENGTH or any(ch.isspace() for ch in url):
        raise ConfigError(f"{_shown(url, 80)} is not a URL")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ConfigError(f"{_shown(url)} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{_shown(url)}: expected an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{parts.scheme}://{parts.hostname}: credentials in URLs are not accepted")
    del port
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.scheme == "http" and not is_loopback(name):
        raise ConfigError(f"{_shown(url)}: plain http:// is allowed for loopback hosts only; use https://")


@dataclass(frozen=True)
class UrlMirror:
    """A URL prefix rewrite: URLs under ``source`` are fetched from ``destination`` instead
    (``https://raw.githubusercontent.com=http://127.0.0.1:8080/raw``). Both sides are URL
    prefixes without a trailing ``/``; a prefix matches whole path segments only."""

    source: str
    destination: str

    @classmethod
    def parse(cls, text: str) -> UrlMirror:
        """Parse ``SRC=DST``; raises :class:`ConfigError` when either side is not a URL prefix."""
        source, sep, destination = text.strip().partition("=")
        if not sep or not source.strip() or not destination.strip():
            raise ConfigError(f"invalid URL mirror {_shown(text)}: expected SRC=DST "
                              "(e.g. https://raw.githubusercontent.com=http://127.0.0.1:8080)")
        source, destination = source.strip().rstrip("/"), destination.strip().rstrip("/")
        for side in (source, destination):
            parts = urlsplit(side)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ConfigError(f"invalid URL mirror {_shown(text)}: {_shown(side)} is not an http(s):// URL prefix")
        try:
            check_url(destination + "/")
        except ConfigError as exc:
            raise ConfigError(f"invalid URL mirror {_shown(text)}: {exc}") from None
        return cls(source, destination)

    def matches(self, url: str) -> bool:
        """True when ``url`` equals ``source`` or continues it with ``/``."""
        return url == self.source or url.startswith(self.source + "/")

    def apply(self, url: str) -> str:
        """``url`` with ``source`` replaced by ``destination`` (``url`` must match)."""
        return self.destination + url[len(self.source):]

    def __str__(self) -> str:
        return f"{self.source}={self.destination}"


def apply_url_mirrors(url: str, mirrors: Iterable[UrlMirror]) -> str:
    """``url`` rewritten by the mirror with the longest matching source (first one on ties), or
    unchanged when none matches."""
    best: UrlMirror | None = None
    for mirror in mirrors:
        if mirror.matches(url) and (best is None or len(mirror.source) > len(best.source)):
            best = mirror
    return best.apply(url) if best else url
