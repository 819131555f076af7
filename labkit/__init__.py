"""labkit: the instructor's tools (never in a student release, never inside a grading sandbox).

- ``labkit.authoring``: student notebooks from the solutions, drift and leak checks, Colab headers,
  executing the labs, the public expected values of the self-checks, the release and its publication.
- ``labkit.grading``: the hidden-test spec, the sandbox and its runner, the wire format, the verdict
  and the reports.

Command line: ``python -m labkit --help``. This file imports nothing, so the sandbox runner
(``python -I -m labkit.grading.sandbox_runner``) starts fast.
"""
