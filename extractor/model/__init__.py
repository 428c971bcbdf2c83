"""Data passed between pipeline stages.

Shapes only; behaviour lives in the stage modules. Kubernetes objects are plain ``dict`` trees as
parsed by :mod:`extractor.yamlio` (``KubeObject``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from extractor.lazy import lazy_exports

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

# Each name loads its submodule on first use: acquiring a bundle or reading bundles.yaml
# (a no-op ``update-bundle``) needs only :mod:`extractor.model.source`.
__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = ["DNS_LABEL", "Bundle", "BundleSource", "KubeObject", "ManifestDoc", "Manifests", "RenderOptions"]
