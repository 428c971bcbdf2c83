"""Real ``docker-credential-<name>`` helper scripts for the pull-Secret tests (the programs
``credHelpers`` and ``credsStore`` name, found on PATH)."""

from __future__ import annotations

from pathlib import Path


def write_credential_helper(bin_dir: Path, name: str, secrets: dict[str, str], username: str | None = None) -> Path:
    """Write ``bin_dir/docker-credential-<name>`` (mode 0755, ``bin_dir`` created) and return it.

    Its ``get`` reads a server on stdin and answers ``{"Username": ..., "Secret": ...}`` for the
    servers in ``secrets`` (server -> secret), username ``username`` or, when None,
    ``u-<server>``; any other server gets docker's "credentials not found" answer, exit 1.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    cases = "".join(f'  {server}) printf \'{{"Username":"{username or "u-" + server}","Secret":"{secret}"}}\' ;;\n'
                    for server, secret in secrets.items())
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(f'#!/bin/sh\nread -r server\ncase "$server" in\n{cases}'
                      '  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n')
    script.chmod(0o755)
    return script
