"""The package layout of docs/architecture.md, checked: one package per stage, imports only go
down the stack, no import cycles, a docstring on every package, tests mirroring the packages, and
no module past ~400 lines without a stated reason.

Imports are read with :mod:`ast` (every ``import``, also inside functions, since a lazy import is
still a dependency); nothing is imported to find them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("extractor", "postprocess")

#: Bottom to top. A module may import modules of its own layer or of layers below it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("extractor", "extractor.errors", "extractor.lazy", "extractor.model", "extractor.yamlio",
                    "extractor.yamlfast", "extractor.tools", "extractor.files")),
    ("acquire", ("extractor.acquire",)),
    ("catalog", ("extractor.catalog",)),
    ("bundle", ("extractor.bundle",)),
    ("render", ("extractor.render",)),
    ("draft", ("extractor.draft",)),
    ("post-process", ("postprocess",)),
    ("emit", ("extractor.emit",)),
    ("config", ("extractor.config",)),
    ("review", ("extractor.review",)),
    ("pipeline", ("extractor.pipeline",)),
    ("demo", ("extractor.demo",)),
    ("cli", ("extractor.cli", "extractor.__main__")),
)
MAX_LINES = 400
LONG_MODULE_MARK = "Longer than 400 lines"


def module_files(repo: Path, roots: Iterable[str] = ROOTS) -> dict[str, Path]:
    """``{dotted module name: path}`` for every ``.py`` file under the ``roots`` packages."""
    modules: dict[str, Path] = {}
    for root in roots:
        for path in sorted((repo / root).rglob("*.py")):
            parts = list(path.relative_to(repo).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The modules of ``known`` that module ``name`` (file ``path``) imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            # ``from pkg import mod`` depends on pkg.mod; ``from pkg import name`` on pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            # ``import a.b.c`` loads a.b.c; keep the longest known prefix
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != name:
                found.add(".".join(parts))
    return found


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over ``modules`` only."""
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int:
    """Index in ``layers`` of the longest prefix that names ``module``; ``KeyError`` when none does."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    if best is None:
        raise KeyError(module)
    return best[0]


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """``"a imports b (stage x above stage y)"`` for every import of a higher layer."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                found.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# -- the checks, on this repository ----------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(module_files(REPO))


def test_every_module_belongs_to_a_stage(graph: dict[str, set[str]]) -> None:
    unplaced = []
    for module in graph:
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert unplaced == []


def test_no_upward_imports(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_pullers_do_not_import_the_module_that_chooses_them(graph: dict[str, set[str]]) -> None:
    for puller in ("extractor.acquire.http_puller", "extractor.acquire.docker_puller"):
        assert "extractor.acquire" not in graph[puller]


def test_every_package_has_a_docstring() -> None:
    for name, path in module_files(REPO).items():
        if path.name == "__init__.py":
            assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"package {name} has no docstring"


def test_tests_mirror_the_packages() -> None:
    packages = [p for p in module_files(REPO) if module_files(REPO)[p].name == "__init__.py" and "." in p]
    packages += ["postprocess"]
    for package in packages:
        stage = package.split(".")[-1]
        assert (REPO / "tests" / stage / "__init__.py").is_file(), f"no tests/{stage}/ for {package}"


def test_modules_stay_small_or_say_why() -> None:
    for name, path in module_files(REPO).items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES:
            assert LONG_MODULE_MARK in (ast.get_docstring(ast.parse(text)) or ""), (
                f"{name} has {lines} lines; split it or say why in its docstring ({LONG_MODULE_MARK}: ...)"
            )


# -- the checker itself finds what it should ------------------------------------------------------
def _tree(root: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root)


def test_checker_finds_upward_imports_and_cycles(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "extractor/__init__.py": '"""x"""\n',
        "extractor/errors.py": "",
        "extractor/render/__init__.py": "from extractor.render import a\n",
        "extractor/render/a.py": "def f():\n    from extractor.emit.chart import g\n",  # lazy, still upward
        "extractor/render/b.py": "from extractor.render import a\nfrom . import c\n",
        "extractor/render/c.py": "from .b import x\nfrom extractor import errors\n",
        "extractor/emit/__init__.py": "",
        "extractor/emit/chart.py": "import extractor.render.a\n",
    })
    graph = import_graph(modules)
    assert graph["extractor.render.c"] == {"extractor.render.b", "extractor.errors"}
    assert graph["extractor.render.b"] == {"extractor.render.a", "extractor.render.c"}
    assert upward_imports(graph) == ["extractor.render.a (render) imports extractor.emit.chart (emit)"]
    assert cycles(graph) == [
        ["extractor.emit.chart", "extractor.render.a"],
        ["extractor.render.b", "extractor.render.c"],
    ]
