"""The kit stays importable on Python 3.13 (Google Colab's): no module that 3.12 or 3.13 removed, and no call
that 3.13 removed, in any package or notebook (a static check: Python 3.13 cannot be installed here)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REMOVED_MODULES = {  # PEP 594 (removed in 3.13) and the 3.12 removals
    "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib", "nis", "nntplib",
    "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib", "lib2to3",
    "distutils", "imp", "asynchat", "asyncore", "smtpd",
}
REMOVED_CALLS = {  # attribute -> what replaces it
    "resetlocale": "locale.setlocale(locale.LC_ALL, '')", "getdefaultlocale": "locale.getlocale()",
    "makeSuite": "unittest.TestLoader", "findTestCases": "unittest.TestLoader", "getTestCaseNames": "TestLoader",
    "link_to": "Path.hardlink_to", "SafeConfigParser": "ConfigParser", "readfp": "read_file",
    "assertEquals": "assertEqual", "assertRegexpMatches": "assertRegex",
}


def _sources():
    for folder in ("labhelpers", "labkit", "benchmarks", "grading", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"], start=1):
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                yield f"{path.name} cell {number}", "\n".join(
                    "pass" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def _problems(name: str, source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        found += [f"{name}: imports {m}, removed in Python 3.12/3.13" for m in modules
                  if m.split(".")[0] in REMOVED_MODULES]
        if isinstance(node, ast.Attribute) and node.attr in REMOVED_CALLS:
            found.append(f"{name}: uses .{node.attr}, removed in Python 3.13 (use {REMOVED_CALLS[node.attr]})")
    return found


def test_no_module_or_call_that_python_313_removed():
    problems = [p for name, source in _sources() for p in _problems(name, source) if "test_python313" not in p]
    assert problems == []


@pytest.mark.parametrize("snippet,words", [("import imghdr", "imghdr"), ("from distutils.util import x", "distutils"),
                                           ("import locale\nlocale.resetlocale()", "resetlocale")])
def test_the_check_sees_what_it_looks_for(snippet, words):
    assert words in " ".join(_problems("demo", snippet))
