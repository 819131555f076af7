"""Tests for labkit.authoring.prose: run-dependent figures in markdown are filled from outputs or checked."""
from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.authoring.prose import fill, prose_problems


def _nb(printed: str, markdown: str):
    code = new_code_cell("print(...)", outputs=[new_output("stream", name="stdout", text=printed)])
    return new_notebook(cells=[code, new_markdown_cell(markdown)])


def test_a_placeholder_takes_the_value_printed_above():
    nb = fill(_nb("NetCNN test accuracy: 93.7% after 2 epochs\n", "NetCNN reaches {{NetCNN test accuracy}}."))
    assert nb.cells[1].source == "NetCNN reaches 93.7%."


def test_a_placeholder_without_a_value_is_reported():
    assert "has no value" in prose_problems(_nb("loss: 0.2\n", "{{accuracy}} in the end"), "demo")[0]


def test_a_stale_figure_is_reported_and_a_printed_one_is_not():
    nb = _nb("test accuracy 83.0%\n", "NetCNN gets 83.0% here, and 97% after 10 epochs.")
    problems = prose_problems(nb, "demo")
    assert len(problems) == 1 and "'97%'" in problems[0]


def test_quoted_estimated_and_fixed_figures_are_allowed():
    nb = _nb("nothing\n", "The slide reports 97%. **Time:** about 60 minutes. Keep the last 20 %<!--fixed--> apart.")
    assert prose_problems(nb, "demo") == []
