"""HTTP proxies from the environment, as httpx's ``trust_env`` and curl read them.

``http_proxy``/``HTTP_PROXY`` for ``http://`` URLs, ``https_proxy``/``HTTPS_PROXY`` for ``https://``
URLs, ``all_proxy``/``ALL_PROXY`` for both (the lower-case name wins, like urllib; a proxy value
without a scheme means ``http://``). ``no_proxy``/``NO_PROXY``: comma-separated hosts reached
directly: ``*`` (no proxy at all), ``host`` (that host and its subdomains), ``.host`` (subdomains
only), IP addresses, ``localhost``, or ``scheme://host[:port]``. Only ``http://`` proxies are
supported (HTTPS requests go through a ``CONNECT`` tunnel); their ``user:password@`` becomes a
``Proxy-Authorization`` Basic header and never appears in messages. Pure data, no I/O.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from extractor.errors import ConfigError

__all__ = ["Proxies", "Proxy"]


@dataclass(frozen=True)
class Proxy:
    """An ``http://`` proxy: ``host``, ``port`` and the ``Proxy-Authorization`` header value
    (``None`` without credentials). ``name`` is ``host:port``, safe to show."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``host:port`` (``[v6]:port``), without credentials."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, value: str, variable: str) -> Proxy:
        """A proxy from an environment value; :class:`ConfigError` (naming ``variable``, never the
        value: it may hold a password) unless it is an ``http://host[:port]`` URL."""
        text = value.strip()
        if "://" not in text:
            text = "http://" + text
        try:
            parts = urlsplit(text)
            port = parts.port or 80
        except ValueError:
            raise ConfigError(f"{variable}: not a valid proxy URL") from None
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"{variable}: only http:// proxies are supported")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        return cls(parts.hostname, port, authorization)


_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name.lower()) or environ.get(name.upper()) or ""


@dataclass(frozen=True)
class Proxies:
    """The proxy settings of the environment; :meth:`for_url` picks one for a request."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Proxies:
        """Read the variables of the module docstring (``environ`` defaults to ``os.environ``).
        Raises :class:`ConfigError` for an unusable proxy URL."""
        env = os.environ if environ is None else environ
        entries = tuple(h.strip().lower() for h in _env(env, "no_proxy").split(",") if h.strip())
        if "*" in entries:
            return cls()
        every = _env(env, "all_proxy")

        def pick(name: str) -> Proxy | None:
            value = _env(env, name) or every
            variable = name.upper() if _env(env, name) else "ALL_PROXY"
            return Proxy.parse(value, variable) if value else None

        return cls(pick("http_proxy"), pick("https_proxy"), entries)

    def for_url(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for a request to ``scheme://host:port`` (``host`` without brackets), or ``None``."""
        proxy = self.https if scheme == "https" else self.http
        if proxy is None:
            return None
        host = host.lower()
        for entry in self.no_proxy:
            if "://" in entry:
                parts = urlsplit(entry)
                try:
                    entry_port = parts.port or (443 if parts.scheme == "https" else 80)
                except ValueError:
                    continue
                if parts.scheme in (scheme, "all") and parts.hostname == host and (
                    parts.port is None or entry_port == port
                ):
                    return None
                continue
            if entry.startswith("[") and "]" in entry:  # [::1] or [::1]:5000
                name, _, rest = entry[1:].partition("]")
                wanted = rest[1:] if rest.startswith(":") else ""
            else:
                name, _, wanted = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
            if wanted and wanted != str(port):
                continue
            if _IPV4.match(name) or ":" in name or name == "localhost":
                if host == name:
                    return None
            elif name.startswith("."):
                if host.endswith(name):
                    return None
            elif host == name or host.endswith("." + name):
                return None
        return proxy
