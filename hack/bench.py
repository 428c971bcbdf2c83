#!/usr/bin/env python3
"""Benchmark: regenerate the three target charts from a loopback registry, and review a sail bump.

Prints wall-clock figures (seconds) for a cold run (empty blob cache) and warm runs (cache filled,
nothing changed), plus peak RSS; then the median wall time of ``bundle-extract diff`` (a whole
process) between the sail 3.2.1 and 3.2.3 charts. Targets: cold <= 1.0 s, warm <= 0.3 s, diff <= 1 s.
Usage: python hack/bench.py [--runs N] [--bundles-dir DIR]
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
from extractor.demo.localregistry import LocalRegistry  # noqa: E402
from extractor.demo.push import push_bundle_image  # noqa: E402
from extractor.demo.run import SAMPLE_BUNDLES  # noqa: E402
from extractor.pipeline import generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundles-dir", type=Path, default=ROOT.parent / "shared" / "bundles")
    args = parser.parse_args()
    config = load_config(ROOT / "bundles.yaml")
    with tempfile.TemporaryDirectory(prefix="bundle-extract-bench-") as tmp_name:
        tmp = Path(tmp_name)
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
                options = AcquireOptions(mirrors=tuple(mirrors), cache_dir=cache, work_dir=tmp / "work")
                start = time.perf_counter()
                generate(config, out, options)
                return time.perf_counter() - start

            cold = [run(tmp / f"cache-cold-{i}", tmp / f"out-cold-{i}") for i in range(max(1, args.runs // 2))]
            warm_cache = tmp / "cache-warm"
            run(warm_cache, tmp / "out-warm")
            warm = [run(warm_cache, tmp / "out-warm") for _ in range(args.runs)]
        diff = _diff_times(tmp, args.bundles_dir, args.runs)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bundles: {', '.join(e.name for e in config.bundles)}")
    print(f"cold (empty cache):   min {min(cold):.3f} s  median {statistics.median(cold):.3f} s  (target <= 1.0 s)")
    print(f"warm (nothing changed): min {min(warm):.3f} s  median {statistics.median(warm):.3f} s  (target <= 0.3 s)")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    print(f"diff sail 3.2.1 -> 3.2.3 (whole process): min {min(diff):.3f} s  median {statistics.median(diff):.3f} s"
          "  (target <= 1.0 s)")
    return 0


def _diff_times(tmp: Path, bundles_dir: Path, runs: int) -> list[float]:
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
        generate(local, project, AcquireOptions(work_dir=tmp / "work"), only=[entry.name])
        projects.append(project)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "extractor", "diff", str(projects[0]), str(projects[1])],
                       check=True, capture_output=True, cwd=tmp)
        times.append(time.perf_counter() - start)
    return times


def dataclass_replace(config: Any, name: str, image: str) -> Any:
    """``config`` with only entry ``name``, its image a local bundle directory (no needs)."""
    import dataclasses

    entry = dataclasses.replace(config.entry(name), image=image, version="", needs=())
    return dataclasses.replace(config, bundles=(entry,))


if __name__ == "__main__":
    sys.exit(main())
