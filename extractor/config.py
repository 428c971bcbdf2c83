"""``bundles.yaml``: the declarative list of bundles this project turns into charts.

Read with the C loader of :mod:`extractor.yamlio` (YAML 1.2 core schema, its limits; a duplicate
key is refused), written with ruamel.yaml round-trip (people edit this file: comments and key
order are kept when ``update-bundle`` rewrites a version; ruamel is imported only then).
Longer than 400 lines: the schema of the one file users edit, its checks and its round-trip
rewriting stay in one module. Shape::

    bundles:
      - name: sail-operator                 # chart and release name (DNS-1123 label)
        image: registry.redhat.io/openshift-service-mesh/istio-sail-operator-bundle
        version: "3.2.1"                    # tag; or a digest "sha256:..."
        # image may also be a local bundle: ./dir (relative to this file), /abs/dir,
        # docker-archive:FILE, oci-archive:FILE, oci:DIR (version is then optional and unused)
        namespace: istio-system             # install namespace
        watchNamespaces: []                 # optional; [] / absent = OLM default for the install modes
        needs: [cert-manager-operator]      # optional; releases installed first
        exclude: ['.kind == "Foo"']         # optional jq expressions, added to the defaults
        include: []                         # optional jq expressions; when given, only matches are kept
        defaultExcludes: true               # optional; false drops the built-in exclusions
        postprocessors:                     # optional; name -> options (false disables a default one)
          image-pull-secrets: {operandServiceAccounts: [...]}
          split-crds: false
        track: patch                        # optional; versions `outdated` proposes: patch (same
                                            # major.minor, default), minor (same major) or major
        versionPattern: 'v1[.]15[.].*'      # optional; a Python regex tags must fullmatch to be proposed
        # or, instead of image: a catalog (image or ./fbc-dir) and package, optionally a channel
        # (else the default one) and a version of it (else its head): catalog: ..., package: ...
        patches:                            # optional; RFC 6902 patches of rendered objects
          - target: {kind: Deployment, name: x}   # namespace?, apiVersion?
            patch: [{op: replace, path: /spec/replicas, value: 2}]
        extraManifests:                     # optional; more objects for the chart (CRDs to presync/)
          - path: crds/                     # a file or directory, relative to this file, inside it
          - url: https://example.com/x.yaml # fetched when generating; https (http: loopback only)
            sha256: 0123...                 # required with url: 64 hex digits of the file
    environments:                           # optional; helmfile environments (`default` always exists)
      prod: {kubeContext: prod-cluster}     # name: a DNS-1123 label; kubeContext optional
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.errors import ConfigError, RenderError
from extractor.model import DNS_LABEL

if TYPE_CHECKING:
    from ruamel.yaml import YAML

    from extractor.render.filters import DEFAULT_EXCLUDES
    from extractor.render.patches import ObjectPatch

__all__ = [
    "DEFAULT_EXCLUDES",
    "BundleEntry",
    "ExtraManifest",
    "ProjectConfig",
    "entry_version_text",
    "load_config",
    "load_deployment_config",
    "set_entry_version",
]




_LOCAL_PREFIXES = ("docker-archive:", "oci-archive:", "oci:")

#: the ``track:`` policies of ``bundle-extract outdated`` (see :mod:`extractor.review.outdated`)
TRACKS = ("patch", "minor", "major")


def is_local_source(image: str) -> bool:
    """True if a bundles.yaml ``image`` names a local bundle instead of a registry image: a path
    (``/``, ``./``, ``../``, ``~``) to a bundle directory or archive, or ``docker-archive:``,
    ``oci-archive:`` and ``oci:`` sources."""
    return image.startswith(("/", "./", "../", "~", *_LOCAL_PREFIXES))


def _resolve_local(image: str, base_dir: Path | None) -> str:
    prefix = next((p for p in _LOCAL_PREFIXES if image.startswith(p)), "")
    rest = image[len(prefix):]
    if rest.startswith("~"):
        rest = str(Path(rest).expanduser())
    elif base_dir is not None and rest.startswith(("./", "../")):
        rest = str((base_dir / rest).resolve())
    return prefix + rest


@dataclass(frozen=True)
class ExtraManifest:
    """One ``extraManifests:`` item: a ``path`` (file or directory, relative to bundles.yaml) or a
    ``url`` with the ``sha256`` (64 lower-case hex digits) its content must have."""

    path: str | None = None
    url: str | None = None
    sha256: str | None = None

    def __str__(self) -> str:
        return self.url if self.url is not None else str(self.path)


def _extra_manifests(where: str, raw: Any) -> tuple[ExtraManifest, ...]:
    """Parse ``extraManifests:``; raises :class:`ConfigError` naming ``extraManifests[i]`` and the field."""
    from extractor.acquire.urlref import SHA256_HEX, check_url

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: extraManifests must be a list of {{path}} or {{url, sha256}}")
    items: list[ExtraManifest] = []
    for index, item in enumerate(raw):
        at = f"{where}: extraManifests[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a mapping {{path}} or {{url, sha256}}")
        keys = set(map(str, item))
        if keys == {"path"}:
            path = item["path"]
            if not isinstance(path, str) or not path.strip():
                raise ConfigError(f"{at}: path must be a non-empty string")
            if Path(path).is_absolute() or path.startswith("~"):
                raise ConfigError(f"{at}: path {path!r} must be relative to bundles.yaml")
            if ".." in Path(path).parts:
                raise ConfigError(f"{at}: path {path!r} must stay inside the directory of bundles.yaml (no '..')")
            items.append(ExtraManifest(path=str(path)))
        elif keys == {"url", "sha256"}:
            url, sha256 = item["url"], item["sha256"]
            if not isinstance(url, str):
                raise ConfigError(f"{at}: url must be a string")
            try:
                check_url(url)
            except ConfigError as exc:
                raise ConfigError(f"{at}: url {exc}") from None
            if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
                raise ConfigError(f"{at}: sha256 must be 64 lower-case hex digits (sha256sum of {url})")
            items.append(ExtraManifest(url=str(url), sha256=str(sha256)))
        elif keys == {"url"}:
            raise ConfigError(f"{at}: url needs sha256 (the sha256sum of the file)")
        else:
            raise ConfigError(f"{at}: expected exactly {{path}} or {{url, sha256}} (got {', '.join(sorted(keys))})")
    return tuple(items)


@dataclass(frozen=True)
class BundleEntry:
    """One ``bundles:`` entry. ``postprocessors`` maps a post-processor name to its options
    (``False`` disables a default one, ``True``/``{}`` enables with defaults). ``track`` (one of
    :data:`TRACKS`) and ``version_pattern`` (a regex tags must fullmatch) are the update policy of
    ``bundle-extract outdated``. ``patches``: JSON patches of rendered objects
    (:mod:`extractor.render.patches`); ``extra_manifests``: files and URLs whose objects join the chart."""

    name: str
    image: str
    version: str
    namespace: str
    watch_namespaces: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    default_excludes: bool = True
    postprocessors: dict[str, Any] = field(default_factory=dict)
    render: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None
    track: str = "patch"
    version_pattern: str | None = None
    catalog: str | None = None
    package: str | None = None
    channel: str | None = None
    patches: tuple[ObjectPatch, ...] = ()
    extra_manifests: tuple[ExtraManifest, ...] = ()

    @property
    def is_catalog(self) -> bool:
        """True for an entry naming a ``catalog`` and ``package`` instead of an ``image``."""
        return self.catalog is not None

    @property
    def catalog_reference(self) -> str:
        """The ``catalog`` to read, a relative path resolved against ``base_dir`` ("" for images)."""
        return _resolve_local(self.catalog, self.base_dir) if self.catalog else ""

    @property
    def reference(self) -> str:
        """What to acquire: ``image:version`` or ``image@sha256:...`` for a registry image; for a
        local source (see :func:`is_local_source`) the ``image`` value itself, a relative path
        resolved against the directory of bundles.yaml (``base_dir``)."""
        if is_local_source(self.image):
            return _resolve_local(self.image, self.base_dir)
        if self.version.startswith("sha256:"):
            return f"{self.image}@{self.version}"
        return f"{self.image}:{self.version}"

    @property
    def is_local(self) -> bool:
        """True for a bundle directory, an archive or an OCI layout instead of a registry image."""
        return is_local_source(self.image)

    @property
    def excludes(self) -> tuple[str, ...]:
        from extractor.render.filters import DEFAULT_EXCLUDES

        return (DEFAULT_EXCLUDES if self.default_excludes else ()) + self.exclude


@dataclass(frozen=True)
class ProjectConfig:
    """The parsed ``bundles.yaml``; ``path`` is where it was read from."""

    path: Path
    bundles: tuple[BundleEntry, ...]
    environments: Mapping[str, str | None] = field(default_factory=lambda: {"default": None})
    """helmfile environment name -> its ``kubeContext`` (``None``: none); ``default`` first, then
    the others in file order."""

    def entry(self, name: str) -> BundleEntry:
        """Return the entry named ``name``; raises :class:`ConfigError` listing the known names."""
        for entry in self.bundles:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.bundles)
        raise ConfigError(f"{self.path}: no bundle named {name!r} (known: {known})")


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _str_list(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _plain(value: Any) -> Any:
    """ruamel CommentedMap/Seq -> plain dict/list, and ruamel's scalar subclasses (quoted strings,
    hex/octal ints, floats) -> plain ``str``/``int``/``float``, recursively: entry values reach
    chart files (``render.deploymentConfig``) through :mod:`extractor.yamlio`, which represents
    the built-in types only."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value) in (bool, str, int, float):
        return value
    for kind in (str, int, float):  # bool cannot be subclassed
        if isinstance(value, kind):
            return kind(value)
    return value


def _entry(path: Path, index: int, raw: Any) -> BundleEntry:
    where = f"{path}: bundles[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    known = {"name", "image", "version", "namespace", "watchNamespaces", "needs", "exclude", "include",
             "defaultExcludes", "postprocessors", "render", "track", "versionPattern", "catalog", "package", "channel",
             "patches", "extraManifests"}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    catalog = _catalog_keys(where, raw)
    local = isinstance(raw.get("image"), str) and is_local_source(str(raw["image"]))
    for key in ("name", "image", "version", "namespace"):
        if key in ("image", "version") and catalog and raw.get(key) is None:
            continue  # a catalog entry names a package; `version` pins one of its channel
        if key == "version" and local and raw.get(key) is None:
            continue  # a local bundle has no tag; `version` is optional there
        if not isinstance(raw.get(key), str) or not raw.get(key):
            raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    name = str(raw["name"])
    where = f"{path}: bundle {name!r}"
    if not DNS_LABEL.match(name):
        raise ConfigError(f"{where}: name must be a DNS-1123 label")
    if not DNS_LABEL.match(str(raw["namespace"])):
        raise ConfigError(f"{where}: namespace {raw['namespace']!r} is not a DNS-1123 label")
    postprocessors = _plain(raw.get("postprocessors") or {})
    if not isinstance(postprocessors, dict):
        raise ConfigError(f"{where}: postprocessors must be a mapping of name to options")
    render = _plain(raw.get("render") or {})
    if not isinstance(render, dict):
        raise ConfigError(f"{where}: render must be a mapping")
    default_excludes = raw.get("defaultExcludes", True)
    if not isinstance(default_excludes, bool):
        raise ConfigError(f"{where}: defaultExcludes must be true or false")
    track = raw.get("track", "patch")
    if track not in TRACKS:
        raise ConfigError(f"{where}: track must be one of {', '.join(TRACKS)} (got {_plain(track)!r})")
    pattern = raw.get("versionPattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{where}: versionPattern must be a non-empty string (a Python regex)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: versionPattern {str(pattern)!r} is not a valid regex: {exc}") from None
    return BundleEntry(
        name=name,
        image=str(raw.get("image") or ""),
        version=str(raw.get("version") or ""),
        namespace=str(raw["namespace"]),
        watch_namespaces=_str_list(f"{where}: watchNamespaces", raw.get("watchNamespaces")),
        needs=_str_list(f"{where}: needs", raw.get("needs")),
        exclude=_str_list(f"{where}: exclude", raw.get("exclude")),
        include=_str_list(f"{where}: include", raw.get("include")),
        default_excludes=default_excludes,
        postprocessors=postprocessors,
        render=render,
        base_dir=path.resolve().parent,
        track=str(track),
        version_pattern=None if pattern is None else str(pattern),
        catalog=str(raw["catalog"]) if catalog else None,
        package=str(raw["package"]) if catalog else None,
        channel=str(raw["channel"]) if raw.get("channel") is not None else None,
        patches=_patches(where, raw.get("patches")),
        extra_manifests=_extra_manifests(where, _plain(raw.get("extraManifests"))),
    )


def _patches(where: str, raw: Any) -> tuple[ObjectPatch, ...]:
    """:func:`extractor.render.patches.parse_patches` of an entry's ``patches:`` (loaded only then)."""
    if raw is None:
        return ()
    from extractor.render.patches import parse_patches

    return parse_patches(where, _plain(raw))


def __getattr__(name: str) -> Any:
    """``DEFAULT_EXCLUDES`` (:mod:`extractor.render.filters`) loads on first use: reading
    bundles.yaml needs no render code."""
    if name == "DEFAULT_EXCLUDES":
        from extractor.render.filters import DEFAULT_EXCLUDES

        return DEFAULT_EXCLUDES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _catalog_keys(where: str, raw: dict[str, Any]) -> bool:
    """True for a catalog entry (``catalog`` + ``package``, no ``image``); raises :class:`ConfigError`."""
    if "catalog" not in raw or "image" in raw:
        for key in ("package", "channel", "catalog"):
            if key in raw:
                raise ConfigError(f"{where}: {key!r} goes with 'catalog' and 'package' instead of 'image'")
        return False
    for key in ("catalog", "package", *(k for k in ("channel", "version") if k in raw)):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    if not DNS_LABEL.match(str(raw["package"])):
        raise ConfigError(f"{where}: package {raw['package']!r} is not a package name (a DNS-1123 label)")
    return True


def _read_text(path: Path) -> str:
    """The text of bundles.yaml; :class:`ConfigError` naming ``path`` when it is missing,
    unreadable, past :data:`extractor.files.MAX_PROJECT_FILE_BYTES` or not UTF-8."""
    from extractor.files import read_bounded

    try:
        return read_bounded(path).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _duplicate_key(root: Any) -> str | None:
    """``'<key>' (line N)`` for the first mapping key of the composed ``root`` node that the same
    mapping has twice (what ruamel refuses), else ``None``. Iterative; each node visited once."""
    import yaml

    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, yaml.CollectionNode):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[Any] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if (key.tag, key.value) in keys:
                        return f"{key.value!r} (line {key.start_mark.line + 1})"
                    keys.add((key.tag, key.value))
                stack += [key, value]
        else:
            stack += node.value
    return None


def _refuse_duplicate_keys(path: Path, root: Any) -> None:
    duplicate = _duplicate_key(root)
    if duplicate is not None:
        raise ConfigError(f"{path}: invalid YAML: duplicate key {duplicate}")


def _read_data(path: Path) -> Any:
    """bundles.yaml as plain data (:func:`extractor.yamlio.load_checked`: YAML 1.2 core schema, C speed, one parse),
    refused (:class:`ConfigError` naming ``path``) when it is missing, unreadable, not UTF-8, not
    YAML, past the limits of :mod:`extractor.yamlio`, or has a mapping with a duplicate key."""
    import yaml

    from extractor import yamlio

    text = _read_text(path)
    try:
        data = yamlio.load_checked(text, functools.partial(_refuse_duplicate_keys, path))
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nesting deeper than {yamlio.MAX_DEPTH} levels") from None
    except yamlio.LimitError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML: {first}") from None
    return data


def _read_yaml(path: Path) -> Any:
    """bundles.yaml as ruamel round-trip data (for rewriting it), refused like :func:`_read_data`."""
    from ruamel.yaml.error import YAMLError

    from extractor import yamlio

    text = _read_text(path)
    try:
        data = _yaml().load(text)
        yamlio.check_limits(data)
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nesting deeper than {yamlio.MAX_DEPTH} levels") from None
    except yamlio.LimitError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML: {first}") from None
    return data


def load_config(path: Path) -> ProjectConfig:
    """Parse ``bundles.yaml``.

    Raises :class:`ConfigError` (one line, naming the file and entry) when the file is missing,
    is not YAML, or an entry is malformed; duplicate names and unknown ``needs`` are errors too.
    """
    data = _read_data(path)
    if not isinstance(data, dict) or not isinstance(data.get("bundles"), list):
        raise ConfigError(f"{path}: expected a top-level 'bundles:' list")
    entries = tuple(_entry(path, i, raw) for i, raw in enumerate(data["bundles"]))
    names = [e.name for e in entries]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: bundle name {name!r} is used more than once")
    for entry in entries:
        for need in entry.needs:
            if need == entry.name:
                raise ConfigError(f"{path}: bundle {entry.name!r} needs itself")
            if need not in names:
                raise ConfigError(f"{path}: bundle {entry.name!r} needs unknown bundle {need!r}")
    cycle = _needs_cycle({e.name: list(e.needs) for e in entries})
    if cycle:
        raise ConfigError(f"{path}: needs form a cycle: {' -> '.join(cycle)}")
    return ProjectConfig(path=path, bundles=entries, environments=_environments(path, data.get("environments")))


def _environments(path: Path, raw: Any) -> dict[str, str | None]:
    """The top-level ``environments:`` mapping (name -> ``{kubeContext: str}``, every key optional)
    as name -> kube context, ``default`` first. Raises :class:`ConfigError` naming the environment."""
    result: dict[str, str | None] = {"default": None}
    if raw is None:
        return result
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: environments must be a mapping of name to {{kubeContext: ...}}")
    for name, spec in raw.items():
        where = f"{path}: environment {_plain(name)!r}"
        if not isinstance(name, str) or not DNS_LABEL.match(name):
            raise ConfigError(f"{where}: the name must be a DNS-1123 label")
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping (optional key: kubeContext)")
        unknown = sorted(set(map(str, spec)) - {"kubeContext"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: kubeContext)")
        context = spec.get("kubeContext")
        if context is not None and (not isinstance(context, str) or not context):
            raise ConfigError(f"{where}: kubeContext must be a non-empty string (got {_plain(context)!r})")
        result[name] = None if context is None else str(context)
    return result


def _needs_cycle(needs: dict[str, list[str]]) -> list[str]:
    """One cycle of the ``needs`` graph as a path ``[a, b, ..., a]``, or ``[]``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for need in needs.get(name, []):
            if state.get(need) == 1:
                return [*path[path.index(need):], need]
            if need not in state and (found := visit(need)):
                return found
        path.pop()
        state[name] = 2
        return []

    for name in sorted(needs):
        if name not in state and (found := visit(name)):
            return found
    return []


def entry_version_text(path: Path, name: str, version: str) -> str | None:
    """The text of ``path`` with ``version`` of bundle ``name`` replaced, keeping comments, quoting
    and key order (ruamel round-trip); ``None`` when the version is already ``version``.

    Raises :class:`ConfigError` if the entry is unknown.
    """
    yaml = _yaml()
    data = _read_yaml(path)
    for raw in data.get("bundles") or []:
        if isinstance(raw, dict) and raw.get("name") == name:
            if str(raw.get("version")) == version:
                return None
            old = raw.get("version")
            # keep the user's quoting style (ruamel's quoted-scalar string subclasses)
            raw["version"] = type(old)(version) if isinstance(old, str) else version
            break
    else:
        raise ConfigError(f"{path}: no bundle named {name!r}")
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def set_entry_version(path: Path, name: str, version: str) -> bool:
    """Rewrite ``version`` of bundle ``name`` in place (see :func:`entry_version_text`).

    Returns ``True`` if the file changed. Raises :class:`ConfigError` if the entry is unknown.
    The write goes to a temporary file first and replaces the original atomically.
    """
    text = entry_version_text(path, name, version)
    if text is None:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def load_deployment_config(path: Path) -> dict[str, Any]:
    """Read an OLM Subscription ``spec.config`` from ``path`` (YAML or JSON).

    The file holds either the ``spec.config`` mapping itself (``{nodeSelector: ..., env: [...]}``)
    or a whole ``Subscription`` (``kind: Subscription``; its ``spec.config``, ``{}`` when absent).
    Returns the config mapping, checked with OLM's field names and types
    (:func:`extractor.render.deployment_config.check_deployment_config`).
    Raises :class:`ConfigError` naming ``path`` when the file is missing, not YAML, or malformed.
    """
    from extractor import yamlio
    from extractor.render.deployment_config import check_deployment_config

    try:
        data = yamlio.load(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML or JSON file") from None
    except Exception as exc:  # yaml.YAMLError, decoding errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: invalid YAML/JSON: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a Subscription or its spec.config mapping")
    if data.get("kind") == "Subscription":
        spec = data.get("spec") or {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: Subscription spec must be a mapping")
        data = spec.get("config") or {}
    try:
        check_deployment_config(data)
    except RenderError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    result: dict[str, Any] = data
    return result
