"""``bundle-extract demo``: the main job end to end on an embedded default.

1. start a loopback registry (:class:`extractor.demo.localregistry.LocalRegistry`);
2. push the sample bundle directories as bundle images under the repository paths of
   ``bundles.yaml`` (``registry.redhat.io/...`` becomes ``127.0.0.1:PORT/...``);
3. generate charts + helmfile into the work directory through a registry mirror, exactly as
   ``make update-bundle MIRROR=registry.redhat.io=127.0.0.1:PORT`` does; the URLs of
   ``extraManifests`` (Gateway API CRDs) are served from ``../shared/extra-crds`` by a loopback
   HTTP server through ``--url-mirror``, or, without that directory (a clone on its own, no
   network), left out of the demo's copy of bundles.yaml;
4. run ``helmfile template`` on the result and keep its output.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.acquire.reference import Mirror, Reference
from extractor.config import load_config
from extractor.demo.fileserver import StaticFileServer, extra_crd_url_mirrors
from extractor.demo.localregistry import LocalRegistry
from extractor.demo.push import push_bundle_image
from extractor.demo.samples import SAMPLES, write_sample_bundles
from extractor.errors import ConfigError, ToolError
from extractor.pipeline import GenerateResult, generate
from extractor.tools import find_tool, run_tool

__all__ = ["PROJECT_ROOT", "SAMPLE_BUNDLES", "DemoResult", "run_demo"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: bundles.yaml entry name -> sample bundle directory name under ``../shared/bundles``
SAMPLE_BUNDLES: dict[str, str] = {
    "cert-manager-operator": "cert-manager-operator-v1.15.2",
    "sail-operator": "servicemeshoperator3-v3.2.1",
    "lws-operator": "leader-worker-set-v1.0.0-rendered",
}


@dataclass
class DemoResult:
    """What the demo produced: generated output, pushed images (reference -> digest) and the
    ``helmfile template`` output file with its object count."""

    workdir: Path
    generated: GenerateResult
    images: dict[str, str] = field(default_factory=dict)
    rendered: Path | None = None
    rendered_objects: int = 0
    dropped_urls: int = 0

    def summary(self) -> list[str]:
        """Human-readable lines for the CLI."""
        lines = [f"pushed {ref} ({digest})" for ref, digest in sorted(self.images.items())]
        lines += [f"chart {name}: {path}" for name, path in sorted(self.generated.charts.items())]
        lines.append(f"helmfile: {self.generated.helmfile}")
        if self.dropped_urls:
            lines.append(f"extraManifests: {self.dropped_urls} URL(s) left out (no ../shared/extra-crds to serve "
                         "them from, and the demo uses no network)")
        if self.rendered is not None:
            lines.append(f"helmfile template: {self.rendered_objects} objects -> {self.rendered}")
        return lines


def _default_bundles_dir() -> Path:
    return PROJECT_ROOT.parent / "shared" / "bundles"


def run_demo(
    workdir: Path, *, config_path: Path | None = None, bundles_dir: Path | None = None, builtin: bool = False
) -> DemoResult:
    """Run the demo into ``workdir`` (created; its previous demo output is replaced).

    The bundles come from ``bundles_dir`` (the real ones in ``../shared/bundles`` by default);
    with ``builtin``, or when no ``bundles_dir`` is given and ``../shared/bundles`` does not exist,
    from the small samples of :mod:`extractor.demo.samples`, written into ``workdir``.
    Raises :class:`ConfigError` if a bundle is missing, :class:`ToolError` if docker-registry, helm
    or helmfile is missing or fails, and the pipeline's errors.
    """
    config_path = config_path or PROJECT_ROOT / "bundles.yaml"
    config = load_config(config_path)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    samples: dict[str, Path] = {}
    if builtin or (bundles_dir is None and not _default_bundles_dir().is_dir()):
        shutil.rmtree(workdir / ".samples", ignore_errors=True)
        unknown = [e.name for e in config.bundles if e.name not in SAMPLES]
        if unknown:
            raise ConfigError(f"{config_path}: no built-in sample bundle for {', '.join(unknown)} (use --bundles-dir)")
        samples = write_sample_bundles(workdir / ".samples", [e.name for e in config.bundles])
    else:
        bundles_dir = bundles_dir or _default_bundles_dir()
        for entry in config.bundles:
            directory = bundles_dir / SAMPLE_BUNDLES.get(entry.name, entry.name)
            if not (directory / "manifests").is_dir():
                raise ConfigError(f"{directory}: sample bundle for {entry.name!r} not found (--bundles-dir)")
            samples[entry.name] = directory
    demo_config = workdir / "bundles.yaml"
    shutil.copyfile(config_path, demo_config)
    extra_crds = _default_bundles_dir().parent / "extra-crds"
    dropped = 0 if extra_crds.is_dir() else _drop_url_manifests(demo_config)
    images: dict[str, str] = {}
    with LocalRegistry(workdir / ".registry") as registry, StaticFileServer(
            extra_crds if extra_crds.is_dir() else workdir) as files:
        mirrors: list[Mirror] = []
        for entry in config.bundles:
            source = Reference.parse(entry.reference)
            target = f"{registry.host}/{source.repository}:{entry.version}"
            images[target] = push_bundle_image(samples[entry.name], target)
            mirror = Mirror.parse(f"{source.registry}={registry.host}")
            if mirror not in mirrors:
                mirrors.append(mirror)
        options = AcquireOptions(mirrors=tuple(mirrors), work_dir=workdir / ".work",
                                 url_mirrors=extra_crd_url_mirrors(files.url))
        generated = generate(load_config(demo_config), workdir, options)
    shutil.rmtree(workdir / ".work", ignore_errors=True)
    result = DemoResult(workdir=workdir, generated=generated, images=images, dropped_urls=dropped)
    helm = find_tool("helm")
    if helm is None:
        raise ToolError("helm: not found (run 'make tools')")
    proc = run_tool("helmfile", ["--helm-binary", str(helm), "--file", str(generated.helmfile), "template"],
                    cwd=workdir)
    rendered = workdir / "helmfile-template.yaml"
    rendered.write_text(proc.stdout, encoding="utf-8")
    result.rendered = rendered
    result.rendered_objects = sum(1 for doc in yamlio.load_all(proc.stdout) if doc)
    return result


def _drop_url_manifests(config_path: Path) -> int:
    """Remove the ``url`` items of every entry's ``extraManifests`` from ``config_path`` (ruamel
    round-trip, comments kept; an emptied list is removed). Returns how many were removed."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    data = yaml.load(config_path.read_text(encoding="utf-8"))
    dropped = 0
    for entry in data.get("bundles") or []:
        items = entry.get("extraManifests") if isinstance(entry, dict) else None
        if not isinstance(items, list):
            continue
        kept = [item for item in items if not (isinstance(item, dict) and "url" in item)]
        dropped += len(items) - len(kept)
        if kept:
            entry["extraManifests"] = kept
        else:
            del entry["extraManifests"]
    if dropped:
        with config_path.open("w", encoding="utf-8") as out:
            yaml.dump(data, out)
    return dropped
