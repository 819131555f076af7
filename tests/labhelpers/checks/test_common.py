"""Tests for labhelpers.checks (the helpers every check_* uses): verdicts, calls, comparisons, conversions."""
import numpy as np
import torch

from labhelpers.checks import as_int, as_numpy, attempt, close, report, report_not_int


def test_report_prints_expected_received_and_hint(capsys):
    assert report("ex", False, expected=1, received=2, hint="add one") is False
    out = capsys.readouterr().out
    assert "[FAIL] ex" in out and "expected: 1" in out and "received: 2" in out and "hint: add one" in out


def test_report_ok_prints_one_line(capsys):
    assert report("ex", True) is True
    assert capsys.readouterr().out == "[OK] ex\n"


def test_attempt_turns_not_implemented_into_a_todo(capsys):
    def todo():
        raise NotImplementedError

    assert attempt("ex", todo) == (False, None)
    assert "[TODO] ex" in capsys.readouterr().out


def test_attempt_reports_the_exception_of_the_students_code(capsys):
    assert attempt("ex", lambda: 1 / 0) == (False, None)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_close_is_not_fooled_by_an_object_equal_to_everything():
    class Liar:
        def __eq__(self, other):
            return True

    assert not close(Liar(), np.zeros(3))


def test_close_compares_shape_and_values_of_tensors_and_arrays():
    assert close(torch.ones(2, 2), np.ones((2, 2))) and not close(torch.ones(4), np.ones((2, 2)))


def test_as_int_accepts_integers_and_rejects_bools_and_floats():
    assert [as_int(v) for v in (3, np.int64(3), torch.tensor(3))] == [3, 3, 3]
    assert [as_int(v) for v in (True, 3.0, torch.tensor(3.0), "3")] == [None] * 4


def test_as_numpy_detaches_tensors_and_rejects_text():
    got = as_numpy(torch.ones(2, requires_grad=True))
    assert got.dtype == np.float64 and got.tolist() == [1.0, 1.0]
    assert as_numpy("abc") is None


def test_report_not_int_names_the_type_received(capsys):
    assert report_not_int("ex", 2.5, 3, "n=5", hint="use //") is False
    out = capsys.readouterr().out
    assert "the int 3 for n=5" in out and "2.5 (float)" in out
