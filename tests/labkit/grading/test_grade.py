"""Tests for the sandboxed grader (labkit.grading.grade*, sandbox*, codec, verdict, gradebook).

The slow part grades two folders once per session (-j 2), both built from lab 01 by
tests/adversarial/make_adversarial.py: every adversarial submission of the issue, and a sample class
(correct, partial, broken, malicious) whose gradebook must equal tests/adversarial/sample_class_gradebook.csv.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labkit.grading.codec import decode, encode
from labkit.grading.report import clean, gradebook_csv
from labkit.grading.submission import Rejected, parse_notebook
from labkit.grading.verdict import compare

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parent / "adversarial"))
from make_adversarial import LAB, build_adversarial, build_sample_class  # noqa: E402

READY = (ROOT / "grading" / f"{LAB}.py").is_file() and (ROOT / "notebooks" / f"{LAB}_solution.ipynb").is_file()
LIMITS = {"cell_timeout": 15, "notebook_timeout": 240, "call_timeout": 20, "memory_mb": 4608}
EXPECTED = {  # submission -> score out of 10 (2 points per exercise)
    "correct": 10, "untouched": 0,
    "redefine_checks": 0, "monkeypatch": 0, "eq_always_true": 0, "suppress_tracebacks": 0, "patch_runner": 0,
    "forge_protocol": 0, "fake_results": 0, "disk_search": 0, "network": 0,
    "sys_exit": 10,        # SystemExit is an error in its cell; the notebook goes on
    "os_exit": 4, "segfault": 4, "infinite_loop": 4, "memory_bomb": 4,  # the points earned before the failure
    "print_gigabyte": 10,  # output capped, grading unaffected
    "deleted_cells": 10, "deleted_exercise_cells": 6, "renamed_function": 8,
    "wrong_lab": 0, "huge": 0, "zero_bytes": 0, "invalid_json": 0, "not_a_notebook": 0, "binary": 0,
}
ISOLATION = os.environ.get("LABKIT_GRADE_ISOLATION", "auto")  # e.g. user-namespaces, to test that mode
needs_lab = pytest.mark.skipif(not READY, reason=f"lab {LAB} or its hidden tests are missing")


class Listener:
    """A TCP server on 127.0.0.1 that records every connection (nobody may reach it from a sandbox)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port, self.connections, self.running = self.sock.getsockname()[1], [], True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn.recv(100))
            conn.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plant_decoy() -> Path | None:
    """A copy of the lab's solution beside the repository, like a second checkout on a CI machine:
    the sandbox must not see it (its root holds only what grading needs). None where not writable."""
    decoy = ROOT.parent / f".labkit-decoy-{os.getpid()}"
    try:
        (decoy / "notebooks").mkdir(parents=True)
        shutil.copy(ROOT / "notebooks" / f"{LAB}_solution.ipynb", decoy / "notebooks")
    except OSError:
        shutil.rmtree(decoy, ignore_errors=True)
        return None
    return decoy


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the adversarial folder (and keep what the checks need)."""
    from labkit.grading.batch import grade_folder
    base = tmp_path_factory.mktemp("grading")
    subs, out = base / "submissions", base / "out"
    listener = Listener()
    decoy = _plant_decoy()
    try:
        names = build_adversarial(subs, attack_out=out, attack_submissions=subs, port=listener.port)
        hashes = {p.name: _sha(p) for p in subs.iterdir()}
        report = grade_folder(subs, LAB, out, root=ROOT, jobs=2, limits=LIMITS, max_bytes=3 * 2**20,
                              isolation=ISOLATION)
    finally:
        listener.close()
        if decoy is not None:
            shutil.rmtree(decoy, ignore_errors=True)
    records = {name: json.loads((out / f"{name}.json").read_text()) for name in names}
    return SimpleNamespace(report=report, records=records, out=out, subs=subs, hashes=hashes,
                           connections=listener.connections, names=names)


def _isolated(graded, what: str) -> None:
    iso = graded.report["isolation"]["report"]
    if what == "network" and not str(iso.get("network", "")).startswith("isolated"):
        pytest.skip(f"no network isolation on this machine ({iso.get('network')})")
    if what == "filesystem" and iso.get("hidden_check") != "ok":
        pytest.skip(f"hidden paths are not hidden on this machine (isolation {iso.get('mode')})")
    if what == "writes" and iso.get("mode") == "none" and "grader's own user" in str(iso.get("user")):
        pytest.skip("sandboxes run as the grader's own user here: they could write the submissions")


# ----------------------------------------------------------------------------- adversarial suite
@needs_lab
def test_every_submission_has_a_record_and_a_gradebook_row(graded):
    rows = (graded.out / "gradebook.csv").read_text().strip().split("\n")
    assert sorted(graded.names) == sorted(EXPECTED) and len(rows) == len(EXPECTED) + 1


@needs_lab
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_score(graded, name):
    if name in ("disk_search", "fake_results"):
        _isolated(graded, "filesystem")
    if name == "network":
        _isolated(graded, "network")
    record = graded.records[name]
    assert record["score"] == EXPECTED[name], json.dumps(record, indent=1)[:3000]


@needs_lab
def test_originals_are_unchanged(graded):
    _isolated(graded, "writes")
    assert graded.report["originals_unchanged"]
    assert {p.name: _sha(p) for p in graded.subs.iterdir()} == graded.hashes


@needs_lab
def test_fake_result_files_do_not_reach_the_grader(graded):
    _isolated(graded, "filesystem")
    texts = [p.read_text(errors="replace") for p in graded.out.rglob("*") if p.is_file() and p.parent.name != "output"]
    assert not any("HACKED" in text for text in texts)
    assert graded.records["fake_results"]["score"] == 0 and graded.records["fake_results"]["status"] == "graded"


@needs_lab
def test_network_connections_never_arrive(graded):
    _isolated(graded, "network")
    assert graded.connections == []


@needs_lab
@pytest.mark.parametrize("name,kind", [("os_exit", "crash"), ("segfault", "crash"), ("infinite_loop", "timeout"),
                                       ("memory_bomb", "memory")])
def test_failure_is_reported_at_its_cell(graded, name, kind):
    failures = graded.records[name]["failures"]
    assert failures and failures[0]["phase"] == "cell" and failures[0]["kind"] == kind, failures
    assert graded.records[name]["runs"] == 2


@needs_lab
@pytest.mark.parametrize("name,words", [("zero_bytes", "empty"), ("invalid_json", "not valid JSON"),
                                        ("not_a_notebook", "not a Jupyter notebook"), ("binary", "not text"),
                                        ("huge", "larger than"), ("wrong_lab", "wrong lab")])
def test_rejection_gives_a_clear_reason(graded, name, words):
    record = graded.records[name]
    assert record["status"] == "rejected" and words in record["reason"]


@needs_lab
def test_sys_exit_is_an_error_in_its_cell(graded):
    errors = graded.records["sys_exit"]["cells"]["errors"]
    assert [e["type"] for e in errors] == ["SystemExit"]


@needs_lab
def test_printed_output_is_capped(graded):
    assert (graded.out / "output" / "print_gigabyte.txt").stat().st_size < 3 * 2**20


@needs_lab
def test_feedback_has_no_control_characters(graded):
    for path in (graded.out / "feedback").iterdir():
        text = path.read_text()
        assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in text), path.name


@needs_lab
def test_isolation_is_recorded_per_submission(graded):
    iso = graded.records["correct"]["isolation"]
    assert iso["mode"] == graded.report["isolation"]["mode"] and "network" in iso and "limits" in iso


@needs_lab
def test_sample_class_grades_to_the_expected_gradebook(tmp_path):
    from labkit.grading.batch import grade_folder
    build_sample_class(tmp_path / "class")
    grade_folder(tmp_path / "class", LAB, tmp_path / "out", root=ROOT, jobs=2, limits=LIMITS)
    expected = (Path(__file__).resolve().parent / "adversarial" / "sample_class_gradebook.csv").read_text()
    assert (tmp_path / "out" / "gradebook.csv").read_text() == expected


# ----------------------------------------------------------------------------- fast unit tests
def test_codec_round_trip_keeps_kinds_and_values():
    import torch
    value = (np.arange(6.0).reshape(2, 3), torch.tensor([1.5, -2.0]), [1, "a", None], {"k": True})
    back = decode(encode(value))
    assert isinstance(back, tuple) and isinstance(back[1], torch.Tensor)
    assert np.array_equal(back[0], value[0]) and back[2] == [1, "a", None] and back[3] == {"k": True}


def test_codec_keeps_a_zero_dimensional_tensor():
    import torch
    assert decode(encode(torch.tensor(2.5))).shape == ()


def test_layers_input_is_the_same_layer_in_any_process_and_comes_back_as_its_weights():
    from labkit.grading.spec import Layers, wire
    spec = Layers((("Linear", 3, 2), ("Sigmoid",)), seed=5)
    first, second = decode(wire(spec)), decode(wire(spec))
    assert type(first).__name__ == "Sequential" and first.training
    assert compare(encode(first), encode(second)) is None
    with __import__("torch").no_grad():
        second[0].weight.add_(0.1)
    assert "0.weight" in compare(encode(second), encode(first))


def test_layers_input_can_arrive_with_stale_gradients():
    from labkit.grading.spec import Layers, wire
    fresh = decode(wire(Layers((("Linear", 3, 2),), seed=5)))
    first, second = (decode(wire(Layers((("Linear", 3, 2),), seed=5, stale_grads=True))) for _ in range(2))
    assert fresh.weight.grad is None and first.weight.grad.abs().sum() > 0
    assert compare(encode(first.weight.grad), encode(second.weight.grad), atol=0, rtol=0) is None


def test_layers_input_refuses_anything_but_known_torch_layers():
    with pytest.raises(ValueError, match="unknown layer"):
        decode({"__layers__": [["Module"]], "seed": 0})


def test_a_module_answer_keeps_its_requires_grad_flags():
    import torch
    layer = torch.nn.Linear(2, 1)
    layer.bias.requires_grad_(False)
    flags = {name: value["requires_grad"] for name, value in encode(layer)["__map__"]}
    assert flags == {"weight": True, "bias": False}


def test_attr_input_is_a_layer_of_the_model_in_the_same_call():
    from labkit.grading.codec import resolve_attrs
    from labkit.grading.spec import Attr, Model, wire
    model, layer = resolve_attrs(decode(wire([Model("NetCNN", 3), Attr(0, "conv2")])))
    assert layer is model.conv2


def test_model_input_can_come_in_training_mode_with_the_same_weights():
    from labkit.grading.spec import Model, wire
    evaluated, training = decode(wire(Model("NetCNN", 4))), decode(wire(Model("NetCNN", 4, train=True)))
    assert not evaluated.training and training.training
    assert compare(encode(evaluated), encode(training)) is None


def test_efficientnet_lite_tiny_has_the_anatomy_lab_10_uses():
    import torch
    from labkit.grading.spec import Model, wire
    net = decode(wire(Model("EfficientNetLiteTiny", 1)))
    assert len(net._blocks) == 16 and net._fc.out_features == 10 and hasattr(net, "_conv_head")
    with torch.no_grad():
        features = net.extract_features(torch.randn(1, 3, 64, 64))      # (1, 1280, 2, 2)
    assert features.shape == (1, 1280, 2, 2) and float(features.std(dim=(2, 3)).mean()) > 1e-3  # not washed out


def test_an_answer_that_trips_the_comparison_costs_only_its_exercise():
    from labkit.grading.spec import Call, Exercise
    from labkit.grading.verdict import score_exercise

    def fragile(got, want):
        return dict(got["__map__"]) and None           # an unhashable key raises TypeError
    exercise = Exercise("f", 2, "hint", lambda rng: [], lambda: 0, compare=fragile)
    answer = {"value": encode({(1, 2): 3})}             # its key encodes as a dict
    result = score_exercise(exercise, [Call()], [encode({})], [answer])
    assert result["status"] == "wrong" and "could not be read" in result["detail"]


def test_attr_inputs_are_refused_where_they_would_not_be_resolved():
    from labkit.grading.spec import Attr, Call, Model, wire_call
    with pytest.raises(ValueError, match="positional"):
        wire_call(Call((Model("NetCNN", 1),), kwargs={"layer": Attr(0, "conv1")}))
    with pytest.raises(ValueError, match="positional"):
        wire_call(Call((Model("NetCNN", 1), [Attr(0, "conv1")])))


def test_a_driven_exercise_without_its_node_class_is_reported_missing():
    from types import SimpleNamespace

    from labkit.grading.spec import Call, wire_call
    from labkit.grading.sandbox_runner import call_function
    call = wire_call(Call(drive={"kind": "graph", "node_class": "Value", "leaves": [["a", 1.0]], "expr": ["fn", "a"]}))
    response = call_function(SimpleNamespace(user_ns={"value_tanh": abs}), "value_tanh", call, "/tmp")
    assert "no class named Value" in response["missing"]


def test_codec_reduces_unknown_objects_to_their_type():
    class Liar:
        def __eq__(self, other):
            return True
    assert encode(Liar())["__opaque__"] == "Liar"


def test_compare_rejects_wrong_shape_and_accepts_close_values():
    want = encode(np.ones((2, 3)))
    assert compare(encode(np.ones((3, 2))), want) is not None
    assert compare(encode(np.ones((2, 3)) + 1e-9), want) is None


def test_compare_strict_types_wants_a_tensor():
    import torch
    assert compare(encode(np.ones(2, dtype=np.float32)), encode(torch.ones(2)), strict=True) is not None


def test_compare_never_accepts_an_opaque_object():
    class Liar:
        def __eq__(self, other):
            return True
    assert compare(encode(Liar()), encode(3)) is not None


@pytest.mark.parametrize("data,words", [(b"", "empty"), (b"{nope", "not valid JSON"), (b"[1]", "not a Jupyter")])
def test_parse_notebook_rejects_bad_files(data, words):
    with pytest.raises(Rejected, match=words):
        parse_notebook(data)


def test_clean_makes_control_and_bidi_characters_visible():
    assert clean("ok\x1b[31mred\u202e") == "ok\\x1b[31mred\\u202e"


def test_gradebook_quotes_formula_like_names():
    record = {"submission": "=HYPERLINK(1).ipynb", "name": "x", "status": "graded", "score": 1.0,
              "max_score": 2.0, "exercises": [{"function": "f", "points": 1.0}], "reason": ""}
    assert "'=HYPERLINK" in gradebook_csv([record], ["f"])


# ----------------------------------------------------------------------------- the hidden tests themselves
HIDDEN = sorted(p.stem for p in (ROOT / "grading").glob("*.py"))


@pytest.mark.parametrize("lab", HIDDEN)
def test_hidden_tests_pass_their_own_references(lab):
    from labkit.grading.spec import load_lab_tests
    from labkit.grading.verdict import evaluate_in_process
    tests = load_lab_tests(ROOT / "grading", lab)
    namespace = {ex.function: ex.reference for ex in tests.exercises} | tests.model_answers
    results = evaluate_in_process(tests, namespace, np.random.default_rng(0), guarded=False)
    assert [r["status"] for r in results] == ["passed"] * len(results), results


@pytest.mark.parametrize("lab", HIDDEN)
def test_hidden_tests_fail_constant_answers(lab):
    from labkit.grading.spec import load_lab_tests
    from labkit.grading.verdict import evaluate_in_process
    tests = load_lab_tests(ROOT / "grading", lab)
    namespace = tests.model_answers | {ex.function: (lambda *args, **kwargs: 0) for ex in tests.exercises}
    results = evaluate_in_process(tests, namespace, np.random.default_rng(1))
    # a driven exercise (lab 06) cannot even run a constant: 0 has no .backward(), so it is an error
    assert all(r["status"] in ("wrong", "error") and r["points"] == 0 for r in results), results


@pytest.mark.parametrize("lab", HIDDEN)
def test_hidden_tests_report_missing_functions(lab):
    from labkit.grading.spec import load_lab_tests
    from labkit.grading.verdict import evaluate_in_process
    tests = load_lab_tests(ROOT / "grading", lab)
    results = evaluate_in_process(tests, {}, np.random.default_rng(2))
    assert {r["status"] for r in results} == {"missing"}


GRADED_LABS = [lab for lab in HIDDEN if (ROOT / "notebooks" / f"{lab}_solution.ipynb").is_file()]


@pytest.mark.parametrize("lab", GRADED_LABS)
def test_solution_gets_full_marks_and_the_student_version_none(lab, tmp_path):
    """End to end in the sandbox: the lab's hidden tests agree with its own solution notebook."""
    from labkit.grading.batch import grade_folder
    subs = tmp_path / "submissions"
    subs.mkdir()
    for kind in ("solution", "student"):
        shutil.copy(ROOT / "notebooks" / f"{lab}_{kind}.ipynb", subs / f"{kind}.ipynb")
    grade_folder(subs, lab, tmp_path / "out", root=ROOT, jobs=2, isolation=ISOLATION, log=lambda *a: None)
    solution, student = (json.loads((tmp_path / "out" / f"{kind}.json").read_text()) for kind in ("solution", "student"))
    assert solution["score"] == solution["max_score"] > 0, json.dumps(solution["exercises"], indent=1)
    assert student["score"] == 0, json.dumps(student["exercises"], indent=1)
