"""Semantic versions and ranges as operator-registry reads them (github.com/blang/semver/v4).

Bundle versions (the ``version`` of a bundle's ``olm.package`` property) are parsed strictly:
``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` without a ``v`` (blang ``semver.Parse``), as
operator-registry's ``declcfg.ConvertToModel`` does. ``skipRange`` values are blang ranges
(``semver.ParseRange``): comparators (``>``, ``>=``, ``<``, ``<=``, ``=``/``==``, ``!``/``!=``, none
meaning ``=``) joined by spaces (and) and ``||`` (or), with ``x``/``X``/``*`` wildcards for the
minor or patch number. Precedence is SemVer 2.0's; build metadata does not count.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Range", "SemVer", "parse_range", "parse_semver"]

_NUMBER = r"(?:0|[1-9][0-9]*)"
_IDENT = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"({_NUMBER})\.({_NUMBER})\.({_NUMBER})(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+({_IDENT}(?:\.{_IDENT})*))?"
)


@dataclass(frozen=True)
class SemVer:
    """A parsed version; ordering (``<``, ``==``) follows SemVer precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()
    build: str = ""

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # a release sorts after its pre-releases; numeric identifiers before alphanumeric ones
        pre = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __le__(self, other: SemVer) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: SemVer) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: SemVer) -> bool:
        return self._key() >= other._key()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(str(p) for p in self.pre)
        return text + (f"+{self.build}" if self.build else "")


def parse_semver(text: str) -> SemVer | None:
    """``text`` as a strict SemVer 2.0 version, or ``None`` (numeric pre-release identifiers with
    leading zeros are refused, as blang does)."""
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    pre: list[int | str] = []
    for ident in (match.group(4) or "").split(".") if match.group(4) else []:
        if ident.isdigit():
            if len(ident) > 1 and ident.startswith("0"):
                return None
            pre.append(int(ident))
        else:
            pre.append(ident)
    return SemVer(int(match.group(1)), int(match.group(2)), int(match.group(3)), tuple(pre), match.group(5) or "")


_COMPARATOR = re.compile(r"(>=|<=|==|!=|>|<|=|!)?\s*([^\s<>=!|]+)|\S")
_WILD = ("x", "X", "*")


@dataclass(frozen=True)
class Range:
    """A parsed range: ``text`` as written, ``alternatives`` an or-list of and-lists of checks."""

    text: str
    alternatives: tuple[tuple[tuple[str, SemVer], ...], ...]

    def __contains__(self, version: object) -> bool:
        if not isinstance(version, SemVer):
            return False
        return any(all(_OPS[op](version, bound) for op, bound in group) for group in self.alternatives)


_OPS: dict[str, Callable[[SemVer, SemVer], bool]] = {
    ">": lambda v, b: v > b, ">=": lambda v, b: v >= b, "<": lambda v, b: v < b, "<=": lambda v, b: v <= b,
    "=": lambda v, b: v == b, "!=": lambda v, b: v != b,
}


def _expand(op: str, text: str) -> list[tuple[str, SemVer]] | None:
    """One comparator, wildcards expanded (``1.2.x`` -> ``>=1.2.0 <1.3.0``); ``None`` when invalid."""
    parts = text.split(".")
    wild = [part in _WILD for part in parts]
    if not any(wild):
        version = parse_semver(text)
        return None if version is None else [(op, version)]
    first = wild.index(True)
    if len(parts) not in (2, 3) or first == 0 or not all(wild[first:]) or op == "!=":
        return None
    if not all(part.isdigit() for part in parts[:first]):
        return None
    major = int(parts[0])
    if first == 1:  # 1.x, 1.x.x
        low, high = SemVer(major, 0, 0), SemVer(major + 1, 0, 0)
    else:  # 1.2.x
        low, high = SemVer(major, int(parts[1]), 0), SemVer(major, int(parts[1]) + 1, 0)
    return {
        "=": [(">=", low), ("<", high)], ">": [(">=", high)], ">=": [(">=", low)],
        "<": [("<", low)], "<=": [("<", high)],
    }[op]


def parse_range(text: str) -> Range | None:
    """``text`` as a blang range (see the module docstring), or ``None`` when it is not one."""
    alternatives: list[tuple[tuple[str, SemVer], ...]] = []
    for group_text in text.split("||"):
        group: list[tuple[str, SemVer]] = []
        rest = group_text.strip()
        if not rest:
            return None
        for match in _COMPARATOR.finditer(rest):
            if match.group(2) is None:
                return None  # an operator without a version
            op = {"==": "=", "!": "!=", None: "="}.get(match.group(1), match.group(1))
            checks = _expand(op, match.group(2))
            if checks is None:
                return None
            group.extend(checks)
        alternatives.append(tuple(group))
    return Range(text, tuple(alternatives))
