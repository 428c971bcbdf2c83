"""Registry authentication: answering ``WWW-Authenticate`` challenges, Basic and Bearer tokens.

Follows the distribution token spec (``docs/spec/auth/token.md``): a 401 with a ``Bearer``
challenge names a token realm, which is asked (with the user's credentials as Basic auth, or
anonymously) for a token for the repository scope; tokens are cached per ``(host, scope)`` until
their ``expires_in`` (default 60 s) runs out. A ``Basic`` challenge makes the host get Basic
credentials on every later request. Credentials are looked up at most once per repository.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from extractor import yamlio
from extractor.acquire.credentials import Credentials
from extractor.acquire.reference import Reference, is_insecure
from extractor.acquire.transport import Transport
from extractor.acquire.wire import merge_params, split_url
from extractor.errors import AuthenticationError, RegistryError

__all__ = ["DEFAULT_TOKEN_LIFETIME", "Authenticator", "CredentialsProvider", "parse_challenge"]

DEFAULT_TOKEN_LIFETIME = 60
"""Seconds a token without ``expires_in`` is valid (the token spec's default)."""
_TOKEN_TEXT = re.compile(r"^[\x21-\x7e]{1,65536}$")  # what an HTTP header value can carry
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')

CredentialsProvider = Callable[[Reference], Credentials | None]
"""Returns the credentials to use for a reference (its registry/repository), or ``None``."""


@dataclass
class _Token:
    value: str = field(repr=False)
    expires: float  # time.monotonic() deadline


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``("bearer", {"realm": ..., "service": ..., "scope": ...})`` from a ``WWW-Authenticate`` value.

    The scheme is lower-cased, as are parameter names; an empty header gives ``("", {})``.
    """
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in
              _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def _basic(creds: Credentials) -> str:
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")
    return f"Basic {token}"


class Authenticator:
    """The authentication state of one registry client.

    ``credentials``: called with a reference to get its credentials (``None`` = anonymous).
    ``transport``: used to ask token services. ``basic_hosts``: hosts that asked for Basic auth.
    """

    def __init__(self, transport: Transport, credentials: CredentialsProvider | None) -> None:
        self._transport = transport
        self._credentials = credentials
        self._creds: dict[str, Credentials | None] = {}
        self.basic_hosts: set[str] = set()
        self._tokens: dict[tuple[str, str], _Token] = {}

    def lookup_credentials(self, ref: Reference | None) -> Credentials | None:
        """The credentials for ``ref``'s repository (looked up once, then remembered), or ``None``."""
        if ref is None or self._credentials is None:
            return None
        if ref.name not in self._creds:
            self._creds[ref.name] = self._credentials(ref)
        return self._creds[ref.name]

    def authorization(self, host: str, ref: Reference | None, scope: str) -> str | None:
        """The ``Authorization`` header value for a request to ``host`` in ``scope``, or ``None``."""
        token = self._tokens.get((host, scope))
        if token is not None:
            if time.monotonic() < token.expires:
                return f"Bearer {token.value}"
            del self._tokens[(host, scope)]
        if host in self.basic_hosts:
            creds = self.lookup_credentials(ref)
            if creds is not None:
                return _basic(creds)
        return None

    def answer(self, challenge: str, host: str, ref: Reference | None, label: str, scope: str) -> None:
        """Prepare the next try after a 401 carrying ``challenge`` (the ``WWW-Authenticate`` value).

        Raises :class:`AuthenticationError` when the registry asks for credentials that were not
        found, for an unsupported scheme, or when the token service refuses.
        """
        scheme, params = parse_challenge(challenge)
        if not scheme:
            raise AuthenticationError(f"{label}: {host} answered HTTP 401 without a WWW-Authenticate challenge")
        if scheme == "basic":
            if self.lookup_credentials(ref) is None:
                raise AuthenticationError(
                    f"{label}: {host} requires authentication and no credentials were found "
                    "(use --authfile or --registry-username/--registry-password)"
                )
            self.basic_hosts.add(host)
        elif scheme == "bearer" and params.get("realm"):
            self._fetch_token(host, ref, label, params, params.get("scope") or scope)
            if params.get("scope") and params["scope"] != scope:
                self._tokens[(host, scope)] = self._tokens[(host, params["scope"])]
        else:
            raise AuthenticationError(f"{label}: {host} asked for unsupported authentication {scheme!r}")

    def _fetch_token(
        self, host: str, ref: Reference | None, label: str, params: dict[str, str], scope: str
    ) -> None:
        realm = params.get("realm", "")
        try:
            split_url(realm)  # an absolute http(s) URL with a host and a valid port
            parts = urlsplit(realm)
        except (ValueError, TypeError):
            raise AuthenticationError(f"{label}: registry {host} sent an invalid token realm") from None
        realm_host = parts.netloc.rpartition("@")[2].lower()
        if parts.scheme == "http" and not is_insecure(realm_host, self._transport.insecure_hosts):
            raise AuthenticationError(
                f"{label}: token service {realm_host} is plain HTTP (use --registry-insecure {realm_host})"
            )
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        if scope:
            query["scope"] = scope
        creds = self.lookup_credentials(ref)
        headers = {}
        if creds is not None:
            headers["Authorization"] = _basic(creds)
        request = self._transport.build_request("GET", merge_params(realm, query), headers=headers)
        response = self._transport.send(request, label, stream=False, follow=True)
        if response.status_code in (401, 403):
            who = f"the credentials from {creds.source}" if creds else "anonymous access"
            raise AuthenticationError(
                f"{label}: token service {realm_host} refused {who} (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise RegistryError(f"{label}: token service {realm_host} answered HTTP {response.status_code}")
        try:
            body = yamlio.load_json(response.content)
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError, UnicodeDecodeError):
            raise RegistryError(f"{label}: token service {realm_host} sent a malformed answer") from None
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{label}: token service {realm_host} sent no token")
        if not _TOKEN_TEXT.match(value):
            raise RegistryError(f"{label}: token service {realm_host} sent a token that is not printable ASCII")
        # Refresh a little early so a token does not expire between check and use.
        expires = time.monotonic() + max(lifetime - min(10.0, lifetime / 10), 0.0)
        self._tokens[(host, scope)] = _Token(value, expires)
