"""Registry credentials, looked up the way podman / skopeo (containers-auth.json(5)) do.

Files, first match wins:

1. the explicit ``--authfile`` (only that file; it must exist),
2. else ``$REGISTRY_AUTH_FILE`` (only that file, like podman's flag default),
3. else, in order: ``$XDG_RUNTIME_DIR/containers/auth.json``,
   ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``, ``${DOCKER_CONFIG:-~/.docker}/config.json``,
   ``~/.dockercfg`` (legacy format: the ``auths`` map at top level).

Inside a file, for ``reg/ns/user/image``: ``credHelpers[reg]`` (a ``docker-credential-<x> get``
helper) first, then the most specific ``auths`` key (``reg/ns/user/image``, ``reg/ns/user``,
``reg/ns``, ``reg``; keys written as URLs such as ``https://index.docker.io/v1/`` match by host),
then ``credsStore``. An entry holds ``auth`` (base64 ``user:password``) or ``username`` /
``password``. Files are only read, never written. Secrets never appear in messages or reprs.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.acquire.reference import DOCKER_HUB, Reference
from extractor.errors import AuthenticationError, ConfigError

__all__ = ["Credentials", "HelperAnswers", "auth_file_candidates", "find_credentials", "lookup_in_file"]


_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HUB_HELPER_URL = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30.0
"""Seconds a ``docker-credential-*`` helper may run."""


@dataclass(frozen=True)
class Credentials:
    """A user name and secret for one registry. ``source`` says where they came from (no secret)."""

    username: str
    password: str = field(repr=False)
    source: str = ""


HelperAnswers = dict[tuple[str, str, bool], "Credentials | None"]
"""Answers of credential helpers already run, by ``(helper, registry, required)``: a caller
looking up many references of one registry passes the same dict so each helper runs once per
registry (a helper is asked for the registry only, never the repository)."""


def auth_file_candidates(authfile: Path | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The auth files to consult, in order (see the module docstring); existing or not.

    ``env`` defaults to ``os.environ``. With ``authfile`` (or ``REGISTRY_AUTH_FILE``) the list has
    that one file.
    """
    env = os.environ if env is None else env
    if authfile is not None:
        return [Path(authfile)]
    if env.get("REGISTRY_AUTH_FILE"):
        return [Path(env["REGISTRY_AUTH_FILE"])]
    home = Path(env.get("HOME") or Path.home())
    paths: list[Path] = []
    if env.get("XDG_RUNTIME_DIR"):
        paths.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    paths.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    paths.append(Path(env.get("DOCKER_CONFIG") or home / ".docker") / "config.json")
    paths.append(home / ".dockercfg")
    return paths


def find_credentials(
    ref: Reference,
    *,
    authfile: Path | None = None,
    username: str | None = None,
    password: str | None = None,
    env: Mapping[str, str] | None = None,
    helper_answers: HelperAnswers | None = None,
) -> Credentials | None:
    """Credentials for ``ref`` (its registry and repository), or ``None`` for anonymous access.

    ``helper_answers``: see :data:`HelperAnswers` (read and filled; ``None``: run helpers every time).

    ``username``/``password`` given explicitly win over every file. Raises :class:`ConfigError`
    when only one of them is given, when an explicit ``authfile`` does not exist, or when an auth
    file is not valid JSON; :class:`AuthenticationError` when a configured credential helper fails.
    """
    if username or password:
        if not (username and password):
            raise ConfigError(f"{ref}: a registry username and password must be given together")
        return Credentials(username, password, "command line")
    env = os.environ if env is None else env
    explicit = authfile is not None or bool(env.get("REGISTRY_AUTH_FILE"))
    for path in auth_file_candidates(authfile, env):
        if not path.is_file():
            if explicit:
                raise ConfigError(f"{path}: auth file not found")
            continue
        found = lookup_in_file(path, ref, helper_answers)
        if found is not None:
            return found
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yamlio.load_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read auth file ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(f"{path}: auth file is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: auth file must hold a JSON object")
    return data


def _normalise_key(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``reg/ns/`` -> ``reg/ns``."""
    key = key.strip()
    had_scheme = "://" in key
    if had_scheme:
        key = key.split("://", 1)[1].split("/", 1)[0]
    key = key.rstrip("/").lower() if had_scheme else key.rstrip("/")
    host, sep, rest = key.partition("/")
    host = host.lower()
    if host in _HUB_HOSTS:
        host = DOCKER_HUB
    return f"{host}/{rest}" if sep and rest else host


def _key_candidates(ref: Reference) -> list[str]:
    parts = ref.name.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _decode_entry(path: Path, key: str, entry: Any) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    source = f"{path} [{key}]"
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"{source}: 'auth' is not base64 of user:password") from None
        user, sep, secret = decoded.partition(":")
        if not sep or not user:
            raise ConfigError(f"{source}: 'auth' is not base64 of user:password")
        return Credentials(user, secret, source)
    name = entry.get("username")
    value = entry.get("password")
    if isinstance(name, str) and name and isinstance(value, str):
        return Credentials(name, value, source)
    return None


def lookup_in_file(path: Path, ref: Reference, helper_answers: HelperAnswers | None = None) -> Credentials | None:
    """Credentials for ``ref`` from one auth file (see the module docstring), or ``None``
    (``helper_answers``: see :data:`HelperAnswers`).

    Raises :class:`ConfigError` for unreadable/malformed files, :class:`AuthenticationError`
    when a credential helper named for the registry fails.
    """
    data = _load(path)
    if path.name == ".dockercfg" and "auths" not in data:
        auths: Any = data
        helpers: Any = {}
        store: Any = None
    else:
        auths = data.get("auths") or {}
        helpers = data.get("credHelpers") or {}
        store = data.get("credsStore")
    if isinstance(helpers, dict):
        for key, helper in sorted(helpers.items()):
            if _normalise_key(key) == ref.registry and isinstance(helper, str) and helper:
                found = _run_helper(helper, ref, required=True, answers=helper_answers)
                if found is not None:
                    return found
    if isinstance(auths, dict):
        normalised: dict[str, Any] = {}
        for key in sorted(auths):
            normalised.setdefault(_normalise_key(key), auths[key])
        for candidate in _key_candidates(ref):
            if candidate in normalised:
                found = _decode_entry(path, candidate, normalised[candidate])
                if found is not None:
                    return found
    if isinstance(store, str) and store:
        return _run_helper(store, ref, required=False, answers=helper_answers)
    return None


def _run_helper(helper: str, ref: Reference, *, required: bool,
                answers: HelperAnswers | None = None) -> Credentials | None:
    """Run ``docker-credential-<helper> get``; ``None`` when it has no entry for the registry.

    A missing ``credsStore`` program (``required=False``) is skipped, like a missing entry. An
    answer in ``answers`` is reused; a new one is stored there (failures raise and are not stored).
    """
    if answers is not None:
        key = (helper, ref.registry, required)
        if key not in answers:
            answers[key] = _run_helper(helper, ref, required=required)
        return answers[key]
    program = f"docker-credential-{helper}"
    import subprocess  # only when a helper is configured: pulls without one load none of this

    from extractor.tools import find_tool

    path = find_tool(program)
    if path is None:
        if required:
            raise AuthenticationError(f"{ref}: credential helper {program} (credHelpers) not found in PATH")
        import logging  # only here: the module imports no logging for every pull

        logging.getLogger(__name__).debug("credential store %s not found; continuing without it", program)
        return None
    server = _HUB_HELPER_URL if ref.registry == DOCKER_HUB else ref.registry
    try:
        proc = subprocess.run(
            [str(path), "get"], input=server, capture_output=True, text=True, timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        raise AuthenticationError(f"{ref}: credential helper {program} failed to run") from None
    if proc.returncode != 0:
        # Helpers print "credentials not found in native keychain" for unknown servers.
        if "not found" in (proc.stdout + proc.stderr).lower():
            return None
        raise AuthenticationError(f"{ref}: credential helper {program} exited with code {proc.returncode}")
    try:
        payload = yamlio.load_json(proc.stdout)
        user = payload["Username"]
        secret = payload["Secret"]
    except (ValueError, KeyError, TypeError):
        raise AuthenticationError(f"{ref}: credential helper {program} gave malformed output") from None
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return None
    return Credentials(user, secret, program)
