"""Any real bundle becomes a chart that installs (issue 13): the corpus of ``../shared/corpus``
(24 community operators) and ``../shared/bundles`` (the target bundles, every version), one
bundles.yaml of local directory entries, through the real pipeline (:func:`extractor.pipeline.generate`),
then for each chart: helm 3 and helm 4 ``lint --strict``, ``helm template`` valid for Kubernetes 1.32,
``--namespace other`` moving every namespaced object, and on a real API server ``helmfile sync``
(CRDs Established, every object present) followed by a ``helmfile apply`` that changes nothing.
See tests/support/corpus.py for the machinery and the chunks (one API server per chunk).

Prints ``corpus: generated N/T, lint N/T, valid N/T, applied N/T`` and its wall time. Any bundle
below full marks fails the run unless :data:`tests.support.corpus.EXPECTED_REFUSED` documents why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.config import load_config
from extractor.errors import EntriesError
from extractor.pipeline import generate
from tests.support.corpus import (
    EXPECTED,
    EXPECTED_REFUSED,
    ApplyResult,
    ChartResult,
    CorpusBundle,
    apply_chunk,
    check_chart,
    corpus_bundles,
    write_bundles_yaml,
)
from tests.support.tools import require_helm_diff, require_shared, require_tool

#: the corpus as SOURCES.md lists it, and the target bundles with every version
CORPUS_SIZE = 24
BUNDLES_SIZE = 7


@dataclass
class CorpusRun:
    bundles: list[CorpusBundle]
    refused: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    charts: dict[str, ChartResult] = field(default_factory=dict)
    applied: dict[str, ApplyResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.bundles)

    def summary(self) -> str:
        generated = self.total - len(self.refused)
        lint = sum(1 for r in self.charts.values() if not r.lint)
        valid = sum(1 for r in self.charts.values() if r.valid)
        applied = sum(1 for r in self.applied.values() if not r.problems)
        t = self.total
        return f"corpus: generated {generated}/{t}, lint {lint}/{t}, valid {valid}/{t}, applied {applied}/{t}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    require_shared("corpus")
    require_shared("bundles")
    for tool in ("helm", "helm4", "helmfile", "kubectl", "etcd", "kube-apiserver"):
        require_tool(tool)
    plugins = require_helm_diff()
    started = time.monotonic()
    run = CorpusRun(corpus_bundles())
    root = tmp_path_factory.mktemp("corpus")
    write_bundles_yaml(root / "bundles.yaml", run.bundles)
    options = AcquireOptions(cache_dir=tmp_path_factory.mktemp("cache"), work_dir=tmp_path_factory.mktemp("work"))
    try:
        result = generate(load_config(root / "bundles.yaml"), root, options, keep_going=True)
        run.notes, run.warnings = result.notes, result.warnings
    except EntriesError as exc:
        run.refused = {name: str(error) for name, error in exc.errors}
    run.seconds["generate"] = time.monotonic() - started
    generated = [b for b in run.bundles if b.name not in run.refused]
    mark = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        run.charts = {r.name: r for r in pool.map(lambda b: check_chart(root, b), generated)}
    run.seconds["charts"] = time.monotonic() - mark
    mark = time.monotonic()
    manifests = {name: r.manifest for name, r in run.charts.items()}
    chunks = sorted({b.chunk for b in generated})
    # two workers (two cores): the biggest chunks side by side, the small last one after the other
    lanes = [[c for c in chunks if c % 2 == lane] for lane in (0, 1)]

    def lane(numbers: list[int]) -> list[ApplyResult]:
        out: list[ApplyResult] = []
        for number in numbers:
            members = [b for b in generated if b.chunk == number]
            out += apply_chunk(root, members, manifests, root.parent / f"kube-{number}", plugins)
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:
        for results in pool.map(lane, lanes):
            run.applied.update({r.name: r for r in results})
    run.seconds["apply"] = time.monotonic() - mark
    run.seconds["total"] = time.monotonic() - started
    yield run


def test_the_corpus_is_complete(corpus: CorpusRun) -> None:
    assert {b.directory.name for b in corpus.bundles} == EXPECTED.keys(), "a bundle came or went: update EXPECTED"
    sources = [b.directory.parent.name for b in corpus.bundles]
    assert (sources.count("corpus"), sources.count("bundles")) == (CORPUS_SIZE, BUNDLES_SIZE)
    assert len({b.name for b in corpus.bundles}) == corpus.total
    assert {b.chunk for b in corpus.bundles} == {0, 1, 2}


def test_every_bundle_generates_or_is_refused_as_documented(corpus: CorpusRun) -> None:
    assert corpus.refused.keys() == EXPECTED_REFUSED.keys(), corpus.refused
    for name, reason in EXPECTED_REFUSED.items():
        assert reason in corpus.refused[name] and "\n" not in corpus.refused[name]


def test_helm_lint_strict_with_helm_3_and_4(corpus: CorpusRun) -> None:
    failed = {name: r.lint for name, r in corpus.charts.items() if r.lint}
    assert not failed, failed


def test_helm_template_is_valid_for_kubernetes_1_32(corpus: CorpusRun) -> None:
    invalid = {name: r.invalid for name, r in corpus.charts.items() if r.invalid}
    assert not invalid, invalid
    assert all(r.objects > 0 for r in corpus.charts.values())
    # every custom resource a chart renders by default has its CRD in the project (the cert-manager
    # Certificates and Issuers of webhook charts validate against cert-manager-operator's CRDs)
    unchecked = {name: r.unchecked for name, r in corpus.charts.items() if r.unchecked}
    assert not unchecked, unchecked


def test_namespace_other_moves_every_namespaced_object(corpus: CorpusRun) -> None:
    leftovers = {name: r.leftovers for name, r in corpus.charts.items() if r.leftovers}
    assert not leftovers, leftovers


def test_helmfile_sync_installs_and_a_second_apply_changes_nothing(corpus: CorpusRun) -> None:
    problems = {name: r.problems for name, r in corpus.applied.items() if r.problems}
    assert not problems, "\n\n".join(f"{name}:\n" + "\n".join(p) for name, p in problems.items())
    assert len(corpus.applied) == corpus.total - len(EXPECTED_REFUSED)


def test_generation_reports_what_departs_from_olmv1(corpus: CorpusRun) -> None:
    """The notes and warnings of the corpus run: the defaulted OwnNamespace of kubernaut, the
    cert-manager needs, kuadrant's dependencies."""
    notes = "\n".join(corpus.notes)
    assert "bundle 'kubernaut-operator-1-5-12': kubernaut-operator.v1.5.12: no AllNamespaces install mode" in notes
    assert ("bundle 'vault-config-operator-0-8-52': needs 'cert-manager-operator-v1-15-2' (added: it provides "
            "cert-manager.io/v1 Certificate, cert-manager.io/v1 Issuer)") in corpus.notes
    assert ("bundle 'kuadrant-operator-0-11-1': dependency olm.package 'limitador-operator' 0.11.0: provided by "
            "'limitador-operator-0-11-0' (version 0.11.0, in needs)") in corpus.notes
    warnings = "\n".join(corpus.warnings)
    assert ("bundle 'kuadrant-operator-0-11-1' depends on package 'dns-operator' (0.6.0) (olm.package), which no "
            "entry of bundles.yaml provides: install it first") in warnings


def test_summary(corpus: CorpusRun, capsys: pytest.CaptureFixture[str]) -> None:
    times = ", ".join(f"{k} {v:.0f}s" for k, v in corpus.seconds.items())
    unchecked = sum(len(r.unchecked) for r in corpus.charts.values())
    with capsys.disabled():
        print(f"\n{corpus.summary()} ({times}; custom resources without a schema: {unchecked})")
    t = corpus.total
    expected = t - len(EXPECTED_REFUSED)
    assert corpus.summary() == (f"corpus: generated {expected}/{t}, lint {expected}/{t}, valid {expected}/{t}, "
                                f"applied {expected}/{t}")


def test_corpus_bundles_yaml_names_every_bundle(corpus: CorpusRun, tmp_path: Path) -> None:
    write_bundles_yaml(tmp_path / "bundles.yaml", corpus.bundles)
    config = load_config(tmp_path / "bundles.yaml")
    assert [e.name for e in config.bundles] == [b.name for b in corpus.bundles]
    assert all(e.is_local for e in config.bundles)
