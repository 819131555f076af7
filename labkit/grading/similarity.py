"""Similarity between submissions, exercise by exercise, with copydetect (grading; never changes a grade).

For each exercise the student's function (its last definition in the notebook) is tokenised with names
abstracted (copydetect: variables, functions and classes become one letter each, strings one token,
comments dropped) and fingerprinted by winnowing; the fingerprints of the stub's starter code (the student
notebook's version of the function) are subtracted, so a docstring, signature or given lines shared by
everyone count for nothing. Every pair of the class is compared (and every student with earlier years'
archives); a pair is flagged when most of both functions' own code is shared, over the exercises long
enough to tell. ``similarity.html`` shows the flagged pairs side by side, the shared fragments marked.
"""
from __future__ import annotations

import ast
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

K, WINDOW = 25, 6           # copydetect's noise threshold (k-gram length) and winnowing window
MIN_TOKENS = 60             # an exercise's own code shorter than this (filtered characters) is not compared
THRESHOLD = 0.7             # shared fraction of both functions' own code that flags a pair


@dataclass
class Shared:
    """What one exercise's two functions share."""

    function: str
    similarity: float
    source_a: str
    source_b: str
    slices_a: list[list[int]]
    slices_b: list[list[int]]


@dataclass
class Pair:
    """Two submissions and what they share, over the exercises long enough to compare."""

    a: str
    b: str
    similarity: float
    tokens: int
    shared: list[Shared] = field(default_factory=list)


def function_sources(cells: list[str], functions: list[str]) -> dict[str, str]:
    """The source of the last top-level ``def``/``class`` of each exercise name in the code cells."""
    from .spec import _AST_LOCK
    found: dict[str, str] = {}
    for source in cells:
        text = "\n".join(line if not line.lstrip().startswith(("%", "!")) else "" for line in source.split("\n"))
        try:
            with _AST_LOCK:
                tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in functions:
                found[node.name] = ast.get_source_segment(text, node) or ""
    return found


def notebook_sources(path: Path, functions: list[str]) -> dict[str, str]:
    """:func:`function_sources` of a notebook file ({} when it cannot be read)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                 for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    except (OSError, ValueError, AttributeError):
        return {}
    return function_sources(cells, functions)


def load_archives(paths: list[Path], functions: list[str]) -> dict[str, dict[str, str]]:
    """Earlier years: folders of notebooks, or of a graded batch's records (their ``sources``)."""
    found: dict[str, dict[str, str]] = {}
    for folder in paths:
        for path in sorted(Path(folder).rglob("*")):
            key = f"archive {Path(folder).name}/{path.relative_to(folder).with_suffix('').as_posix()}"
            if path.suffix == ".ipynb":
                found[key] = notebook_sources(path, functions)
            elif path.suffix == ".json" and path.name not in ("grade_report.json", "merge_report.json"):
                try:
                    sources = json.loads(path.read_text()).get("sources")
                except (OSError, ValueError, AttributeError):
                    continue
                if isinstance(sources, dict):
                    found[key] = {k: str(v) for k, v in sources.items() if k in functions}
    return found


def _fingerprint(code: str, boilerplate):
    from copydetect import CodeFingerprint
    return CodeFingerprint("f.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code), language="python")


def find_pairs(sources: dict[str, dict[str, str]], starter: dict[str, str],
               archive: dict[str, dict[str, str]] | None = None, threshold: float = THRESHOLD) -> list[Pair]:
    """Flagged pairs (most similar first): every pair of ``sources``, and each of them with ``archive``."""
    from copydetect.detector import compare_files
    import numpy as np
    archive = archive or {}
    everyone = {**sources, **archive}
    functions = sorted({f for s in everyone.values() for f in s})
    prints: dict[str, dict] = {}
    for function in functions:
        base = list(_fingerprint(starter[function], None).hashes) if starter.get(function) else None
        for name, own in everyone.items():
            if own.get(function):
                fp = _fingerprint(own[function], np.array(base) if base else None)
                if fp.token_coverage >= MIN_TOKENS:
                    prints.setdefault(name, {})[function] = fp
    names, current = sorted(prints), set(sources)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a not in current and b not in current:
                continue
            overlap, tokens, shared = 0, 0, []
            for function in sorted(set(prints[a]) & set(prints[b])):
                fa, fb = prints[a][function], prints[b][function]
                common, (sim_a, sim_b), (sa, sb) = compare_files(fa, fb)
                tokens += min(fa.token_coverage, fb.token_coverage)
                overlap += min(sim_a * fa.token_coverage, sim_b * fb.token_coverage)
                if common:
                    shared.append(Shared(function, float(min(sim_a, sim_b)), fa.raw_code, fb.raw_code,
                                         np.asarray(sa).astype(int).tolist(), np.asarray(sb).astype(int).tolist()))
            if tokens and overlap / tokens >= threshold:
                pairs.append(Pair(a, b, round(float(overlap / tokens), 3), int(tokens), shared))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def _marked(code: str, slices: list[list[int]]) -> str:
    """``code`` escaped, with the shared fragments in <mark>."""
    if not slices or not slices[0]:
        return html.escape(code)
    out, at = [], 0
    for start, end in sorted(zip(slices[0], slices[1])):
        start, end = max(start, at), max(end, at)
        out += [html.escape(code[at:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
        at = end
    return "".join(out) + html.escape(code[at:])


def similarity_html(pairs: list[Pair], lab: str, compared: int, top: int = 40) -> str:
    """The report page: the ``top`` flagged pairs, each exercise side by side, shared code marked."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Similarity: {e(lab)}</title><style>"
             "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;width:100%} "
             "td{vertical-align:top;border:1px solid #ccc;padding:4px;width:50%} pre{white-space:pre-wrap;margin:0} "
             "mark{background:#fd6}</style></head><body>",
             f"<h1>Similarity of {e(lab)}</h1><p>{compared} submission(s) compared, per exercise, with the starter "
             f"code subtracted and names abstracted (copydetect). {len(pairs)} pair(s) share at least "
             f"{THRESHOLD:.0%} of their own code. This page never changes a grade: read the code before you decide."
             "</p>"]
    if not pairs:
        parts.append("<p id='none'>No pair was flagged.</p>")
    for number, pair in enumerate(pairs[:top], start=1):
        parts.append(f"<h2 class='pair'>{number}. {e(pair.a)} and {e(pair.b)}: {pair.similarity:.0%} of "
                     f"{pair.tokens} tokens</h2>")
        for item in pair.shared:
            parts.append(f"<h3>{e(item.function)}: {item.similarity:.0%}</h3><table><tr><th>{e(pair.a)}</th>"
                         f"<th>{e(pair.b)}</th></tr><tr><td><pre>{_marked(item.source_a, item.slices_a)}</pre></td>"
                         f"<td><pre>{_marked(item.source_b, item.slices_b)}</pre></td></tr></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
