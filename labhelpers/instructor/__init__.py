"""Instructor tooling: student notebooks from solutions, drift/leak checks, Colab headers (all labs).

Command line: ``python -m labhelpers.instructor {student,check,colab}``. Student notebooks never
import this package; it needs only the standard library and nbformat (no torch).
"""
from __future__ import annotations

from .notebooks import (
    NotebookError,
    apply_colab_header,
    check_notebooks,
    colab_header_sources,
    generate_student,
    generate_students,
    inject_parameters,
    lab_paths,
    list_labs,
    make_student,
    repository_settings,
    strip_solution,
    update_colab_headers,
)

__all__ = [
    "NotebookError", "apply_colab_header", "check_notebooks", "colab_header_sources", "generate_student",
    "generate_students", "inject_parameters", "lab_paths", "list_labs", "make_student",
    "repository_settings", "strip_solution", "update_colab_headers",
]
