#!/usr/bin/env python3
"""Side-by-side benchmark against olm-extractor (Go): whole processes, medians of paired runs.

Cases (each run alternates the two tools, so both see the same machine state):
- ``run`` of each target bundle pulled from a loopback registry, cold (empty cache) and warm;
- the bundles of ../shared/corpus run one after another from directories (total wall time);
- ``update-bundle`` of the three targets (cold cache) against the sum of olm-extractor's three runs;
- a no-op ``update-bundle`` and ``bundle-extract --help`` (absolute targets);
- peak RSS of every case.

bundle-extract is measured as users run it: the ``bundle-extract`` console script of a clean
virtualenv (the project and its dependencies installed into it, bytecode compiled).
olm-extractor: ``OX=/path/to/binary`` or built from ``OX_SRC`` by hack/build-olm-extractor.sh.

Usage: python hack/bench_vs_ox.py [--runs N] [--ox PATH] [--bundles-dir DIR] [--corpus-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extractor.acquire.reference import Reference  # noqa: E402
from extractor.config import load_config  # noqa: E402
from extractor.demo.fileserver import StaticFileServer, extra_crd_url_mirrors  # noqa: E402
from extractor.demo.localregistry import LocalRegistry  # noqa: E402
from extractor.demo.push import push_bundle_image  # noqa: E402
from extractor.demo.run import SAMPLE_BUNDLES  # noqa: E402


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int


MEASURE_TIMEOUT = 600.0
"""Seconds one measured process may run before it is killed."""


def measure(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
            check: bool = True) -> Sample:
    """Run ``cmd`` to completion; wall seconds and the process's peak RSS (KiB). ``check``: a failure
    stops the benchmark (the corpus runs both tools on bundles one of them may refuse)."""
    # stderr to a file, not a pipe: a pipe nobody reads until wait4 returns blocks a child that
    # writes more than the pipe buffer (64 KiB), and the benchmark would hang
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        watchdog = threading.Timer(MEASURE_TIMEOUT, proc.kill)  # a hung run ends (and fails) the benchmark
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if check and proc.returncode != 0:
            err.seek(max(0, err.seek(0, os.SEEK_END) - 2000))
            stderr = err.read().decode(errors="replace")
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    return Sample(elapsed, usage.ru_maxrss)


def paired(
    runs: int, ours: Callable[[int], Sample], theirs: Callable[[int], Sample]
) -> tuple[list[Sample], list[Sample]]:
    a: list[Sample] = []
    b: list[Sample] = []
    for i in range(runs):
        first, second = (ours, theirs) if i % 2 == 0 else (theirs, ours)
        x = first(i)
        y = second(i)
        (a, b)[0 if first is ours else 1].append(x)
        (a, b)[1 if first is ours else 0].append(y)
    return a, b


def median(samples: list[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def peak(samples: list[Sample]) -> int:
    return max(s.max_rss_kib for s in samples)


def venv_tool(tmp: Path) -> Path:
    """A clean virtualenv with the project installed from this checkout (not editable) and its
    dependencies from PyPI, bytecode compiled: what a user runs. Kept in the tools cache, keyed by
    the project's files, so that only a change of the project reinstalls it."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted([ROOT / "pyproject.toml", *ROOT.glob("extractor/**/*.py"), *ROOT.glob("postprocess/*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    tools = Path(os.environ.get("BUNDLE_EXTRACT_TOOLS") or Path.home() / ".cache/bundle-extract/tools")
    venv = tools / f"bench-venv-{digest.hexdigest()[:12]}"
    tool = venv / "bin/bundle-extract"
    if not tool.exists():
        for old in tools.glob("bench-venv-*"):
            shutil.rmtree(old, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=MEASURE_TIMEOUT)
        python = str(venv / "bin/python")
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)], check=True,
                       cwd=tmp, timeout=MEASURE_TIMEOUT)
        subprocess.run([python, "-m", "compileall", "-q", str(venv)], check=True, timeout=MEASURE_TIMEOUT)
    return tool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ox", type=Path, default=os.environ.get("OX") or None)
    parser.add_argument("--bundles-dir", type=Path, default=ROOT.parent / "shared" / "bundles")
    parser.add_argument("--corpus-dir", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--extra-crds-dir", type=Path, default=ROOT.parent / "shared" / "extra-crds",
                        help="local copy of the bundles.yaml extraManifests URLs, served on loopback")
    args = parser.parse_args()
    if args.ox is None:
        raise SystemExit("bench-vs-ox: give OX=/path/to/olm-extractor or OX_SRC=<its source> (see the Makefile)")
    ox = str(args.ox)
    config = load_config(ROOT / "bundles.yaml")
    rows: list[tuple[str, float, float, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="bundle-extract-vs-ox-") as tmp_name:
        tmp = Path(tmp_name)
        tool = str(venv_tool(tmp))
        env = {**os.environ, "HOME": str(tmp / "home"), "DOCKER_CONFIG": str(tmp / "docker")}
        with LocalRegistry(tmp / "registry") as registry, StaticFileServer(args.extra_crds_dir) as files:
            url_mirror_args = [arg for mirror in extra_crd_url_mirrors(files.url)
                               for arg in ("--url-mirror", str(mirror))]
            images: dict[str, str] = {}
            for entry in config.bundles:
                ref = Reference.parse(entry.reference)
                image = f"{registry.host}/{ref.repository}:{entry.version}"
                push_bundle_image(args.bundles_dir / SAMPLE_BUNDLES[entry.name], image)
                images[entry.name] = image
            counter = iter(range(1_000_000))

            for name, image in images.items():
                namespace = next(e.namespace for e in config.bundles if e.name == name)
                warm_cache = tmp / f"warm-{name}"

                def ours_cold(_: int, image: str = image, ns: str = namespace) -> Sample:
                    return measure([tool, "run", image, "-n", ns], {**env, "BUNDLE_EXTRACT_CACHE_DIR":
                                                                    str(tmp / f"c{next(counter)}")})

                def ours_warm(_: int, image: str = image, ns: str = namespace, cache: Path = warm_cache) -> Sample:
                    return measure([tool, "run", image, "-n", ns], {**env, "BUNDLE_EXTRACT_CACHE_DIR": str(cache)})

                def theirs(_: int, image: str = image, ns: str = namespace) -> Sample:
                    temp = tmp / f"ox{next(counter)}"
                    temp.mkdir()
                    return measure([ox, "run", "-n", ns, "--registry-insecure", "--temp-dir", str(temp), image], env)

                ours_warm(0)  # fill the warm cache
                a, b = paired(args.runs, ours_cold, theirs)
                rows.append((f"run {name} (registry, cold)", median(a), median(b), peak(a), peak(b)))
                a, b = paired(args.runs, ours_warm, theirs)
                rows.append((f"run {name} (registry, warm)", median(a), median(b), peak(a), peak(b)))

            corpus = sorted(p for p in args.corpus_dir.iterdir() if p.is_dir()) if args.corpus_dir.is_dir() else []
            if corpus:
                def corpus_ours(_: int) -> Sample:
                    total = Sample(0.0, 0)
                    for bundle in corpus:
                        s = measure([tool, "run", str(bundle), "-n", "corpus-test"], env, check=False)
                        total = Sample(total.seconds + s.seconds, max(total.max_rss_kib, s.max_rss_kib))
                    return total

                def corpus_theirs(_: int) -> Sample:
                    total = Sample(0.0, 0)
                    for bundle in corpus:
                        s = measure([ox, "run", "-n", "corpus-test", str(bundle)], env, check=False)
                        total = Sample(total.seconds + s.seconds, max(total.max_rss_kib, s.max_rss_kib))
                    return total

                a, b = paired(max(3, args.runs // 2), corpus_ours, corpus_theirs)
                rows.append((f"corpus: {len(corpus)} bundles from directories (total)", median(a), median(b),
                             peak(a), peak(b)))

            project = tmp / "project"
            project.mkdir()
            shutil.copy(ROOT / "bundles.yaml", project / "bundles.yaml")
            mirror = f"registry.redhat.io={registry.host}"

            def update_cold(_: int) -> Sample:
                out = tmp / f"up{next(counter)}"
                cache = str(tmp / f"c{next(counter)}")
                return measure([tool, "update-bundle", "--config", str(project / "bundles.yaml"), "--output", str(out),
                                "--mirror", mirror, *url_mirror_args], {**env, "BUNDLE_EXTRACT_CACHE_DIR": cache})

            def ox_three(_: int) -> Sample:
                total = Sample(0.0, 0)
                for name, image in images.items():
                    ns = next(e.namespace for e in config.bundles if e.name == name)
                    temp = tmp / f"ox{next(counter)}"
                    temp.mkdir()
                    s = measure([ox, "run", "-n", ns, "--registry-insecure", "--temp-dir", str(temp), image], env)
                    total = Sample(total.seconds + s.seconds, max(total.max_rss_kib, s.max_rss_kib))
                return total

            a, b = paired(args.runs, update_cold, ox_three)
            rows.append(("update-bundle of the 3 targets (cold) vs 3 olm-extractor runs", median(a), median(b),
                         peak(a), peak(b)))
            noop_out = tmp / "noop"
            noop_env = {**env, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp / "noop-cache")}
            noop_cmd = [tool, "update-bundle", "--config", str(project / "bundles.yaml"), "--output", str(noop_out),
                        "--mirror", mirror, *url_mirror_args]
            measure(noop_cmd, noop_env)
            noop = [measure(noop_cmd, noop_env) for _ in range(args.runs)]
            helps = [measure([tool, "--help"], env) for _ in range(args.runs)]
            # what any Python process of this design pays before its first line of work: the
            # interpreter and the three libraries `run` from a registry cannot do without
            floor_code = "import click, yaml, http.client"
            floor = [measure([str(Path(tool).parent / "python"), "-c", floor_code], env) for _ in range(args.runs)]

    print(f"{'case':<66} {'ours':>8} {'olm-ext':>8} {'ratio':>6} {'RSS ours':>9} {'RSS ox':>9}")
    ratios = []
    for case, ours_s, theirs_s, ours_rss, theirs_rss in rows:
        ratio = ours_s / theirs_s
        ratios.append(ratio)
        print(f"{case:<66} {ours_s:>7.3f}s {theirs_s:>7.3f}s {ratio:>5.2f}x {ours_rss / 1024:>7.0f}Mi "
              f"{theirs_rss / 1024:>7.0f}Mi")
    print(f"no-op update-bundle: median {median(noop):.3f} s (target <= 0.15 s)")
    print(f"bundle-extract --help: median {median(helps):.3f} s (target <= 0.06 s)")
    lws = [theirs for case, _, theirs, _, _ in rows if case.startswith("run lws-operator")]
    print(f"start-up floor (python -c '{floor_code}'): median {median(floor):.3f} s"
          + (f"; olm-extractor's whole lws run: {min(lws):.3f} s" if lws else ""))
    print(f"summary: {len(ratios)} cases, ratio median {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
