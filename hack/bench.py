#!/usr/bin/env python3
"""Benchmark: regenerate the three target charts from a loopback registry, and review a sail bump.

Prints wall-clock figures (seconds) for a cold run (empty blob cache) and warm runs (cache filled,
nothing changed), plus peak RSS; then the median wall time of ``bundle-extract diff`` (a whole
process) between the sail 3.2.1 and 3.2.3 charts. Targets: cold <= 1.0 s, warm <= 0.3 s, diff <= 1 s.
Then the catalog figures: a generated file-based catalog (``--catalog-packages`` packages of 12
bundles each, as ``opm render`` lays them out) pushed as a catalog image, and one package resolved
from it (the channel head) in a process of its own: pull + unpack + parse with an empty cache,
the same with the blobs cached, and from the FBC directory; each with that process's peak RSS.
Usage: python hack/bench.py [--runs N] [--bundles-dir DIR] [--catalog-packages N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extractor.acquire import AcquireOptions  # noqa: E402
from extractor.acquire.reference import Mirror, Reference  # noqa: E402
from extractor.config import load_config  # noqa: E402
from extractor.demo.fileserver import StaticFileServer, extra_crd_url_mirrors  # noqa: E402
from extractor.demo.localregistry import LocalRegistry  # noqa: E402
from extractor.demo.push import push_bundle_image  # noqa: E402
from extractor.demo.run import SAMPLE_BUNDLES  # noqa: E402
from extractor.pipeline import generate  # noqa: E402

CHILD_TIMEOUT = 600
"""Seconds a measured child process may run (a hung one stops the benchmark with an error)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundles-dir", type=Path, default=ROOT.parent / "shared" / "bundles")
    parser.add_argument("--extra-crds-dir", type=Path, default=ROOT.parent / "shared" / "extra-crds",
                        help="local copy of the bundles.yaml extraManifests URLs, served on loopback")
    parser.add_argument("--catalog-packages", type=int, default=300)
    parser.add_argument("--catalog-child", nargs=3, metavar=("CATALOG", "CACHE", "PACKAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.catalog_child:
        return _catalog_child(*args.catalog_child)
    config = load_config(ROOT / "bundles.yaml")
    with tempfile.TemporaryDirectory(prefix="bundle-extract-bench-") as tmp_name, \
            StaticFileServer(args.extra_crds_dir) as files:
        tmp = Path(tmp_name)
        url_mirrors = extra_crd_url_mirrors(files.url)
        with LocalRegistry(tmp / "registry") as registry:
            mirrors = []
            for entry in config.bundles:
                ref = Reference.parse(entry.reference)
                push_bundle_image(args.bundles_dir / SAMPLE_BUNDLES[entry.name],
                                  f"{registry.host}/{ref.repository}:{entry.version}")
                mirror = Mirror.parse(f"{ref.registry}={registry.host}")
                if mirror not in mirrors:
                    mirrors.append(mirror)

            def run(cache: Path, out: Path) -> float:
                options = AcquireOptions(mirrors=tuple(mirrors), cache_dir=cache, work_dir=tmp / "work",
                                         url_mirrors=url_mirrors)
                start = time.perf_counter()
                generate(config, out, options)
                return time.perf_counter() - start

            cold = [run(tmp / f"cache-cold-{i}", tmp / f"out-cold-{i}") for i in range(max(1, args.runs // 2))]
            warm_cache = tmp / "cache-warm"
            run(warm_cache, tmp / "out-warm")
            warm = [run(warm_cache, tmp / "out-warm") for _ in range(args.runs)]
            catalog_lines = _catalog_figures(tmp, registry.host, args.catalog_packages, args.runs)
        diff = _diff_times(tmp, args.bundles_dir, args.runs, url_mirrors)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bundles: {', '.join(e.name for e in config.bundles)}")
    print(f"cold (empty cache):   min {min(cold):.3f} s  median {statistics.median(cold):.3f} s  (target <= 1.0 s)")
    print(f"warm (nothing changed): min {min(warm):.3f} s  median {statistics.median(warm):.3f} s  (target <= 0.3 s)")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    print(f"diff sail 3.2.1 -> 3.2.3 (whole process): min {min(diff):.3f} s  median {statistics.median(diff):.3f} s"
          "  (target <= 1.0 s)")
    for line in catalog_lines:
        print(line)
    return 0


def _catalog_child(catalog: str, cache: str, package: str) -> int:
    """In a process of its own: resolve ``package`` in ``catalog``; print seconds and peak RSS."""
    import json

    from extractor.catalog import CatalogResolver

    with tempfile.TemporaryDirectory(prefix="bundle-extract-bench-catalog-") as work:
        start = time.perf_counter()
        with CatalogResolver(AcquireOptions(cache_dir=Path(cache), work_dir=Path(work))) as resolver:
            resolution = resolver.resolve(catalog, package)
        seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "version": resolution.version}))
    return 0


def _catalog_figures(tmp: Path, host: str, packages: int, runs: int) -> list[str]:
    """Generate and push a large catalog; resolve a package from it in child processes."""
    import json

    from extractor.demo.catalog import generate_catalog, push_catalog_image

    fbc = tmp / "catalog" / "configs"
    names = generate_catalog(fbc, packages=packages)
    size = sum(p.stat().st_size for p in fbc.rglob("*") if p.is_file())
    image = f"{host}/bench/operator-index:v1"
    push_catalog_image(fbc, image)
    package = names[len(names) // 2]

    def child(catalog: str, cache: Path) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, __file__, "--catalog-child", catalog, str(cache), package],
                              check=True, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    cold = [child(image, tmp / f"catalog-cache-{i}") for i in range(max(1, runs // 2))]
    child(image, tmp / "catalog-cache-warm")
    warm = [child(image, tmp / "catalog-cache-warm") for _ in range(runs)]
    local = [child(str(fbc), tmp / "catalog-cache-warm") for _ in range(runs)]

    def figure(label: str, results: list[dict[str, Any]]) -> str:
        seconds = [r["seconds"] for r in results]
        peak = max(r["peak_mib"] for r in results)
        return (f"catalog {label}: min {min(seconds):.3f} s  median {statistics.median(seconds):.3f} s  "
                f"peak RSS {peak:.0f} MiB")

    return [
        f"catalog: {packages} packages, {packages * 12} bundles, {size / 2**20:.0f} MiB of FBC (JSON streams); "
        f"resolving {package} (head {cold[0]['version']})",
        figure("image, empty cache (pull + unpack + parse)", cold),
        figure("image, cached blobs (unpack + parse)", warm),
        figure("directory (parse only)", local),
    ]


def _diff_times(tmp: Path, bundles_dir: Path, runs: int, url_mirrors: Any) -> list[float]:
    """Generate sail 3.2.1 and 3.2.3 projects from the sample directories and time
    ``bundle-extract diff OLD NEW`` as a whole process."""
    entry = next(e for e in load_config(ROOT / "bundles.yaml").bundles if e.name == "sail-operator")
    projects = []
    for version in ("3.2.1", "3.2.3"):
        project = tmp / f"sail-{version}"
        project.mkdir()
        shutil.copy(ROOT / "bundles.yaml", project / "bundles.yaml")
        config = load_config(project / "bundles.yaml")
        local = dataclass_replace(config, entry.name, str(bundles_dir / f"servicemeshoperator3-v{version}"))
        generate(local, project, AcquireOptions(work_dir=tmp / "work", cache_dir=tmp / "diff-cache",
                                                url_mirrors=url_mirrors), only=[entry.name])
        projects.append(project)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "extractor", "diff", str(projects[0]), str(projects[1])],
                       check=True, capture_output=True, cwd=tmp, timeout=CHILD_TIMEOUT)
        times.append(time.perf_counter() - start)
    return times


def dataclass_replace(config: Any, name: str, image: str) -> Any:
    """``config`` with only entry ``name``, its image a local bundle directory (no needs)."""
    import dataclasses

    entry = dataclasses.replace(config.entry(name), image=image, version="", needs=())
    return dataclasses.replace(config, bundles=(entry,))


if __name__ == "__main__":
    sys.exit(main())
