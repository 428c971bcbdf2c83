"""``exclude`` (default on): drop rendered objects selected by jq expressions (olm-extractor style).

Options: ``{exclude: [jq...], include: [jq...]}``. An object *matches* an expression when the
expression yields boolean ``true`` for it (any other output, or none, is no match). Excludes are
checked first; when includes are given, only objects matching at least one are kept. Without an
``exclude`` option the built-in :data:`DEFAULT_EXCLUDES` apply (the pipeline
always passes the entry's full list).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jq

from extractor.draft import ChartDraft
from extractor.errors import ConfigError, PostProcessError
from extractor.model import KubeObject
from postprocess._common import Options, copy_draft, kind_of, name_of

__all__ = ["DEFAULT_EXCLUDES", "DOC", "compile_expressions", "filter_objects", "run"]

#: olm-extractor-style exclusions of OpenShift-only kinds, applied unless ``defaultExcludes: false``.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    '.kind == "ConsoleCLIDownload"',
    '.kind == "ConsolePlugin"',
    '.kind == "ConsoleYAMLSample"',
    '.kind == "ConsoleQuickStart"',
    '.kind == "ConsoleLink"',
    '.kind == "Route"',
    '.kind == "SecurityContextConstraints"',
)

DOC = "drop objects matching jq expressions (exclude first; include keeps only matches)"


def compile_expressions(expressions: Sequence[str], what: str = "exclude") -> list[tuple[str, Any]]:
    """Compile jq ``expressions``; raise :class:`ConfigError` naming the first invalid one."""
    compiled = []
    for expression in expressions:
        try:
            compiled.append((expression, jq.compile(expression)))
        except ValueError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid expression"
            raise ConfigError(f"{what} expression {expression!r} does not compile: {first}") from None
    return compiled


def _matches(program: tuple[str, Any], obj: KubeObject) -> bool:
    expression, compiled = program
    try:
        outputs = compiled.input_value(obj).all()
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
        raise PostProcessError(
            f"jq expression {expression!r} failed on {kind_of(obj)}/{name_of(obj)}: {first}"
        ) from None
    return any(output is True for output in outputs)


def _match_matrix(programs: Sequence[tuple[str, Any]], objects: Sequence[KubeObject], stream: str) -> list[bool]:
    """For each object, whether any of ``programs`` matches it.

    All expressions run in one jq program over the JSON ``stream`` of the objects (jq parses the
    objects once, not once per expression; the sail CRDs alone are 3 MB): for each input it
    outputs one boolean per expression (``[EXPR] | any(. == true)``). On a runtime error the
    expressions are evaluated one by one so that the message names the expression and the object.
    """
    if not programs:
        return [False] * len(objects)
    body = ", ".join(f"([ ({expression}) ] | any(. == true))" for expression, _ in programs)
    try:
        rows = jq.compile(f"[ {body} ] | any").input_text(stream).all()
    except ValueError:
        rows = []
    if len(rows) != len(objects):
        return [any(_matches(program, obj) for program in programs) for obj in objects]
    return [row is True for row in rows]


def filter_objects(
    objects: Sequence[KubeObject], exclude: Sequence[str] = (), include: Sequence[str] = ()
) -> list[KubeObject]:
    """Return the objects of ``objects`` (order kept) not matching any ``exclude`` expression and,
    when ``include`` is non-empty, matching at least one ``include`` expression.

    Raises :class:`ConfigError` for an expression that does not compile and
    :class:`PostProcessError` for a runtime error (both name the expression; the latter also the
    object).
    """
    excludes = compile_expressions(exclude, "exclude")
    includes = compile_expressions(include, "include")
    if not objects or not (excludes or includes):
        return list(objects)
    excluded = _evaluate(excludes, objects)
    included = _evaluate(includes, objects) if includes else [True] * len(objects)
    return [obj for obj, out, keep in zip(objects, excluded, included, strict=True) if keep and not out]


# `.kind == "X"` (the shape of every default exclusion) is decided without jq: identical result,
# and it spares jq parsing megabytes of CRD JSON.
_KIND_EQUALS = re.compile(r'^\s*\.kind\s*==\s*"([A-Za-z0-9]*)"\s*$')


def _evaluate(programs: Sequence[tuple[str, Any]], objects: Sequence[KubeObject]) -> list[bool]:
    kinds: set[str] = set()
    general: list[tuple[str, Any]] = []
    for program in programs:
        match = _KIND_EQUALS.match(program[0])
        if match:
            kinds.add(match.group(1))
        else:
            general.append(program)
    result = [obj.get("kind") in kinds for obj in objects]
    if general:
        stream = "\n".join(json.dumps(obj, separators=(",", ":")) for obj in objects)
        result = [a or b for a, b in zip(result, _match_matrix(general, objects, stream), strict=True)]
    return result


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring)."""
    opts = Options("exclude", options)
    exclude = opts.str_list("exclude", list(DEFAULT_EXCLUDES))
    include = opts.str_list("include")
    opts.done()
    out = copy_draft(draft)
    out.objects = filter_objects(out.objects, exclude, include)
    return out
