"""``make demo`` only: a loopback ``docker-registry``, pushing sample bundle images into it, and the
demo run itself. Not part of the main job (nothing outside this package and the CLI imports it).

In: bundle directories. Out: bundle images in a local registry
(:func:`extractor.demo.push.push_bundle_image`) and a generated demo project
(:func:`extractor.demo.run.run_demo`).
"""

from __future__ import annotations
