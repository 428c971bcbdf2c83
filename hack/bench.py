#!/usr/bin/env python3
"""Benchmark: regenerate the three target charts from a loopback registry.

Prints wall-clock figures (seconds) for a cold run (empty blob cache) and warm runs (cache filled,
nothing changed), plus peak RSS. Targets from the issue: cold <= 1.0 s, warm <= 0.3 s.
Usage: python hack/bench.py [--runs N] [--bundles-dir DIR]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extractor.acquire import AcquireOptions  # noqa: E402
from extractor.config import load_config  # noqa: E402
from extractor.demo.run import SAMPLE_BUNDLES  # noqa: E402
from extractor.demo.localregistry import LocalRegistry  # noqa: E402
from extractor.pipeline import generate  # noqa: E402
from extractor.demo.push import push_bundle_image  # noqa: E402
from extractor.acquire.reference import Mirror, Reference  # noqa: E402


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
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bundles: {', '.join(e.name for e in config.bundles)}")
    print(f"cold (empty cache):   min {min(cold):.3f} s  median {statistics.median(cold):.3f} s  (target <= 1.0 s)")
    print(f"warm (nothing changed): min {min(warm):.3f} s  median {statistics.median(warm):.3f} s  (target <= 0.3 s)")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
