"""Hidden tests of a lab: exercises with points, probe inputs, references and the verdict (grading, all labs).

A lab's hidden tests are ``grading/<lab>.py`` at the repository root (never released, never inside a
sandbox). The module defines ``LAB`` (the lab name), ``EXERCISES`` (a list of :class:`Exercise`), and
optionally ``PARAMETERS`` (injected after the notebook's "parameters" cell; default: smoke settings)
and ``LIMITS`` (fields of :class:`~labkit.grading.sandbox.Limits`, e.g. ``{"cell_timeout": 60}``), and
``MODEL_ANSWERS`` (names -> student-shaped answers, for exercises whose reference is not one: the tests of
the hidden tests use them; grading never does), and ``FEEDBACK`` ("detailed", the default: the feedback says
why each part failed and on which case; "brief": only each exercise's status and hint).
For each exercise the grader draws fresh inputs (``probes(rng)``), sends them to the sandbox, and
compares the student's answers with ``reference`` run here, in the grading process.
"""
from __future__ import annotations

import ast
import base64
import importlib.util
import tempfile
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from labhelpers.selfcheck import SMOKE_PARAMETERS

from .codec import collect, decode, encode, module_probe, resolve_attrs, seed_everything
from .sandbox import Limits



@dataclass(frozen=True)
class Fn:
    """A function input: f(x) = sum poly[k] x**k + a sin(b x) + d exp(e x) (torch operations)."""

    poly: tuple = ()
    sin: tuple = (0.0, 0.0)
    exp: tuple = (0.0, 0.0)


@dataclass(frozen=True)
class File:
    """A file input: the student's function receives the path of a fresh file with this content."""

    name: str
    content: bytes


@dataclass(frozen=True)
class Model:
    """A model input: ``labhelpers.<name>()`` (or a codec.ARCHITECTURES name) with weights drawn from ``seed``
    (codec.fill_weights), in eval mode unless ``train``."""

    name: str
    seed: int
    train: bool = False
    watch: bool = False         # log every forward call (training mode, autograd on, batch size)


@dataclass(frozen=True)
class Attr:
    """A layer of another argument: ``Attr(0, "conv2")`` is ``args[0].get_submodule("conv2")`` in the same call."""

    arg: int
    path: str


@dataclass(frozen=True)
class Layers:
    """A layer input built from torch.nn (codec.LAYERS), weights from ``seed``: e.g. ``Layers((("Linear", 300, 100),), 7)``
    is one ``nn.Linear(300, 100)``; several entries make an ``nn.Sequential``. A module comes back (as an answer,
    or with ``report_args``) as a dict of its state: parameter name -> tensor."""

    spec: tuple
    seed: int
    stale_grads: bool = False   # parameters arrive with noise in .grad, as after an earlier backward pass
    watch: bool = False         # log every forward call (training mode, autograd on, batch size)
    train: bool = True          # arrives in training mode (False: in evaluation mode, as after a test())


@dataclass(frozen=True)
class Loader:
    """A loader input: ``n`` real offline MNIST digits of ``split`` ("train" or "test"), balanced over the
    classes, as a labhelpers TensorLoader of ``batch_size`` (shuffled with torch's RNG, which the call's
    ``seed`` fixes on both sides). Exercises that iterate it list "labhelpers.data.TensorLoader" in allowed."""

    split: str
    n: int
    batch_size: int
    shuffle: bool = False


@dataclass(frozen=True)
class Optim:
    """An optimizer input over the parameters of argument ``arg``: ``torch.optim.<kind>(args[arg].parameters(),
    **hyper)``, watched: it logs each step's gradient and weight norms and each zero_grad."""

    kind: str
    arg: int
    hyper: tuple = ()   # (("lr", 0.01), ("momentum", 0.9)): pairs, so the input stays hashable


@dataclass(frozen=True)
class Call:
    """One probe call of the student's function, and what to report back besides its answer."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""             # how the feedback names this case
    mutate: bool = False        # afterwards write 1000.0 into args[0]: does the answer share its memory?
    report_args: bool = False   # send the arguments back after the call: were they modified?
    module: dict | None = None  # {"seed", "input"}: the answer is a model class; run it on input
    drive: dict | None = None   # a drivers spec: run the exercise through it instead of calling it; the
                                # reference is then called as reference(drive_spec, *args)
    seed: int | None = None     # torch/numpy/random seeded with it right before the call (on both sides)
    collect: bool = False       # the answer is codec.collect(...): returned value, watched logs, models after


@dataclass(frozen=True)
class Part:
    """A share of an exercise's points: earned when ``check(call, got, want)`` returns None on every probe call
    whose label contains one of ``cases`` (all calls when empty). ``got``/``want`` are the encoded answer of
    the student and of the reference; ``check`` returns the reason for the student when the part fails."""

    name: str
    points: float
    check: Callable[[Call, Any, Any], str | None]
    cases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    """A graded exercise: the student's ``function`` must agree with ``reference`` on every probe.

    ``forbidden``: dotted paths of what the exercise asks students to write themselves, e.g.
    ``"torch.softmax"``, ``"torch.Tensor.softmax"``, ``"torch.nn.functional.softmax"``, ``"numpy.add.outer"``,
    a class (every method) or a module (every function). While the probes run, any call into them fails
    the exercise, however it was reached (:mod:`guard`); every ``labhelpers`` function is forbidden too,
    except the models, the device helpers and what ``allowed`` lists. Each entry's last name also feeds a
    fast check of the function's source (a bare name or ``".attr"`` entry is checked there only).

    Partial credit: by default an exercise is all or nothing (``split="all"``: every probe must pass).
    ``split="probes"`` shares the points equally among the probe calls; ``parts=(Part(...), ...)`` shares
    them among named properties (shape right, values right, an edge case...), and the feedback shows what
    each part earned. A call that raises, is missing or is forbidden earns nothing in any mode.
    """

    function: str
    points: float
    message: str                                    # shown to the student when the exercise fails
    probes: Callable[[np.random.Generator], list[Call]]
    reference: Callable[..., Any]
    atol: float = 1e-6
    rtol: float = 1e-5
    strict_types: bool = False                      # a tensor must be a tensor, an int an int, ...
    verify: Callable[[Call, dict], str | None] | None = None  # extra property of the answer; None = fine
    forbidden: tuple[str, ...] = ()                 # callables it must not reach: dotted paths, see below
    allowed: tuple[str, ...] = ()                   # labhelpers functions it may call (all others are forbidden)
    compare: Callable[[Any, Any], str | None] | None = None  # replaces verdict.compare(got, want)
    split: str = "all"                              # "all": all-or-nothing; "probes": points shared by the calls
    parts: tuple[Part, ...] = ()                    # or points shared by properties (their points sum to points)


@dataclass
class LabTests:
    """Everything the grader knows about one lab."""

    lab: str
    exercises: list[Exercise]
    parameters: dict
    limits: Limits
    path: Path
    model_answers: dict = field(default_factory=dict)  # MODEL_ANSWERS: student-shaped answers (tests only)
    feedback: str = "detailed"  # FEEDBACK: "detailed" (why each part failed, with its case) or "brief" (status, hint)

    @property
    def max_score(self) -> float:
        return float(sum(ex.points for ex in self.exercises))


def load_lab_tests(tests_dir: str | Path, lab: str) -> LabTests:
    """Import ``tests_dir/<lab>.py`` and check it; ValueError with what is wrong otherwise."""
    path = Path(tests_dir) / f"{lab}.py"
    if not path.is_file():
        known = sorted(p.stem for p in Path(tests_dir).glob("*.py")) if Path(tests_dir).is_dir() else []
        raise ValueError(f"no hidden tests for lab {lab!r}: {path} does not exist; known labs: {known}")
    spec = importlib.util.spec_from_file_location(f"labkit_grading_{lab}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if getattr(module, "LAB", None) != lab:
        raise ValueError(f"{path}: LAB = {getattr(module, 'LAB', None)!r}, expected {lab!r}")
    exercises = list(getattr(module, "EXERCISES", []))
    names = [ex.function for ex in exercises]
    if not exercises or not all(isinstance(ex, Exercise) for ex in exercises):
        raise ValueError(f"{path}: EXERCISES must be a non-empty list of Exercise")
    if len(set(names)) != len(names) or any(ex.points <= 0 for ex in exercises):
        raise ValueError(f"{path}: exercise functions must be unique and points positive: {names}")
    for ex in exercises:
        if ex.split not in ("all", "probes"):
            raise ValueError(f"{path}: {ex.function}: split = {ex.split!r}; use 'all' or 'probes'")
        if ex.parts and abs(sum(part.points for part in ex.parts) - ex.points) > 1e-9:
            raise ValueError(f"{path}: {ex.function}: its parts' points add up to "
                             f"{sum(part.points for part in ex.parts):g}, not {ex.points:g}")
    from .guard import resolve
    for ex in exercises:
        for entry in ex.forbidden + ex.allowed:
            if "." in entry.strip("."):
                try:
                    resolve(entry)
                except (ImportError, AttributeError):
                    raise ValueError(f"{path}: {ex.function}: {entry!r} names nothing importable; fix the path") from None
    known = {f.name for f in fields(Limits)}
    limits = dict(getattr(module, "LIMITS", {}))
    if set(limits) - known:
        raise ValueError(f"{path}: unknown LIMITS {sorted(set(limits) - known)}; known: {sorted(known)}")
    feedback = getattr(module, "FEEDBACK", "detailed")
    if feedback not in ("detailed", "brief"):
        raise ValueError(f"{path}: FEEDBACK = {feedback!r}; use 'detailed' or 'brief'")
    return LabTests(lab, exercises, dict(getattr(module, "PARAMETERS", SMOKE_PARAMETERS)), Limits(**limits), path,
                    dict(getattr(module, "MODEL_ANSWERS", {})), feedback)


# ----------------------------------------------------------------------------- wire format
def wire(value: Any) -> Any:
    """``value`` in the sandbox's JSON format, including Fn/File/Model/Attr/Layers inputs."""
    if isinstance(value, Fn):
        return {"__fn__": "poly_trig", "poly": list(value.poly), "sin": list(value.sin), "exp": list(value.exp)}
    if isinstance(value, File):
        return {"__file__": value.name, "base64": base64.b64encode(value.content).decode()}
    if isinstance(value, Model):
        return {"__module__": value.name, "seed": value.seed, "train": value.train, "watch": value.watch}
    if isinstance(value, Attr):
        return {"__attr__": value.path, "arg": value.arg}
    if isinstance(value, Layers):
        return {"__layers__": [list(layer) for layer in value.spec], "seed": value.seed,
                "stale_grads": value.stale_grads, "watch": value.watch, "train": value.train}
    if isinstance(value, Loader):
        return {"__loader__": value.split, "n": value.n, "batch_size": value.batch_size, "shuffle": value.shuffle}
    if isinstance(value, Optim):
        return {"__optim__": value.kind, "arg": value.arg, "hyper": wire(dict(value.hyper))}
    if isinstance(value, (list, tuple)):
        return {"__seq__": [wire(v) for v in value], "type": "tuple" if isinstance(value, tuple) else "list"}
    if isinstance(value, dict):
        return {"__map__": [[wire(k), wire(v)] for k, v in value.items()]}
    return encode(value)


def _holds_attr(value: Any) -> bool:
    if isinstance(value, Attr):
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return any(_holds_attr(item) for item in items)


def wire_call(call: Call) -> dict:
    """The request for one call, as the sandbox runner reads it."""
    if _holds_attr(call.kwargs) or any(not isinstance(arg, Attr) and _holds_attr(arg) for arg in call.args):
        raise ValueError(f"{call.label or call}: Attr inputs work only as positional arguments of their own")
    out = {"args": wire(list(call.args)), "kwargs": wire(dict(call.kwargs)), "mutate": call.mutate,
           "report_args": call.report_args, "seed": call.seed, "collect": call.collect}
    if call.module is not None:
        out["module"] = wire(dict(call.module))
    if call.drive is not None:
        out["drive"] = wire(dict(call.drive))
    return out


def expected_answer(exercise: Exercise, call: Call, files_dir: str) -> Any:
    """The reference's answer to ``call``, encoded like a student's answer (inputs via the wire too)."""
    args = resolve_attrs(decode(wire(list(call.args)), files_dir))
    kwargs = decode(wire(dict(call.kwargs)), files_dir)
    seed_everything(call.seed)
    if call.drive is not None:
        value = exercise.reference(decode(wire(dict(call.drive)), files_dir), *args, **kwargs)
    else:
        value = exercise.reference(*args, **kwargs)
    if call.module is not None:
        return module_probe(value, decode(wire(dict(call.module)), files_dir))
    return encode(collect(value, args) if call.collect else value)


def prepare(tests: LabTests, rng: np.random.Generator) -> list[tuple[Exercise, list[Call], list[dict], list[Any]]]:
    """For each exercise: (exercise, calls, wired calls, expected answers) for one submission."""
    prepared = []
    with tempfile.TemporaryDirectory(prefix="labkit-reference-") as files_dir:
        for exercise in tests.exercises:
            calls = list(exercise.probes(rng))
            expected = [expected_answer(exercise, call, files_dir) for call in calls]
            prepared.append((exercise, calls, [wire_call(c) for c in calls], expected))
    return prepared


# CPython 3.11's ast.parse is not safe in threads: two grading threads parsing at once failed in CI with
# "SystemError: AST constructor recursion depth mismatch" (a CPython bug, gh-106905), which zeroed a submission.
_AST_LOCK = threading.Lock()


def _terminal(node: ast.AST) -> str | None:
    """The last name of an expression like ``torch.autograd`` (``autograd``) or ``F`` (``F``)."""
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None


def forbidden_uses(cells: list[str], exercise: Exercise) -> list[str]:
    """The fast first pass of ``forbidden``, on the source: what the function (or class) named like the exercise
    writes that an entry names, and names anywhere in the notebook that switch off the grader's run-time checks
    (guard.TAMPER_NAMES); [] if none. A dotted entry (``torch.autograd.grad``) matches an attribute with its last
    two names (``autograd.grad``, ``torch.autograd.grad``) or a name imported from it (``from torch.autograd
    import grad``), never a variable that happens to be called ``grad``; a bare entry or ``".attr"`` matches that
    name or attribute. The run-time guard catches every other route."""
    from .guard import TAMPER_NAMES
    dotted = [entry.split(".") for entry in exercise.forbidden if "." in entry.strip(".")]
    bare = {entry for entry in exercise.forbidden if "." not in entry} - {exercise.function}
    attributes = {entry[1:] for entry in exercise.forbidden if entry.startswith(".") and "." not in entry[1:]}
    pairs = {(parts[-2], parts[-1]) for parts in dotted}
    found = set()
    for source in cells:
        try:
            with _AST_LOCK:
                tree = ast.parse("\n".join(line for line in source.split("\n")
                                           if not line.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        imported = {alias.asname or alias.name: f"{node.module}.{alias.name}" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in TAMPER_NAMES or \
                    isinstance(node, ast.Attribute) and node.attr in TAMPER_NAMES:
                found.add(getattr(node, "id", None) or node.attr)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == exercise.function:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and (sub.id in bare or any(
                            imported.get(sub.id, "").endswith(".".join(parts[-2:])) for parts in dotted)):
                        found.add(sub.id)
                    elif isinstance(sub, ast.Attribute) and (sub.attr in bare | attributes or
                                                             (_terminal(sub.value), sub.attr) in pairs):
                        found.add(sub.attr)
    return sorted(found)
