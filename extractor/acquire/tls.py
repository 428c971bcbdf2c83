"""TLS trust for registry and URL traffic: the CA files given, and the verifying contexts.

A verifying context is costly to make (certifi's bundle takes about 30 ms of CPU to load, a
system bundle given as ``--registry-ca-file`` about 20 ms), and a run makes many transports (one
per puller, per ``extraManifests`` URL, per thread). So each context is made once per process
(:func:`shared_context`) and a CA file is checked once while it is unchanged
(:func:`check_ca_file`); a forked worker inherits what its parent made. A rewritten file (another
inode, size, modification or change time) counts as another file.
"""

from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path

from extractor.errors import ConfigError

__all__ = ["check_ca_file", "shared_context"]

_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()
_CHECKED_CA_FILES: set[tuple[object, ...] | None] = set()


def check_ca_file(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` holds at least one PEM certificate. A file found
    good is not loaded again while it is unchanged (every transport checks its file)."""
    identity = _identity(str(path))
    if identity in _CHECKED_CA_FILES:
        return
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: CA file not found") from None
    except (OSError, ssl.SSLError, ValueError):
        raise ConfigError(f"{path}: not a PEM CA certificate bundle") from None
    _CHECKED_CA_FILES.add(identity)


def _identity(path: str | None) -> tuple[object, ...] | None:
    """What tells one CA file (or directory) from another, and from itself once rewritten."""
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return (path,)  # loading it fails, and the error is worded then
    return (os.path.abspath(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def shared_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    """The TLS context for ``verify`` and ``ca_file`` that every
    :class:`~extractor.acquire.transport.Transport` of this process uses (see :func:`_ssl_context`),
    made on the first call: a forked worker inherits its parent's. A new context is made when
    ``ca_file``, ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` changed (another path, or the same file
    rewritten). Thread-safe: threads asking at once wait for the one that loads it. Raises
    :class:`ssl.SSLError` or :class:`OSError` when a CA file cannot be loaded."""
    key: tuple[object, ...] = (False,)
    if verify:
        key = (True, _identity(str(ca_file) if ca_file else None),
               _identity(os.environ.get("SSL_CERT_FILE")), _identity(os.environ.get("SSL_CERT_DIR")))
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            context = _CONTEXTS[key] = _ssl_context(ca_file, verify)
    return context


def _ssl_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    """A verifying context as httpx made it (``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else
    certifi's bundle) plus ``ca_file``; or, without ``verify``, one that checks nothing."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if os.environ.get("SSL_CERT_FILE"):
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context
