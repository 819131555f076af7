"""Instructor tooling: student notebooks from solutions, drift/leak checks, Colab headers (all labs).

Command line: ``python -m labkit {student,check,colab}``. Student notebooks never
import this package; it needs only the standard library and nbformat (no torch).
"""
from __future__ import annotations

from .colab import apply_colab_header, colab_header_sources, repository_settings, update_colab_headers
from .nbfiles import NotebookError, lab_paths, list_labs
from labhelpers.selfcheck import inject_parameters

from .notebooks import (
    check_notebooks,
    generate_student,
    generate_students,
    make_student,
    strip_solution,
)

__all__ = [
    "NotebookError", "apply_colab_header", "check_notebooks", "colab_header_sources", "generate_student",
    "generate_students", "inject_parameters", "lab_paths", "list_labs", "make_student",
    "repository_settings", "strip_solution", "update_colab_headers",
]
