"""Lazy exports for a package's ``__init__``: a name loads the submodule that defines it on first
use, so a command imports only the parts of a package it touches (see ``tests/test_imports.py``).

Use as ``__getattr__ = lazy_exports(__name__, {"Name": "submodule", ...})``, with the same names
imported under ``if TYPE_CHECKING:`` for type checkers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` (its dotted name) that returns
    ``package.<exports[name]>.<name>``, importing that submodule on first use. A name not in
    ``exports`` raises ``AttributeError`` as a missing module attribute does."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
