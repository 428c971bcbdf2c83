"""What releases need from each other: ``needs`` derived from the charts, with a note or a warning
for each dependency, run over the whole project before the helmfile is written.

Two sources, both beyond OLMv1 (which installs a bundle's dependencies never, and refuses nothing):

* the APIs a chart creates objects of without providing them (``ReleaseSpec.requires``, see
  :mod:`postprocess.api_requirements`), e.g. cert-manager ``Certificate``/``Issuer`` of webhooks:
  a release of bundles.yaml whose CRDs provide one is added to ``needs`` (installed first); what no
  release provides is checked by the ``require-apis`` presync hook (:mod:`extractor.emit.checks`)
  and reported here as a warning;
* the bundle's dependencies (``metadata/dependencies.yaml`` and requirement properties, as OLMv0's
  resolver reads them: ``olm.package`` ``{packageName, version}`` with a blang/semver range,
  ``olm.gvk`` ``{group, version, kind}``, ``olm.package.required``/``olm.gvk.required``, and
  ``olm.constraint`` with ``package`` ``{packageName, versionRange}``, ``gvk``, ``all``, ``any``,
  ``not`` or ``cel``): a release that satisfies one is added to ``needs``; a missing one is a
  warning naming the package or GVK. ``not`` and ``cel`` constraints cannot be decided from
  bundles.yaml and are reported as not checked.

The first satisfying release in bundles.yaml order is chosen; an edge that would make ``needs``
cyclic is not added (warning). Added ``needs`` reach the helmfile only: bundles.yaml and the
charts' ``release.yaml`` keep what the user wrote.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from extractor.draft import ReleaseSpec
from extractor.emit.checks import install_hint, needs_closure

__all__ = ["Resolution", "resolve_needs", "version_in_range"]


@dataclass
class Resolution:
    """The specs with derived ``needs``, and one-line notes and warnings for a person."""

    specs: list[ReleaseSpec]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- blang/semver v4 ranges (what OLM's resolver parses) -----------------------------------------

_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(>=|<=|!=|==|=|>|<|!)?\s*(\S+)$")
_Version = tuple[int, int, int, tuple[tuple[int, int | str], ...]]


def _parse(text: str) -> tuple[_Version, int] | None:
    """``(version, wildcard position)``: position 1/2 for ``1.x``/``1.2.x``, 3 for a full version."""
    match = _SEMVER.match(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    wild = 3
    if minor is None or minor in "xX*":
        wild = 1
    elif patch is None or patch in "xX*":
        wild = 2
    numbers = [int(major), int(minor) if wild > 1 else 0, int(patch) if wild > 2 else 0]
    identifiers = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")) if pre else ()
    return (numbers[0], numbers[1], numbers[2], identifiers), wild


def _key(version: _Version) -> tuple[Any, ...]:
    # a pre-release sorts before its release; identifiers numeric < alphanumeric (SemVer 2)
    return (*version[:3], 0 if version[3] else 1, version[3])


def _check(op: str, have: _Version, want: _Version, wild: int) -> bool:
    if wild < 3:  # 1.x / 1.2.x: [low, next) (blang expandWildcardVersion)
        low = (want[0], want[1] if wild == 2 else 0, 0, ())
        high = (want[0] + 1, 0, 0, ()) if wild == 1 else (want[0], want[1] + 1, 0, ())
        inside = _key(low) <= _key(have) < _key(high)
        return {"": inside, "=": inside, "==": inside, "!=": not inside, "!": not inside,
                ">": _key(have) >= _key(high), ">=": _key(have) >= _key(low),
                "<": _key(have) < _key(low), "<=": _key(have) < _key(high)}[op]
    a, b = _key(have), _key(want)
    return {"": a == b, "=": a == b, "==": a == b, "!=": a != b, "!": a != b,
            ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def version_in_range(version: str, expression: str) -> bool | None:
    """Whether ``version`` satisfies the blang/semver range ``expression`` (``>=1.0.0 <2.0.0``,
    ``1.2.x``, ``0.13.0`` = exactly, ``||`` between alternatives); ``None`` when either does not
    parse."""
    have = _parse(version)
    if have is None or have[1] != 3:
        return None
    result = False
    for alternative in expression.split("||"):
        tokens = re.sub(r"(>=|<=|!=|==|=|>|<|!)\s+", r"\1", alternative.strip()).split()
        if not tokens:
            return None
        matched = True
        for token in tokens:
            comparator = _COMPARATOR.match(token)
            parsed = _parse(comparator.group(2)) if comparator else None
            if comparator is None or parsed is None:
                return None
            matched = matched and _check(comparator.group(1) or "", have[0], parsed[0], parsed[1])
        result = result or matched
    return result


# --- resolution ----------------------------------------------------------------------------------


class _Graph:
    def __init__(self, specs: Sequence[ReleaseSpec]) -> None:
        self.order = [s.name for s in specs]
        self.specs = {s.name: s for s in specs}
        self.needs = {s.name: list(s.needs) for s in specs}

    def closure(self, name: str) -> list[str]:
        return needs_closure(name, self.needs)

    def provided(self, name: str) -> set[str]:
        provided = set(self.specs[name].provides)
        for need in self.closure(name):
            provided.update(self.specs[need].provides)
        return provided

    def provider(self, name: str, api: str) -> str | None:
        """``name`` itself or the first release it needs that provides ``api``, else ``None``."""
        if api in self.specs[name].provides:
            return name
        return next((n for n in self.closure(name) if api in self.specs[n].provides), None)

    def link(self, name: str, need: str) -> bool:
        """Add ``need`` to ``name``'s needs unless it is there (transitively) or would be a cycle."""
        if need == name or need in self.closure(name):
            return True
        if name in self.closure(need):
            return False
        self.needs[name].append(need)
        return True


def _gvk(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    parts = [value.get("group"), value.get("version"), value.get("kind")]
    if not all(isinstance(p, str) and p and "/" not in p for p in parts):
        return None
    return "/".join(str(p) for p in parts)


def _api_label(api: str) -> str:
    group_version, _, kind = api.rpartition("/")
    return f"{group_version} {kind}"


class _Resolver:
    def __init__(self, specs: Sequence[ReleaseSpec]) -> None:
        self.graph = _Graph(specs)
        self.notes: list[str] = []
        self.warnings: list[str] = []

    def _providers(self, name: str, api: str) -> list[str]:
        return [n for n in self.graph.order if n != name and api in self.graph.specs[n].provides]

    def requirements(self, spec: ReleaseSpec) -> None:
        added: dict[str, list[str]] = {}
        missing: dict[str, list[str]] = {}
        before = self.graph.provided(spec.name)
        for api in sorted(spec.requires):
            if api in before:
                continue
            via = self.graph.provider(spec.name, api)
            if via is not None:  # through a release added for another API just now
                added.setdefault(via, []).append(_api_label(api))
                continue
            providers = self._providers(spec.name, api)
            chosen = next((p for p in providers if self.graph.link(spec.name, p)), None)
            if chosen is not None:
                added.setdefault(chosen, []).append(_api_label(api))
            elif providers:
                self.warnings.append(f"bundle {spec.name!r} creates {_api_label(api)}, which {providers[0]!r} "
                                     f"provides, but {providers[0]!r} needs {spec.name!r}: needs would be a cycle")
            else:
                group_version, _, kind = api.rpartition("/")
                missing.setdefault(group_version, []).append(kind)
        for provider, apis in added.items():
            self.notes.append(f"bundle {spec.name!r}: needs {provider!r} (added: it provides {', '.join(apis)})")
        for group_version, kinds in sorted(missing.items()):
            self.warnings.append(
                f"bundle {spec.name!r} creates {', '.join(kinds)} ({group_version}), which no entry of bundles.yaml "
                f"provides: install {install_hint(group_version)} first (the release's presync hook checks)")

    def _cycle(self, spec: ReleaseSpec, label: str, provider: str) -> None:
        self.warnings.append(f"bundle {spec.name!r}: dependency {label}: {provider!r} provides it but "
                             f"needs {spec.name!r} (needs would be a cycle)")

    def _unprovided(self, spec: ReleaseSpec, dependency: str) -> None:
        self.warnings.append(f"bundle {spec.name!r} depends on {dependency}, which no entry of "
                             "bundles.yaml provides: install it first")

    def _gvk_dependency(self, spec: ReleaseSpec, api: str, what: str) -> None:
        label = f"{what} {_api_label(api)}"
        via = self.graph.provider(spec.name, api)
        if via is not None:
            where = "the chart itself" if via == spec.name else f"{via!r} (in needs)"
            self.notes.append(f"bundle {spec.name!r}: dependency {label}: provided by {where}")
            return
        providers = self._providers(spec.name, api)
        chosen = next((p for p in providers if self.graph.link(spec.name, p)), None)
        if chosen is not None:
            self.notes.append(f"bundle {spec.name!r}: dependency {label}: provided by {chosen!r} (in needs)")
        elif providers:
            self._cycle(spec, label, providers[0])
        else:
            self._unprovided(spec, f"{_api_label(api)} ({what})")

    def _package_dependency(self, spec: ReleaseSpec, package: str, expression: str, what: str) -> None:
        label = f"{what} {package!r}" + (f" {expression}" if expression else "")
        candidates = [n for n in self.graph.order if n != spec.name and self.graph.specs[n].package == package]
        if not candidates:
            self._unprovided(spec, f"package {package!r}{f' ({expression})' if expression else ''} ({what})")
            return
        fits = [n for n in candidates if not expression
                or version_in_range(self.graph.specs[n].version, expression)]
        chosen = next((n for n in fits + candidates if self.graph.link(spec.name, n)), None)
        if chosen is None:
            self._cycle(spec, label, candidates[0])
            return
        version = self.graph.specs[chosen].version
        if chosen in fits:
            self.notes.append(f"bundle {spec.name!r}: dependency {label}: provided by {chosen!r} "
                              f"(version {version}, in needs)")
        else:
            self.warnings.append(f"bundle {spec.name!r}: dependency {label}: {chosen!r} has version {version}, "
                                 "outside that range (installed first anyway)")

    def dependency(self, spec: ReleaseSpec, kind: str, value: Any, what: str) -> None:
        value = value if isinstance(value, dict) else {}
        if kind in ("olm.gvk", "olm.gvk.required", "gvk"):
            api = _gvk(value)
            if api is None:
                self.warnings.append(f"bundle {spec.name!r}: dependency {what} is malformed: {value!r}")
            else:
                self._gvk_dependency(spec, api, what)
        elif kind in ("olm.package", "olm.package.required", "package"):
            package = value.get("packageName")
            expression = value.get("versionRange", value.get("version", ""))
            if not isinstance(package, str) or not package or not isinstance(expression, str):
                self.warnings.append(f"bundle {spec.name!r}: dependency {what} is malformed: {value!r}")
            else:
                self._package_dependency(spec, package, expression, what)
        elif kind == "olm.constraint":
            self.constraint(spec, value, what)
        else:
            self.notes.append(f"bundle {spec.name!r}: dependency of type {kind!r} not checked")

    def constraint(self, spec: ReleaseSpec, value: dict[str, Any], what: str) -> None:
        message = value.get("failureMessage")
        where = f"{what} ({message})" if isinstance(message, str) and message else what
        for key in ("gvk", "package"):
            if key in value:
                self.dependency(spec, key, value[key], where)
                return
        if isinstance(value.get("all"), dict):
            for item in value["all"].get("constraints") or []:
                self.constraint(spec, item if isinstance(item, dict) else {}, where)
            return
        if isinstance(value.get("any"), dict):
            items = [i for i in value["any"].get("constraints") or [] if isinstance(i, dict)]
            satisfiable = [i for i in items if self._satisfiable(spec, i)]
            if satisfiable:
                self.constraint(spec, satisfiable[0], where)
            else:
                self.warnings.append(f"bundle {spec.name!r}: dependency {where}: no entry of bundles.yaml satisfies "
                                     f"any of its {len(items)} alternatives: install one first")
            return
        kind = "not" if "not" in value else "cel" if "cel" in value else "unknown"
        rule = (value.get("cel") or {}).get("rule") if kind == "cel" else None
        detail = f" {rule!r}" if isinstance(rule, str) else ""
        self.notes.append(f"bundle {spec.name!r}: dependency {where}: {kind} constraint{detail} not checked")

    def _satisfiable(self, spec: ReleaseSpec, value: dict[str, Any]) -> bool:
        api = _gvk(value.get("gvk"))
        if api is not None:
            return api in self.graph.provided(spec.name) or bool(self._providers(spec.name, api))
        package = value.get("package")
        if isinstance(package, dict) and isinstance(package.get("packageName"), str):
            expression = str(package.get("versionRange") or "")
            return any(self.graph.specs[n].package == package["packageName"] and n != spec.name
                       and (not expression or version_in_range(self.graph.specs[n].version, expression))
                       for n in self.graph.order)
        return False


def resolve_needs(specs: Sequence[ReleaseSpec]) -> Resolution:
    """Add to each spec's ``needs`` the releases that provide what it requires or depends on (see
    the module docstring); return the specs (same order) with notes and warnings, one line each,
    naming the bundles.yaml entry."""
    resolver = _Resolver(specs)
    for spec in specs:
        resolver.requirements(spec)
        for dependency in spec.dependencies:
            resolver.dependency(spec, str(dependency.get("type", "")), dependency.get("value"),
                                str(dependency.get("type", "")))
    out = [dataclasses.replace(s, needs=tuple(resolver.graph.needs[s.name])) for s in specs]
    return Resolution(out, resolver.notes, resolver.warnings)
