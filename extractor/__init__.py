"""bundle-extract: render OLM registry+v1 bundles into Helm charts and a helmfile.

Pipeline (each stage is its own module):

    acquire (extractor.acquire)      image reference or directory -> BundleSource
    load/validate (extractor.bundle.loader) BundleSource -> Bundle
    render (extractor.render)        Bundle + RenderOptions -> Manifests  (OLMv1 semantics)
    post-process (postprocess)       ChartDraft -> ChartDraft             (named, pure steps)
    emit (extractor.emit.chart, extractor.emit.helmfile)  ChartDraft -> files

Library code never prints or exits; errors derive from extractor.errors.ExtractorError.
"""

__version__ = "0.3.0"
