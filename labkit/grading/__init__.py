"""Grading: hidden-test specs (:mod:`spec`), the sandbox (:mod:`sandbox`, :mod:`sandbox_setup`,
:mod:`sandbox_runner`), the wire format (:mod:`codec`), the verdict (:mod:`verdict`), one submission
(:mod:`grade`), a batch (:mod:`batch`) and its reports (:mod:`report`).

This file imports nothing: the sandbox runner imports only what it needs.
"""
