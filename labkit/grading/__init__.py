"""Grading: hidden-test specs (:mod:`spec`), the sandbox (:mod:`sandbox`, :mod:`sandbox_setup`,
:mod:`sandbox_runner`, :mod:`template`, :mod:`cgroups`, :mod:`guard`), the wire format (:mod:`codec`), the
verdict (:mod:`verdict`), one submission (:mod:`grade`), a batch (:mod:`batch`) and its reports (:mod:`report`);
a course around it: LMS downloads in (:mod:`archive`, :mod:`lms_in`), the roster (:mod:`roster`), the late
policy (:mod:`policy`), the pipeline (:mod:`course`), the batch's files (:mod:`outputs`, :mod:`lms_out`,
:mod:`analysis`, :mod:`similarity`), regrades (:mod:`provenance`, :mod:`regrade`), shards (:mod:`merge`) and
the Canvas upload (:mod:`canvas_upload`).

This file imports nothing: the sandbox runner imports only what it needs.
"""
