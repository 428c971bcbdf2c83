"""The review report as Markdown for a pull-request body: a summary table and the findings that
need attention first, then one ``<details>`` block per changed chart.

Values are shown in code spans, shortened past :data:`MAX_VALUE` characters (multi-line text as
its line count); each list stops after :data:`MAX_ITEMS` entries, naming how many more the JSON
report (``--json``) holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from extractor.review.changes import Change
from extractor.review.diff import ChartInfo, ChartReport, ReviewReport

__all__ = ["MAX_ITEMS", "MAX_VALUE", "to_markdown"]

MAX_VALUE = 100
MAX_ITEMS = 60


def _code(text: str) -> str:
    text = text.replace("|", "\\|")
    if "`" in text:
        return f"`` {text} ``"
    return f"`{text}`"


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and "\n" in value:
        return f"(text, {value.count(chr(10)) + 1} lines)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return _code(text)


def _change(change: Change) -> str:
    if change.op == "added" and change.old is None:
        text = f"{_code(change.path)} added: {_value(change.new)}"
    elif change.op == "removed" and change.new is None:
        text = f"{_code(change.path)} removed (was {_value(change.old)})"
    else:
        text = f"{_code(change.path)}: {_value(change.old)} → {_value(change.new)}"
    return f"{text} — {change.note}" if change.note else text


def _capped(lines: list[str], indent: str = "") -> list[str]:
    if len(lines) <= MAX_ITEMS:
        return lines
    return [*lines[:MAX_ITEMS], f"{indent}- … {len(lines) - MAX_ITEMS} more (see --json)"]


def _short_digest(digest: str | None) -> str:
    return digest.removeprefix("sha256:")[:12] if digest else ""


def _span(old: str | None, new: str | None, render: Any = str) -> str:
    if old == new:
        return render(old) if old else ""
    return f"{render(old) if old else '(none)'} → {render(new) if new else '(none)'}"


def _side(base: ChartInfo | None, head: ChartInfo | None, attribute: str) -> tuple[str | None, str | None]:
    return (getattr(base, attribute) if base else None, getattr(head, attribute) if head else None)


def _findings(chart: ChartReport) -> str:
    if chart.status in ("unchanged", "removed", "added") and not chart.changed and chart.status != "added":
        return chart.status
    parts = [chart.status] if chart.status != "changed" else []
    counts = (("objects changed", len(chart.changed)), ("added", len(chart.added)), ("removed", len(chart.removed)),
              ("renamed", len(chart.renamed)), ("images", len(chart.images)), ("RBAC roles", len(chart.rbac)),
              ("CRDs", len(chart.crds)), ("webhooks", len(chart.webhooks)), ("workloads", len(chart.workloads)),
              ("helmfile", len(chart.helmfile)))  # fmt: skip
    parts += [f"{count} {label}" for label, count in counts if count]
    if chart.sensitive:
        parts.append(f"⚠ {len(chart.sensitive)}")
    return ", ".join(parts) or "no semantic change"


def _summary(report: ReviewReport) -> list[str]:
    lines = [f"## bundle-extract review: {_code(report.base)} → {_code(report.head)}", ""]
    if not report.charts:
        return [*lines, "No charts on either side."]
    lines += ["| chart | bundle version | chart version | digest | findings |", "|---|---|---|---|---|"]
    for chart in report.charts:
        versions = _span(*_side(chart.base, chart.head, "version"))
        if chart.downgrade:
            versions += " ⚠ downgrade"
        chart_versions = _span(*_side(chart.base, chart.head, "chart_version"))
        digests = _span(*_side(chart.base, chart.head, "digest"), render=_short_digest)
        lines.append(f"| {chart.name} | {versions} | {chart_versions} | {digests} | {_findings(chart)} |")
    attention = [f"- **{chart.name}**: {reason}" for chart in report.charts for reason in chart.sensitive]
    if attention:
        lines += ["", "### ⚠ Needs attention", "", *_capped(attention)]
    return lines


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"**{title}**", "", *lines, ""] if lines else []


def _objects(chart: ChartReport) -> list[str]:
    lines = [f"- added: {_code(name)}" for name in chart.added]
    lines += [f"- removed: {_code(name)}" for name in chart.removed]
    lines += [f"- renamed: {_code(old)} → {_code(new)}" for old, new in chart.renamed]
    for diff in chart.changed:
        where = f" (see {', '.join(diff.sections)})" if diff.sections else ""
        lines.append(f"- changed: {_code(diff.object)}{where}")
    if chart.noise:
        lines.append(f"- {chart.noise} generation-noise changes (chart version labels, CRD checksums) not listed")
    return _capped(lines)


def _images(chart: ChartReport) -> list[str]:
    if not chart.images:
        return []
    rows = [f"| {_code(i.location)} | {_value(i.old)} | {_value(i.new)}{' ⚠' if i.sensitive else ''} |"
            for i in chart.images]
    return ["| location | old | new |", "|---|---|---|", *_capped(rows)]


def _nested(items: Iterable[tuple[str, list[str]]]) -> list[str]:
    lines: list[str] = []
    for head, children in items:
        lines.append(f"- {head}")
        lines += [f"  - {child}" for child in _capped(children, "  ")]
    return lines


def _enum(removed: str | None, added: str | None) -> str:
    if removed == "any value":
        return f"now restricted to {added}"
    return "enum " + " ".join(f"{sign}[{values}]" for sign, values in (("-", removed), ("+", added)) if values)


def _chart(chart: ChartReport) -> list[str]:
    title = f"<b>{chart.name}</b> {_span(*_side(chart.base, chart.head, 'version'))}".rstrip()
    if chart.status in ("added", "removed"):
        title += f" ({chart.status})"
    lines = ["<details>", f"<summary>{title}</summary>", ""]
    lines += _section("Objects", _objects(chart))
    lines += _section("Images", _images(chart))
    lines += _section("RBAC", _nested(
        (f"{_code(r.role)} ({r.status})", [f"⚠ {s}" for s in r.sensitive] + [f"+ {_code(a)}" for a in r.added]
         + [f"- {_code(x)}" for x in r.removed]) for r in chart.rbac))  # fmt: skip
    crds = []
    for crd in chart.crds:
        versions = [f"+{v}" for v in crd.versions_added] + [f"-{v}" for v in crd.versions_removed]
        head = f"{_code(crd.name)} ({crd.status}{'; versions ' + ' '.join(versions) if versions else ''})"
        children = [f"⚠ {s}" for s in crd.sensitive] + list(crd.flags)
        for finding in crd.schema:
            detail = {"added": f"added ({finding.new})", "removed": f"removed (was {finding.old})",
                      "type": f"type {finding.old} → {finding.new}", "required": "now required",
                      "enum": _enum(finding.old, finding.new)}[finding.change]  # fmt: skip
            children.append(f"{finding.version} {_code(finding.path)} {detail}")
        crds.append((head, children))
    lines += _section("CRDs", _nested(crds))
    for title, items in (("Webhooks", chart.webhooks), ("Workloads", chart.workloads)):
        lines += _section(title, _nested(
            (f"{_code(i.item)} ({i.status})", [f"⚠ {s}" for s in i.sensitive] + [_change(c) for c in i.changes])
            for i in items))  # fmt: skip
    lines += _section("Helmfile", _capped([f"- {_change(c)}" for c in chart.helmfile]))
    lines += _section("Other changes", _nested(
        (_code(diff.object), [_change(c) for c in diff.changes]) for diff in chart.changed if diff.changes))
    return [*lines, "</details>", ""]


def to_markdown(report: ReviewReport) -> str:
    """``report`` as Markdown (see the module docstring), ending with a newline."""
    lines = [*_summary(report), ""]
    for chart in report.charts:
        if chart.status != "unchanged":
            lines += _chart(chart)
    return "\n".join(lines).rstrip("\n") + "\n"
