"""Files fetched by URL when a chart is generated (bundles.yaml ``extraManifests: [{url, sha256}]``).

The content is fetched at generation time, never at deploy time, so disconnected clusters can
apply what the chart holds. Rules:

- the URL rules and URL mirrors of :mod:`extractor.acquire.urlref` (``https://``, plain
  ``http://`` for loopback hosts only, also for every redirect followed; ``--url-mirror``);
- one request through :class:`extractor.acquire.transport.Transport` (verified TLS, ``--registry-ca-file``,
  retries of connection errors/429/5xx, a total deadline per try, at most
  :data:`MAX_URL_BYTES` bytes read);
- the body must have the ``sha256`` given (a mismatch names the URL and both digests) and is
  cached by that digest in the blob cache (:class:`extractor.acquire.blobs.BlobCache`): a second
  run and ``--offline`` need no network.

The HTTP client is imported only when something has to be downloaded.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from extractor.acquire.urlref import SHA256_HEX, UrlMirror, apply_url_mirrors, check_url
from extractor.errors import AcquireError, ConfigError, DigestMismatchError, NotCachedError

if TYPE_CHECKING:
    from extractor.acquire.options import AcquireOptions

__all__ = ["MAX_URL_BYTES", "SHA256_HEX", "UrlMirror", "apply_url_mirrors", "check_url", "fetch_url"]

MAX_URL_BYTES = 16 * 1024 * 1024
"""Largest file fetched by URL (the biggest Gateway API CRD is 0.35 MB)."""


def fetch_url(url: str, sha256: str, options: AcquireOptions) -> bytes:
    """The bytes at ``url``, which must hash to ``sha256`` (64 lower-case hex digits).

    Served from the blob cache (``options.cache_dir``) when it holds that digest; otherwise
    fetched (through ``options.url_mirrors``) and cached. Raises :class:`ConfigError` for a bad
    URL or digest, :class:`NotCachedError` offline when not cached, :class:`DigestMismatchError`
    naming the URL and both digests, and :class:`AcquireError`/:class:`RegistryError` (one line
    naming the URL) for HTTP failures, statuses other than 200, and bodies over
    :data:`MAX_URL_BYTES`.
    """
    from extractor.acquire.blobs import BlobCache
    from extractor.acquire.options import default_cache_dir

    check_url(url)
    if not SHA256_HEX.fullmatch(sha256):
        raise ConfigError(f"{url}: sha256 {sha256[:80]!r} is not 64 lower-case hex digits")
    digest = "sha256:" + sha256
    cache = BlobCache(options.cache_dir or default_cache_dir())
    cached = cache.get(digest)
    if cached is not None:
        return cached.read_bytes()
    if options.offline:
        raise NotCachedError(f"{url}: {digest} is not in the cache {cache.root} (fetch it once without --offline)")
    target = apply_url_mirrors(url, options.url_mirrors)
    check_url(target)
    data = _download(url, target, options)
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        via = f" (fetched from {target})" if target != url else ""
        raise DigestMismatchError(f"{url}: content has {actual}, expected {digest}{via}")
    cache.put_bytes(digest, data)
    return data


def _download(url: str, target: str, options: AcquireOptions) -> bytes:
    """A bounded GET of ``target`` (the mirrored ``url``), following at most
    :data:`~extractor.acquire.transport.MAX_REDIRECTS` redirects, each checked by
    :func:`check_url` before it is followed; errors name ``url``."""
    from extractor.acquire.transport import MAX_REDIRECTS, Transport

    transport = Transport(ca_file=options.ca_file, timeout=options.timeout, connect_timeout=options.connect_timeout,
                          retry=options.retry, transport=options.transport)
    try:
        current = target
        for _ in range(MAX_REDIRECTS + 1):
            request = transport.build_request("GET", current)
            response = transport.send(request, url, stream=True, follow=False)
            if response.is_redirect:
                response.close()
                location = urljoin(response.url, response.headers.get("Location", ""))
                try:
                    check_url(location)
                except ConfigError:
                    parts = urlsplit(location)
                    raise AcquireError(f"{url}: redirected to {parts.scheme}://{parts.hostname}; only https:// "
                                       "(http:// on loopback hosts) is followed") from None
                current = location
                continue
            if response.status_code != 200:
                response.close()
                raise AcquireError(f"{url}: HTTP {response.status_code} from {urlsplit(response.url).hostname}")
            return transport.read_body(response, url, MAX_URL_BYTES)
        raise AcquireError(f"{url}: more than {MAX_REDIRECTS} redirects")
    finally:
        transport.close()
