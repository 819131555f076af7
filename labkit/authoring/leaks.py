"""How much of a solution a text gives away, measured in tokens (authoring: hints, stubs, the release).

A *hint* must point to the concept, the shape or the slide, never contain the solution's expression. The
measure is the longest run of consecutive solution tokens that also appears, in the same order, in the hint
or in the comments of the stub (``HINT_MAX_RUN`` = 4 at most), ignoring the names the stub itself already
defines (its function, its parameters, its variables: writing ``x_t`` in a hint tells nothing). The
release uses the same tokens to find a long run of solution code in the package (``release.SOLUTION_RUN``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HINT_MAX_RUN = 4
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\S")
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<rest>(\s.*)?)$")
_END = re.compile(r"^[ \t]*### END SOLUTION\s*$")
_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)")


def tokens(text: str) -> list[str]:
    """Code or prose as tokens: names, numbers, and each other non-space character on its own."""
    return _TOKEN.findall(text)


def code_tokens(source: str) -> list[str]:
    """The tokens of Python code without its comments."""
    return tokens("\n".join(line.split("#", 1)[0] for line in source.split("\n")))


def longest_shared_run(a: list[str], b: list[str]) -> tuple[int, list[str]]:
    """(length, tokens) of the longest run of consecutive tokens that ``a`` and ``b`` share."""
    best, end, previous = 0, 0, [0] * (len(b) + 1)
    for i, x in enumerate(a, start=1):
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, end = current[j], i
        previous = current
    return best, a[end - best:end]


@dataclass(frozen=True)
class Region:
    """One solution region of a code cell, with what the student sees instead of it."""

    cell: int
    function: str | None     # the def/class the region is in
    solution: str            # the removed code
    hint: str                # the text after BEGIN SOLUTION
    comments: str            # the comments the student's version of the cell keeps
    defined: frozenset[str]  # names the stub defines: function, parameters, assigned variables


def regions(cell_index: int, source: str) -> list[Region]:
    """The solution regions of one code cell."""
    found, inside, lines, hint, function = [], False, [], "", None
    outside = []
    for line in source.split("\n"):
        if _BEGIN.match(line):
            inside, lines, hint = True, [], re.sub(r"^hint:\s*", "", _BEGIN.match(line)["rest"].strip(), flags=re.I)
            continue
        if _END.match(line):
            found.append((function, "\n".join(lines), hint))
            inside = False
            continue
        if inside:
            lines.append(line)
        else:
            outside.append(line)
            match = _DEF.match(line)
            function = match.group(1) if match else function
    stub = "\n".join(outside)
    defined = _defined_names(stub)
    comments = "\n".join(line.split("#", 1)[1] for line in stub.split("\n") if "#" in line)
    return [Region(cell_index, fn, code, hint, comments, frozenset(defined)) for fn, code, hint in found]


def _defined_names(stub: str) -> set[str]:
    """Names the stub defines: functions and classes, their parameters, and every name it assigns."""
    import ast
    try:
        tree = ast.parse("\n".join(re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in stub.split("\n")))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def hint_overlap(region: Region) -> tuple[int, list[str]]:
    """The longest run of the region's solution tokens found in its hint or the stub's comments, with the
    stub's own names left out of both (so naming a parameter gives nothing away)."""
    keep = lambda toks: [t for t in toks if t not in region.defined]  # noqa: E731
    solution = keep(code_tokens(region.solution))
    best = (0, [])
    for text in (region.hint, region.comments):
        run = longest_shared_run(solution, keep(tokens(text)))
        best = max(best, run, key=lambda r: r[0])
    return best
