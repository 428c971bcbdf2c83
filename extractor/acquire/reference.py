"""Image references, registry mirrors and the transport (HTTP/HTTPS) used for a registry host.

Grammar accepted by :meth:`Reference.parse` (the Docker / containers-image one, without the
transport prefix)::

    [host[:port]/]path[/path...][:tag][@sha256:<64 hex>]

The first component is a registry host when it contains ``.`` or ``:``, is ``localhost`` or is a
bracketed IPv6 literal (``[::1]:5000``); otherwise the image is on Docker Hub (``docker.io``), whose
one-component names get the ``library/`` namespace. A reference with neither tag nor digest gets
the tag ``latest``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from extractor.errors import ConfigError

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "Mirror",
    "Reference",
    "api_host",
    "apply_mirrors",
    "is_insecure",
    "is_loopback",
    "names_registry",
]

DOCKER_HUB = "docker.io"
"""Canonical name of Docker Hub in references and auth files."""
DOCKER_HUB_API = "registry-1.docker.io"
"""Host that serves Docker Hub's distribution API."""

_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    r"(?::[0-9]{1,5})?"
)


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def names_registry(text: str) -> bool:
    """True when the image reference ``text`` names its registry host explicitly (its first
    ``/``-separated component has a ``.`` or ``:``, is ``localhost`` or ``[IPv6]``), as
    :meth:`Reference.parse` decides; ``quay.io/x`` does, ``library/x`` and ``x`` do not."""
    first, sep, _rest = text.strip().partition("/")
    return bool(sep) and _looks_like_host(first)


def _normalise_host(host: str) -> str:
    if not _HOST.fullmatch(host):
        raise ConfigError(f"invalid registry host {host!r}")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""
    if len(name) > 253 or any(len(label) > 63 for label in name.split(".")):
        raise ConfigError(f"invalid registry host {host[:80]!r}: a DNS label is longer than 63 characters "
                          "or the name longer than 253")
    host = host.lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _check_repository(text: str, repository: str) -> None:
    if not repository or not all(_COMPONENT.fullmatch(part) for part in repository.split("/")):
        raise ConfigError(
            f"invalid image reference {text!r}: repository {repository!r} must be lower-case "
            "path components separated by '/'"
        )


@dataclass(frozen=True)
class Reference:
    """A parsed image reference.

    ``registry``: host[:port] as written (lower-case; ``docker.io`` for Docker Hub).
    ``repository``: the path (``library/`` added for one-component Docker Hub names).
    ``tag``: the tag, or ``None`` when only a digest was given.
    ``digest``: ``sha256:<hex>`` or ``None``. When both are set the digest is what gets pulled.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``text`` (see the module docstring). Raises :class:`ConfigError` when malformed."""
        original = text
        text = text.strip()
        if not text or any(ch.isspace() for ch in text) or "://" in text:
            raise ConfigError(f"invalid image reference {original!r}")
        digest: str | None = None
        if "@" in text:
            text, digest = text.split("@", 1)
            if not _DIGEST.fullmatch(digest):
                raise ConfigError(f"invalid image reference {original!r}: digest must be sha256:<64 hex>")
        first, sep, rest = text.partition("/")
        if sep and _looks_like_host(first):
            registry = _normalise_host(first)
            path = rest
        else:
            registry = DOCKER_HUB
            path = text
        tag: str | None = None
        last_slash = path.rfind("/")
        colon = path.rfind(":")
        if colon > last_slash:
            path, tag = path[:colon], path[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise ConfigError(f"invalid image reference {original!r}: bad tag {tag!r}")
        if registry == DOCKER_HUB and "/" not in path:
            path = "library/" + path
        _check_repository(original, path)
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository`` (no tag, no digest)."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """Host[:port] serving the distribution API (``registry-1.docker.io`` for Docker Hub)."""
        return api_host(self.registry)

    @property
    def selector(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to ``digest`` (the tag is dropped)."""
        return replace(self, tag=None, digest=digest)

    def with_tag(self, tag: str) -> Reference:
        """The same repository at ``tag`` (the digest is dropped)."""
        return replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def api_host(registry: str) -> str:
    """Map a reference's registry to the host serving its API (Docker Hub's differs)."""
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


def _split_host_port(host: str) -> tuple[str, str | None]:
    if host.startswith("["):
        end = host.find("]")
        name = host[1:end]
        rest = host[end + 1 :]
        return name, (rest[1:] if rest.startswith(":") else None)
    name, sep, port = host.rpartition(":")
    return (name, port) if sep else (host, None)


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``[::1]`` (with or without a port)."""
    name, _port = _split_host_port(host.lower())
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, insecure_hosts: Iterable[str] = (), *, loopback: bool = True) -> bool:
    """Whether ``host`` may be reached over plain HTTP / unverified TLS.

    Loopback hosts always are (Docker's default) unless ``loopback`` is false. Other hosts are
    when ``insecure_hosts`` holds ``*``, the exact ``host[:port]``, or the host name without its
    port.
    """
    if loopback and is_loopback(host):
        return True
    host = host.lower()
    name, _port = _split_host_port(host)
    for item in insecure_hosts:
        item = item.strip().lower()
        if item == "*" or item == host or item in (name, f"[{name}]"):
            return True
    return False


@dataclass(frozen=True)
class Mirror:
    """A registries.conf-style mirror: references under ``source`` are pulled from ``destination``.

    ``source``: a registry host or a ``host/namespace`` prefix (``registry.redhat.io/ns``).
    ``destination``: the same shape (``127.0.0.1:5000`` or ``mirror:5000/other``). Prefixes match
    whole path components: ``reg/ns`` matches ``reg/ns/repo`` but not ``reg/nsx/repo``.
    """

    source: str
    destination: str

    @classmethod
    def parse(cls, text: str) -> Mirror:
        """Parse ``SRC=DST``. Raises :class:`ConfigError` when either side is empty or malformed."""
        source, sep, destination = text.strip().partition("=")
        if not sep or not source.strip() or not destination.strip():
            raise ConfigError(
                f"invalid mirror {text!r}: expected SRC=DST (e.g. registry.redhat.io=127.0.0.1:5000)"
            )
        return cls(_normalise_prefix(text, source), _normalise_prefix(text, destination))

    def matches(self, ref: Reference) -> bool:
        """True when ``ref.name`` equals ``source`` or lies under it."""
        return ref.name == self.source or ref.name.startswith(self.source + "/")

    def apply(self, ref: Reference) -> Reference:
        """Rewrite ``ref`` onto ``destination`` (tag and digest kept). ``ref`` must match."""
        rest = ref.name[len(self.source) :]
        target = self.destination + rest
        host, _, repository = target.partition("/")
        _check_repository(target, repository)
        return Reference(registry=host, repository=repository, tag=ref.tag, digest=ref.digest)

    def __str__(self) -> str:
        return f"{self.source}={self.destination}"


def _normalise_prefix(text: str, prefix: str) -> str:
    prefix = prefix.strip().rstrip("/")
    host, sep, path = prefix.partition("/")
    if not host:
        raise ConfigError(f"invalid mirror {text!r}: {prefix!r} has no registry host")
    try:
        host = _normalise_host(host)
    except ConfigError:
        raise ConfigError(f"invalid mirror {text!r}: bad registry host {host!r}") from None
    if sep:
        if not all(_COMPONENT.fullmatch(part) for part in path.split("/")):
            raise ConfigError(f"invalid mirror {text!r}: {path!r} must be lower-case path components")
        return f"{host}/{path}"
    return host


def apply_mirrors(ref: Reference, mirrors: Iterable[Mirror]) -> Reference:
    """Rewrite ``ref`` with the mirror whose ``source`` is the longest matching prefix.

    Returns ``ref`` unchanged when no mirror matches. Ties keep the first mirror given.
    """
    best: Mirror | None = None
    for mirror in mirrors:
        if mirror.matches(ref) and (best is None or len(mirror.source) > len(best.source)):
            best = mirror
    return best.apply(ref) if best else ref
