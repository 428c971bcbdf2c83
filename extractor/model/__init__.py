"""Data passed between pipeline stages.

Shapes only; behaviour lives in the stage modules. Kubernetes objects are plain ``dict`` trees as
parsed by :mod:`extractor.yamlio` (``KubeObject``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractor.model.bundle import Bundle, ManifestDoc
    from extractor.model.render import Manifests, RenderOptions
    from extractor.model.source import DNS_LABEL, BundleSource, KubeObject

_EXPORTS = {
    "DNS_LABEL": "source",
    "BundleSource": "source",
    "KubeObject": "source",
    "Bundle": "bundle",
    "ManifestDoc": "bundle",
    "Manifests": "render",
    "RenderOptions": "render",
}


def __getattr__(name: str) -> Any:
    """Load the submodule that defines ``name`` on first use: acquiring a bundle or reading
    bundles.yaml (a no-op ``update-bundle``) needs only :mod:`extractor.model.source`."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["DNS_LABEL", "Bundle", "BundleSource", "KubeObject", "ManifestDoc", "Manifests", "RenderOptions"]
