"""Chart.yaml metadata from the CSV: the fields Helm, chart-testing and Artifact Hub read.

``kubeVersion`` (``spec.minKubeVersion`` as ``">= X.Y.Z-0"``, so pre-release clusters such as
``v1.30.0-gke.1`` match too), ``home``, ``sources``, ``keywords``, ``maintainers``, ``icon`` (the
CSV's first ``spec.icon`` as a ``data:`` URI, which Helm and chart-testing accept) and the
``artifacthub.io/*`` annotations (``operator``, ``operatorCapabilities``, ``crds``,
``crdsExamples``, ``images``, ``links``; ``license`` only from a CSV annotation
``artifacthub.io/license`` or ``license`` holding an SPDX expression: CSVs have no license field,
and the licence named in a description's prose is not guessed). Every value is bundle data copied
as YAML data: Helm never templates Chart.yaml, and nothing here is spliced into template text. Malformed CSV entries (a
link without URL, an icon that is not base64 image data, an e-mail address Helm's lint refuses)
are left out rather than failing the chart.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from extractor import yamlio
from extractor.draft import ChartDraft

__all__ = ["chart_metadata", "kube_version_key", "min_kube_version", "owned_crds"]

_KUBE_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
_URL = re.compile(r"^https?://[^\s]+$")
#: what Helm's lint accepts as a maintainer e-mail (net/mail ParseAddress is stricter than this
#: for odd input, so keep to the plain form)
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_MEDIATYPE = re.compile(r"^image/[A-Za-z0-9.+-]+$")
#: largest icon (base64 characters) put into Chart.yaml; Chart.yaml is stored in every release Secret
_MAX_ICON = 256 * 1024
_CAPABILITIES = ("basic install", "seamless upgrades", "full lifecycle", "deep insights", "auto pilot")
#: an SPDX license expression (CSVs have no license field; some carry an annotation)
_SPDX = re.compile(r"^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$")
_KUBE_API_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _spec(draft: ChartDraft) -> Mapping[str, Any]:
    spec = draft.csv.get("spec") if isinstance(draft.csv, Mapping) else None
    return spec if isinstance(spec, Mapping) else {}


def _annotations(draft: ChartDraft) -> Mapping[str, Any]:
    meta = draft.csv.get("metadata") if isinstance(draft.csv, Mapping) else None
    found = meta.get("annotations") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _strings(items: Any) -> list[str]:
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str) and item.strip() and item.strip() not in out:
            out.append(item.strip())
    return out


def _url(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and _URL.match(value.strip()) else None


def min_kube_version(draft: ChartDraft) -> str | None:
    """``spec.minKubeVersion`` as ``X.Y.Z`` (``None`` when absent or not a plain version)."""
    raw = _spec(draft).get("minKubeVersion")
    match = _KUBE_VERSION.match(raw.strip()) if isinstance(raw, str) else None
    if not match:
        return None
    major, minor, patch = match.groups()
    return f"{int(major)}.{int(minor)}.{int(patch or 0)}"


def kube_version_key(version: str) -> tuple[int, int, int]:
    """Sort key of a Kubernetes API version name (``v1`` > ``v1beta2`` > ``v1beta1`` > ``v1alpha1``;
    names of another form sort lowest)."""
    match = _KUBE_API_VERSION.match(version)
    if not match:
        return (0, 0, 0)
    major, stage, minor = match.groups()
    return (int(major), {"alpha": 1, "beta": 2}.get(stage or "", 3), int(minor or 0))


def owned_crds(draft: ChartDraft) -> list[dict[str, str]]:
    """One entry per owned CRD of the CSV (``spec.customresourcedefinitions.owned``), the highest
    version listed for it: ``{"name", "kind", "version", "displayName", "description"}``, sorted by
    name. Entries without a string name, kind and version are skipped."""
    owned = (_spec(draft).get("customresourcedefinitions") or {}).get("owned")
    best: dict[str, dict[str, str]] = {}
    for entry in owned if isinstance(owned, list) else []:
        if not isinstance(entry, Mapping):
            continue
        name, kind, version = entry.get("name"), entry.get("kind"), entry.get("version")
        if not (isinstance(name, str) and isinstance(kind, str) and isinstance(version, str)):
            continue
        display = entry.get("displayName")
        description = entry.get("description")
        item = {
            "kind": kind,
            "version": version,
            "name": name,
            "displayName": display.strip() if isinstance(display, str) and display.strip() else kind,
            "description": description.strip() if isinstance(description, str) else "",
        }
        current = best.get(name)
        if current is None or kube_version_key(version) > kube_version_key(current["version"]):
            if current is not None and not item["description"]:
                item["description"] = current["description"]
            best[name] = item
        elif not current["description"] and item["description"]:
            current["description"] = item["description"]
    return [best[name] for name in sorted(best)]


def _icon(spec: Mapping[str, Any]) -> str | None:
    icons = spec.get("icon")
    for icon in icons if isinstance(icons, list) else []:
        if not isinstance(icon, Mapping):
            continue
        data, mediatype = icon.get("base64data"), icon.get("mediatype")
        if not (isinstance(data, str) and isinstance(mediatype, str) and _MEDIATYPE.match(mediatype.strip())):
            continue
        compact = "".join(data.split())
        if not compact or len(compact) > _MAX_ICON:
            continue
        try:
            base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            continue
        return f"data:{mediatype.strip()};base64,{compact}"
    return None


def _links(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    links = spec.get("links")
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, Mapping):
            continue
        url = _url(link.get("url"))
        name = link.get("name")
        if url is None:
            continue
        item = {"name": name.strip() if isinstance(name, str) and name.strip() else url, "url": url}
        if item not in out:
            out.append(item)
    return out


def _maintainers(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    people = spec.get("maintainers")
    for person in people if isinstance(people, list) else []:
        if not isinstance(person, Mapping) or not isinstance(person.get("name"), str) or not person["name"].strip():
            continue
        item = {"name": person["name"].strip()}
        email = person.get("email")
        if isinstance(email, str) and _EMAIL.match(email.strip()):
            item["email"] = email.strip()
        if item not in out:
            out.append(item)
    provider = spec.get("provider")
    if not out and isinstance(provider, Mapping) and isinstance(provider.get("name"), str):
        name = provider["name"].strip()
        if name:
            item = {"name": name}
            url = _url(provider.get("url"))
            if url:
                item["url"] = url
            out.append(item)
    return out


def _images(draft: ChartDraft) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    related = _spec(draft).get("relatedImages")
    for entry in related if isinstance(related, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("image"), str) and entry["image"].strip():
            name = entry.get("name")
            image = entry["image"].strip()
            label = name if isinstance(name, str) and name.strip() else image.rsplit("/", 1)[-1]
            item = {"name": label, "image": image}
            if item not in out:
                out.append(item)
    if out:
        return out
    for obj in draft.objects:
        if obj.get("kind") != "Deployment":
            continue
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in list(pod.get("initContainers") or []) + list(pod.get("containers") or []):
            if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                name = container.get("name")
                item = {"name": name if isinstance(name, str) else "", "image": container["image"]}
                if item["name"] and item not in out:
                    out.append(item)
    return out


def chart_metadata(draft: ChartDraft) -> tuple[dict[str, Any], dict[str, str]]:
    """``(fields, annotations)`` for Chart.yaml from ``draft.csv``: optional top-level fields
    (``kubeVersion``, ``home``, ``sources``, ``keywords``, ``maintainers``, ``icon``; absent ones
    left out) and ``artifacthub.io/*`` annotations (string values). Deterministic; never raises
    for malformed CSV content (such entries are skipped)."""
    spec = _spec(draft)
    fields: dict[str, Any] = {}
    kube = min_kube_version(draft)
    if kube:
        fields["kubeVersion"] = f">= {kube}-0"
    links = _links(spec)
    provider = spec.get("provider")
    provider_url = _url(provider.get("url")) if isinstance(provider, Mapping) else None
    repository = _url(_annotations(draft).get("repository"))
    home = provider_url or (links[0]["url"] if links else None) or repository
    if home:
        fields["home"] = home
    sources = [repository] if repository else []
    for link in links:
        if re.match(r"^https?://(github\.com|gitlab\.com)/", link["url"]) and link["url"] not in sources:
            sources.append(link["url"])
    if sources:
        fields["sources"] = sources
    keywords = _strings(spec.get("keywords"))
    if keywords:
        fields["keywords"] = keywords
    maintainers = _maintainers(spec)
    if maintainers:
        fields["maintainers"] = maintainers
    icon = _icon(spec)
    if icon:
        fields["icon"] = icon

    annotations: dict[str, str] = {"artifacthub.io/operator": "true"}
    capability = _annotations(draft).get("capabilities")
    if isinstance(capability, str) and capability.strip().lower() in _CAPABILITIES:
        annotations["artifacthub.io/operatorCapabilities"] = capability.strip()
    license_id = next((_annotations(draft).get(k) for k in ("artifacthub.io/license", "license")
                       if isinstance(_annotations(draft).get(k), str)), None)  # fmt: skip
    if license_id and _SPDX.match(license_id.strip()):
        annotations["artifacthub.io/license"] = license_id.strip()
    crds = owned_crds(draft)
    if crds:
        annotations["artifacthub.io/crds"] = yamlio.dump(crds)
    examples = _alm_examples(draft)
    if examples:
        annotations["artifacthub.io/crdsExamples"] = yamlio.dump(examples)
    images = _images(draft)
    if images:
        annotations["artifacthub.io/images"] = yamlio.dump(images)
    if links:
        annotations["artifacthub.io/links"] = yamlio.dump(links)
    return fields, annotations


def _alm_examples(draft: ChartDraft) -> list[Any]:
    text = _annotations(draft).get("alm-examples")
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        examples = yamlio.load_json(text)
    except ValueError:
        return []
    return [e for e in examples if isinstance(e, dict)] if isinstance(examples, list) else []
