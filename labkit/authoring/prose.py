"""Prose that cannot drift from its outputs: run-dependent figures in markdown are filled or checked (authoring).

Two rules for the markdown cells of a solution notebook:

1. **Placeholders.** A figure that a run produces is written ``{{label}}`` and some code cell above prints a
   line containing ``label: value`` (or ``label = value``); the placeholder stands for that value (its first
   word, e.g. ``93.7%``), taken from the nearest such line above. Student notebooks and executed copies get
   the values filled in (:func:`fill`); the solution keeps the placeholders, so its prose follows every run.
2. **No stale figures.** Any other percentage or duration (``83%``, ``12.5 s``, ``3 min``) must appear, as
   written, in the outputs of the code cells next to the markdown cell (the run of code cells just above
   and just below it), or stand in a sentence that quotes its source (the slide, the deck, a paper, a
   table) or says it is an estimate (``Time: about 60 minutes``); a figure that is fixed by the text itself
   (a tolerance, a share of a series) is followed by ``<!--fixed-->``.

:func:`prose_problems` lists what breaks either rule; ``make check`` fails on it.
"""
from __future__ import annotations

import copy
import re

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\n]{1,80}?)\s*\}\}")
FIGURE = re.compile(r"(?<![\w.$])(\d+(?:\.\d+)?)( ?%| (?:s|ms|min|minutes|seconds)\b)(?!\s*<!--fixed-->)")
QUOTED = re.compile(r"slide|deck|seed|paper|[Tt]able|published|reported|^\W*Time:|\*\*Time:\*\*|estimate", re.I)
SENTENCE = re.compile(r"(?<=[.;!?])\s+|\n\s*[-*]\s+")


def _outputs_text(cell) -> str:
    """All text a code cell printed or displayed as text/plain."""
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text") or out.get("data", {}).get("text/plain", "")
        parts.append("".join(text) if isinstance(text, list) else str(text))
    return "\n".join(parts)


def _value(label: str, text: str) -> str | None:
    """The value printed after ``label:`` / ``label =`` on the last such line of ``text`` (its first word)."""
    found = None
    for match in re.finditer(rf"{re.escape(label)}\s*[:=]\s*(\S+)", text):
        found = match.group(1).rstrip(",;")
    return found


def fill(nb):
    """A copy of ``nb`` whose markdown placeholders are replaced by the values printed above them (a
    placeholder without a value stays as it is; :func:`prose_problems` reports it)."""
    nb = copy.deepcopy(nb)
    above = ""
    for cell in nb.cells:
        if cell.cell_type == "code":
            above += "\n" + _outputs_text(cell)
        elif cell.cell_type == "markdown" and "{{" in cell.source:
            cell.source = PLACEHOLDER.sub(lambda m: _value(m.group(1), above) or m.group(0), cell.source)
    return nb


def _adjacent_outputs(cells, index: int) -> str:
    text, j = [], index - 1
    while j >= 0 and cells[j].cell_type == "code":
        text.append(_outputs_text(cells[j]))
        j -= 1
    j = index + 1
    while j < len(cells) and cells[j].cell_type == "code":
        text.append(_outputs_text(cells[j]))
        j += 1
    return "\n".join(text)


def prose_problems(nb, filename: str) -> list[str]:
    """Placeholders with no value above them, and figures no adjacent output prints (see the module doc)."""
    problems, above = [], ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            above += "\n" + _outputs_text(cell)
            continue
        if cell.cell_type != "markdown":
            continue
        for match in PLACEHOLDER.finditer(cell.source):
            if _value(match.group(1), above) is None:
                problems.append(f"{filename}, cell {index}: {{{{{match.group(1)}}}}} has no value: no output above "
                                f"prints '{match.group(1)}: ...'")
        text, adjacent = PLACEHOLDER.sub("", cell.source), None
        for sentence in SENTENCE.split(text):
            if QUOTED.search(sentence):
                continue
            for match in FIGURE.finditer(sentence):
                adjacent = _adjacent_outputs(nb.cells, index) if adjacent is None else adjacent
                number, unit = match.group(1), match.group(2).strip()
                if not re.search(rf"(?<![\d.]){re.escape(number)}\s?{re.escape(unit)}", adjacent):
                    problems.append(f"{filename}, cell {index}: '{match.group(0).strip()}' is printed by no code cell "
                                    "next to it: print it there, write it as a {{placeholder}}, quote its source, or "
                                    "mark a fixed figure with <!--fixed-->")
    return problems
