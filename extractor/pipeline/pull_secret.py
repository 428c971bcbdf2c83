"""The deploy-time pull Secret of a chart: ``bundle-extract pull-secret``.

Each chart's ``pull-secret.values.yaml.gotmpl`` (written by :mod:`extractor.emit.helmfile`) runs
``bundle-extract pull-secret --request -`` through helmfile's ``exec`` with a JSON request on
stdin::

    {"release": <name>, "images": [<reference as in the bundle>, ...], "registries": [<host>, ...],
     "imageRegistryMirrors": {<host[/path]>: <host[/path]>}, "imageOverrides": {<ref>: <ref>}}

The images are rewritten as the chart rewrites them (:func:`postprocess.image_mirrors.rewrite_image`);
the registries of the results (references that still cannot be pulled, such as an unexpanded
placeholder nobody overrode, are skipped), plus the listed registries no image names, are the
registries of the Secret. Credentials are looked up exactly as image pulls look them up
(:func:`extractor.acquire.credentials.find_credentials`: ``--authfile``/``REGISTRY_AUTH_FILE``, else
the auth files in podman's order; ``credHelpers``, ``auths``, ``credsStore``), per image, so a
path-scoped ``auths`` entry is honoured: the Secret holds one ``auths`` entry per registry when
every image there uses the same credential, else one per repository. Nothing is written to disk.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.acquire.credentials import Credentials, HelperAnswers, find_credentials
from extractor.acquire.reference import Reference
from extractor.errors import ConfigError
from postprocess.image_mirrors import image_problem
from postprocess.image_rewrite import check_mirrors, check_overrides, rewrite_image, split_transport

__all__ = ["PullSecret", "Request", "parse_request", "pull_secret_values", "secret_registries"]

_MAX_REQUEST = 4 * 1024 * 1024


@dataclass(frozen=True)
class PullSecret:
    """``values``: the values YAML text (``pullSecret.dockerConfigJson``, ``""`` when no registry
    has a credential); ``missing``: the registries no credential covers (sorted)."""

    values: str
    missing: tuple[str, ...]

    def __repr__(self) -> str:  # the values hold credentials
        return f"PullSecret(missing={self.missing!r})"


@dataclass(frozen=True)
class Request:
    """A parsed request: ``release`` (for messages; may be empty), ``images``, ``registries``,
    ``mirrors``, ``overrides`` (checked)."""

    release: str
    images: list[str]
    registries: list[str]
    mirrors: dict[str, str]
    overrides: dict[str, str]


def parse_request(text: str | bytes) -> Request:
    """The :class:`Request` of a JSON request (see the module docstring). Raises
    :class:`ConfigError` naming the bad field (mirrors: one line naming the value)."""
    if len(text) > _MAX_REQUEST:
        raise ConfigError("pull-secret request: larger than 4 MiB")
    try:
        data = yamlio.load_json(text)
    except ValueError:
        raise ConfigError("pull-secret request: not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError("pull-secret request: must be a JSON object")
    unknown = sorted(set(data) - {"release", "images", "registries", "imageRegistryMirrors", "imageOverrides"})
    if unknown:
        raise ConfigError(f"pull-secret request: unknown field(s) {', '.join(unknown)}")
    lists: dict[str, list[str]] = {}
    for key in ("images", "registries"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"pull-secret request: {key} must be a list of strings")
        lists[key] = value
    release = data.get("release") or ""
    if not isinstance(release, str):
        raise ConfigError("pull-secret request: release must be a string")
    prefix = f"release {release!r}: " if release else ""
    mirrors = check_mirrors(data.get("imageRegistryMirrors"), f"{prefix}imageRegistryMirrors")
    overrides = check_overrides(data.get("imageOverrides"), f"{prefix}imageOverrides")
    return Request(release, lists["images"], lists["registries"], mirrors, overrides)


def secret_registries(images: Sequence[str], registries: Sequence[str], mirrors: Mapping[str, str],
                      overrides: Mapping[str, str]) -> dict[str, list[Reference]]:
    """Registry host -> the pullable references the chart pulls from it once ``mirrors`` and
    ``overrides`` are applied (an empty list for a listed registry no image names; such a host is
    mirrored like a reference ``host/x``). Raises :class:`ConfigError` for a malformed host."""
    by_host: dict[str, list[Reference]] = {}
    for original in images:
        new = rewrite_image(original, mirrors, overrides)
        if image_problem(new) is not None:
            continue  # a placeholder nobody overrode: nothing to pull
        ref = Reference.parse(split_transport(new)[1])
        refs = by_host.setdefault(ref.registry, [])
        if ref not in refs:
            refs.append(ref)
    for host in registries:
        target = rewrite_image(f"{host}/x", mirrors, {})
        try:
            name = Reference.parse(target).registry
        except ConfigError:
            raise ConfigError(f"pull-secret request: registry {host!r} is not a registry host") from None
        by_host.setdefault(name, [])
    return by_host


def _entry(credentials: Credentials) -> dict[str, str]:
    token = f"{credentials.username}:{credentials.password}".encode()
    return {"auth": base64.b64encode(token).decode("ascii")}


def pull_secret_values(
    images: Sequence[str], registries: Sequence[str], mirrors: Mapping[str, str], overrides: Mapping[str, str],
    *, authfile: Path | None = None, env: Mapping[str, str] | None = None,
) -> PullSecret:
    """The chart values filling ``pullSecret.dockerConfigJson`` (see the module docstring).

    Raises :class:`ConfigError` (a malformed auth file or request, a missing ``authfile``) and
    :class:`~extractor.errors.AuthenticationError` (a credential helper that fails or is not on
    ``PATH``); their messages never hold a credential.
    """
    auths: dict[str, Any] = {}
    missing: list[str] = []
    answers: HelperAnswers = {}  # each credential helper runs once per registry, not once per image
    for host, refs in sorted(secret_registries(images, registries, mirrors, overrides).items()):
        probes = refs or [Reference(registry=host, repository="library/x" if host == "docker.io" else "x",
                                    tag="latest")]
        found = [(ref, find_credentials(ref, authfile=authfile, env=env, helper_answers=answers)) for ref in probes]
        usable = [(ref, c) for ref, c in found if c is not None]
        if not usable:
            missing.append(host)
            continue
        distinct = {(c.username, c.password) for _, c in usable}
        if len(distinct) == 1 and len(usable) == len(found):
            auths[host] = _entry(usable[0][1])
        else:
            for ref, credentials in usable:
                auths[ref.name] = _entry(credentials)
            if len(usable) < len(found):
                missing.extend(ref.name for ref, c in found if c is None)
    config = json.dumps({"auths": auths}, sort_keys=True, separators=(",", ":")) if auths else ""
    values = yamlio.dump({"pullSecret": {"dockerConfigJson": config}})
    return PullSecret(values=values, missing=tuple(sorted(missing)))
