"""jq filtering of rendered objects (olm-extractor's ``--exclude``/``--include``): the engine behind
``run`` and the ``exclude`` post-processor.

An object *matches* an expression when the expression yields boolean ``true`` for it (any other
output, or none, is no match). Excludes are checked first; when includes are given, only objects
matching at least one are kept. ``.kind == "X"`` expressions (every default exclusion) are decided
without jq.

Expressions come from configuration (bundles.yaml, a pull request may change it) and see only the
objects: :func:`check_expression` refuses every jq builtin that reaches outside them (the
environment: ``env``, ``$ENV``; files and modules: ``import``, ``include``, ``input``, ``inputs``,
``input_filename``, ``$__loc__``, ``$__prog_args``, ``get_search_list``, ...; the process:
``halt``, ``halt_error``, ``debug``, ``stderr``), and evaluation runs in a forked child with an
empty environment, stopped after :data:`JQ_TIMEOUT` seconds (a runaway ``last(range(1e15))``).
jq itself is imported only when an expression needs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from extractor.errors import ConfigError, PostProcessError
from extractor.model import KubeObject

__all__ = ["DEFAULT_EXCLUDES", "FORBIDDEN", "JQ_TIMEOUT", "check_expression", "compile_expressions",
           "filter_objects"]


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

JQ_TIMEOUT = 30.0
"""Seconds all jq expressions of one filter call may run (``BUNDLE_EXTRACT_JQ_TIMEOUT`` overrides)."""

#: jq builtins and variables that read outside the input objects or act on the process.
FORBIDDEN = frozenset({
    "env", "$ENV", "input", "inputs", "input_filename", "input_line_number", "$__loc__", "$__prog_args",
    "$__prog_name", "import", "include", "modulemeta", "get_search_list", "get_prog_origin", "get_jq_origin",
    "halt", "halt_error", "debug", "stderr", "getpath_env", "splits_env", "$__named", "$named",
})
_WORD = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*")


def _name(obj: KubeObject) -> str:
    metadata = obj.get("metadata")
    return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""


def _jq() -> Any:
    import jq

    return jq


def _code_outside_strings(expression: str) -> str:
    """``expression`` with the text of string literals blanked out (interpolations ``\\(...)``
    inside strings are code and kept)."""
    out: list[str] = []
    i, n = 0, len(expression)
    # stack of open contexts: "s" string, or a paren depth counter for an interpolation
    stack: list[Any] = []
    while i < n:
        ch = expression[i]
        if stack and stack[-1] == "s":
            if ch == "\\" and i + 1 < n and expression[i + 1] == "(":
                stack.append(0)
                out.append(" (")
                i += 2
                continue
            if ch == "\\":
                out.append("  ")
                i += 2
                continue
            if ch == '"':
                stack.pop()
            out.append(" ")
            i += 1
            continue
        if ch == '"':
            stack.append("s")
            out.append(" ")
        elif ch == "#":  # a comment runs to the end of the line
            end = expression.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif stack and isinstance(stack[-1], int):
            if ch == "(":
                stack[-1] += 1
            elif ch == ")":
                if stack[-1] == 0:
                    stack.pop()
                else:
                    stack[-1] -= 1
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def check_expression(expression: str, what: str = "exclude") -> None:
    """Raise :class:`ConfigError` when jq ``expression`` uses a builtin of :data:`FORBIDDEN`.

    Field names (``.env``, ``{env: 1}``'s key is still refused: rename or quote it, ``{"env": 1}``)
    and string contents are not builtins. The message names the expression and the builtin, never
    a value.
    """
    code = _code_outside_strings(expression)
    for match in _WORD.finditer(code):
        word = match.group(0)
        before = code[: match.start()].rstrip()
        if before.endswith(".") and not before.endswith(".."):
            continue  # .name: a field
        if word in FORBIDDEN or word.split("::", 1)[0] in FORBIDDEN:
            raise ConfigError(
                f"{what} expression {expression!r} uses {word!r}: jq expressions from configuration may only "
                "read the objects (no environment, files, modules or process control)"
            )


# `.kind == "X"` (the shape of every default exclusion) is decided without jq: identical result,
# and it spares jq parsing megabytes of CRD JSON.
_KIND_EQUALS = re.compile(r'^\s*\.kind\s*==\s*"([A-Za-z0-9]*)"\s*$')


def compile_expressions(expressions: Sequence[str], what: str = "exclude") -> list[tuple[str, Any]]:
    """Check (:func:`check_expression`) and compile jq ``expressions``; raise :class:`ConfigError`
    naming the first one that is refused or does not compile."""
    compiled: list[tuple[str, Any]] = []
    for expression in expressions:
        if _KIND_EQUALS.match(expression):
            compiled.append((expression, None))  # decided without jq (see _evaluate): nothing to compile
            continue
        check_expression(expression, what)
        try:
            compiled.append((expression, _jq().compile(expression)))
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
            f"jq expression {expression!r} failed on {obj.get('kind', '')}/{_name(obj)}: {first}"
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
        rows = _jq().compile(f"[ {body} ] | any").input_text(stream).all()
    except ValueError:
        rows = []
    if len(rows) != len(objects):
        return [any(_matches(program, obj) for program in programs) for obj in objects]
    return [row is True for row in rows]


def _match_in_child(expressions: list[str], objects: Sequence[KubeObject], stream: str, what: str) -> list[bool]:
    """:func:`_match_matrix` with the programs compiled here, in the child (the only place they are
    compiled): jq fixes ``$ENV`` when a program is compiled, so nothing compiled before the
    environment was emptied is used."""
    return _match_matrix(compile_expressions(expressions, what), objects, stream)


def _timeout() -> float:
    try:
        return float(os.environ.get("BUNDLE_EXTRACT_JQ_TIMEOUT") or JQ_TIMEOUT)
    except ValueError:
        raise ConfigError("BUNDLE_EXTRACT_JQ_TIMEOUT must be a number of seconds") from None


def _clear_environment() -> None:
    """Empty the process environment, also the C-level variables ``os.environ`` does not know of
    (set by a library with ``setenv``): jq reads ``$ENV`` and ``env`` from the C environment."""
    import ctypes  # imported by _bounded before the fork: the children share it

    os.environ.clear()
    with contextlib.suppress(OSError, AttributeError, ValueError):  # no C library to ask: that was all
        libc = ctypes.CDLL(None)
        environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, "environ")
        names = []
        index = 0
        while environ[index] is not None:
            names.append(bytes(environ[index]).split(b"=", 1)[0])
            index += 1
        for name in names:  # collected first: unsetenv reorders the array
            libc.unsetenv(name)


def _child(conn: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _clear_environment()
    try:
        conn.send(("ok", func(*args)))
    except BaseException as exc:
        conn.send(("error", exc if isinstance(exc, ConfigError | PostProcessError) else PostProcessError(str(exc))))
    finally:
        conn.close()


def _bounded(func: Callable[..., Any], args: tuple[Any, ...], what: str) -> Any:
    """``func(*args)`` in a forked child with an empty environment, stopped after :func:`_timeout`
    seconds (:class:`PostProcessError`). Exceptions of ours raised in the child are raised here."""
    import ctypes  # noqa: F401  (for _clear_environment in the child, imported once before forking)
    import multiprocessing  # only when an expression runs (``run`` without --exclude needs no child)

    timeout = _timeout()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, func, args), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise PostProcessError(f"{what} did not finish within {timeout:g}s (stopped)")
        status, value = receive.recv()
    except EOFError:
        raise PostProcessError(f"{what} stopped without an answer") from None
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join()
    if status == "error":
        raise value
    return value


def filter_objects(
    objects: Sequence[KubeObject], exclude: Sequence[str] = (), include: Sequence[str] = ()
) -> list[KubeObject]:
    """Return the objects of ``objects`` (order kept) not matching any ``exclude`` expression and,
    when ``include`` is non-empty, matching at least one ``include`` expression.

    Raises :class:`ConfigError` for an expression that does not compile and
    :class:`PostProcessError` for a runtime error (both name the expression; the latter also the
    object).
    """
    for expressions, what in ((exclude, "exclude"), (include, "include")):
        for expression in expressions:
            if not _KIND_EQUALS.match(expression):
                check_expression(expression, what)  # here, before anything runs; jq compiles in the child
    if not objects or not (exclude or include):
        return list(objects)
    excluded = _evaluate(exclude, objects, "exclude")
    included = _evaluate(include, objects, "include") if include else [True] * len(objects)
    return [obj for obj, out, keep in zip(objects, excluded, included, strict=True) if keep and not out]




def _evaluate(expressions: Sequence[str], objects: Sequence[KubeObject], what: str) -> list[bool]:
    kinds: set[str] = set()
    general: list[str] = []
    for expression in expressions:
        match = _KIND_EQUALS.match(expression)
        if match:
            kinds.add(match.group(1))
        else:
            general.append(expression)
    result = [obj.get("kind") in kinds for obj in objects]
    if general:
        stream = "\n".join(json.dumps(obj, separators=(",", ":")) for obj in objects)
        names = ", ".join(repr(expression) for expression in general)
        matrix = _bounded(_match_in_child, (general, objects, stream, what), f"jq expression(s) {names}")
        result = [a or b for a, b in zip(result, matrix, strict=True)]
    return result


