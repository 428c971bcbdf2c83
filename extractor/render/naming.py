"""Object names exactly as OLMv1 computes them, plus the optional readable RBAC names.

OLMv1 sources followed:
- ``rukpak/util/util.go`` ``ObjectNameForBaseAndSuffix`` (63-character truncation of the base);
- ``internal/shared/util/hash/hash.go`` ``DeepHashObject`` (base36 of sha224 over the ``encoding/json``
  encoding, newline included);
- ``rukpak/render/render.go`` ``DefaultUniqueNameGenerator``;
- ``rukpak/render/certprovider.go`` ``CertProvisionerFor`` (webhook Service and certificate names).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_NAME_LENGTH = 63
_DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"

# Go field order of rbacv1.PolicyRule; every field but "verbs" is omitempty.
_POLICY_RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def object_name_for_base_and_suffix(base: str, suffix: str) -> str:
    """``<base>-<suffix>``, the base cut so that the result fits 63 characters (OLMv1 util.go).

    The cut happens only when ``len(base) + len(suffix) > 63`` and keeps ``63 - len(suffix) - 1``
    characters of the base, so (like OLMv1) the base may end in ``.`` or ``-``.
    """
    if len(base) + len(suffix) > MAX_NAME_LENGTH:
        base = base[: MAX_NAME_LENGTH - len(suffix) - 1]
    return f"{base}-{suffix}"


def go_json(value: Any) -> str:
    """Encode ``value`` like Go's ``json.Encoder.Encode``: compact, HTML-escaped, trailing newline.

    Dict keys are written in the order given (callers build Go struct field order).
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def base36(number: int) -> str:
    """Lower-case base36 without padding (Go ``big.Int.Text(36)``)."""
    if number == 0:
        return "0"
    digits: list[str] = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(_DIGITS36[rem])
    return "".join(reversed(digits))


def deep_hash(value: Any) -> str:
    """OLMv1 ``DeepHashObject``: base36(sha224(go_json(value)))."""
    import hashlib  # not at import: run on a small bundle never names anything by hash

    digest = hashlib.sha224(go_json(value).encode("utf-8")).digest()
    return base36(int.from_bytes(digest, "big"))


def _go_policy_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": rule.get("verbs") or None}
    for field in _POLICY_RULE_FIELDS[1:]:
        if rule.get(field):
            out[field] = rule[field]
    return out


def go_permission(service_account: str, rules: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The ``StrategyDeploymentPermissions`` value in Go field order, as OLMv1 hashes it."""
    go_rules = None if rules is None else [_go_policy_rule(r) for r in rules]
    return {"serviceAccountName": service_account, "rules": go_rules}


def olm_rbac_name(csv_name: str, service_account: str, rules: list[dict[str, Any]] | None) -> str:
    """OLMv1 Role/ClusterRole(+Binding) name: ``U("<csv>-<sa or default>", permission)``.

    ``service_account`` is the permission's raw ``serviceAccountName`` (may be ``""``: the hash
    covers the raw value, the base uses ``default``). ``rules`` are the rules as rendered (the
    namespaces rule already appended for promoted permissions).
    """
    base = f"{csv_name}-{service_account or 'default'}"
    return object_name_for_base_and_suffix(base, deep_hash(go_permission(service_account, rules)))


def webhook_service_name(deployment_name: str) -> str:
    """OLMv1/OLMv0 webhook Service name: ``<deployment with . -> ->-service`` (63-char cut)."""
    return object_name_for_base_and_suffix(deployment_name.replace(".", "-"), "service")


def cert_name(service_name: str) -> str:
    """OLMv1/OLMv0 certificate and secret name: ``<service>-cert``."""
    return object_name_for_base_and_suffix(service_name, "cert")


_VERSION_SUFFIX = re.compile(r"\.v?\d+(\.\d+)*([-+][0-9A-Za-z.+-]*)?$")
_INVALID_NAME_CHARS = re.compile(r"[^a-z0-9.-]+")


def csv_base_name(csv_name: str) -> str:
    """The CSV name without its version suffix (``name.v1.15.2`` -> ``name``)."""
    base = _VERSION_SUFFIX.sub("", csv_name)
    return base or csv_name


def _fit(name: str) -> str:
    name = _INVALID_NAME_CHARS.sub("-", name.lower()).strip("-.")
    if len(name) <= MAX_NAME_LENGTH:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{name[: MAX_NAME_LENGTH - len(digest) - 1].rstrip('-.')}-{digest}"


class ReadableNamer:
    """Short, stable, collision-free RBAC names: ``<csv-base>-<sa>-<suffix>``.

    When the service account name already starts with the CSV base, the base is not repeated
    (``cert-manager-operator-controller-manager-role``). Names are unique per kind: a repeat gets
    ``-2``, ``-3``... in call order (which follows the CSV's permission order, hence stable).
    Names longer than 63 characters are cut and end in a short content hash.
    """

    def __init__(self, csv_name: str) -> None:
        self._base = csv_base_name(csv_name)
        self._used: dict[str, set[str]] = {}

    def name(self, kind: str, service_account: str, suffix: str) -> str:
        """A new unique name for an object of ``kind`` (``Role`` / ``ClusterRole``)."""
        sa = service_account or "default"
        stem = sa if sa == self._base or sa.startswith(self._base + "-") else f"{self._base}-{sa}"
        used = self._used.setdefault(kind, set())
        candidate = _fit(f"{stem}-{suffix}")
        counter = 1
        while candidate in used:
            counter += 1
            candidate = _fit(f"{stem}-{suffix}-{counter}")
        used.add(candidate)
        return candidate
