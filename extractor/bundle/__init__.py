"""Load and validate a registry+v1 bundle the way OLM does.

In: a :class:`extractor.model.BundleSource` (an unpacked ``manifests/`` + ``metadata/`` directory
from :mod:`extractor.acquire`). Out: a :class:`extractor.model.Bundle` (the CSV, the CRDs with their
exact bytes, the other objects, the annotations), or :class:`extractor.errors.BundleError` /
:class:`extractor.errors.BundleValidationError`.

- :mod:`extractor.bundle.loader`: :func:`load_bundle` (files -> objects, every file a bounded read);
- :mod:`extractor.bundle.crd_conversion`: v1beta1 CRDs -> v1, when the conversion is mechanical;
- :mod:`extractor.bundle.validate`: :func:`validate_bundle`, OLMv1's validators as an ordered list;
- :mod:`extractor.bundle.csv`: accessors for the CSV fields OLM interprets (shared with render);
- :mod:`extractor.bundle.kinds`: which object kinds a bundle may ship, and their scope.
"""

from __future__ import annotations

from extractor.bundle.loader import load_bundle
from extractor.bundle.validate import validate_bundle

__all__ = ["load_bundle", "validate_bundle"]
