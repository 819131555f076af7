"""Forbidden means forbidden at run time: watch an exercise's probe calls for calls into forbidden code (grading).

The AST pass (``spec.forbidden_uses``) only sees names written inside the exercise's function; an
alias made at module level, ``getattr`` with a built string, ``importlib`` or ``sys.modules`` pass it.
While the sandbox runs the student's function on the hidden probes, a :class:`Guard` watches the
callable objects themselves, however they were reached:

* Python functions by their code: a profile function (``sys.setprofile``, also for threads started
  with ``threading``) sees every Python frame; a copy made with ``exec(inspect.getsource(...))`` has the
  same instructions, names and constants, and is recognised by that fingerprint (code written in the
  notebook's own cells is judged only by what it calls, even where it happens to equal a helper).
* C functions (``torch.softmax``, ``x.softmax``, ``np.add.outer``) by identity when Python code calls
  them (profile ``c_call`` events), and torch functions also when C code calls them (``map``,
  ``functools.partial``): a ``TorchFunctionMode`` sees every torch call.
* Every function of ``labhelpers`` is forbidden unless the exercise allows it, except the modules in
  :data:`EXEMPT_MODULES` (models given as inputs, the device, the grader's own encoding).
* While a call is watched, the audit hook refuses to fork, start programs, or switch the profile or
  trace functions; calling ``_thread.start_new_thread`` is a violation too.

Known limit: a C function other than torch's, called from C code (``map(np.add.outer, ...)``), or
torch's private switches that turn modes off, are not seen; the AST pass refuses the names of those
switches (:data:`TAMPER_NAMES`).
"""
from __future__ import annotations

import dis
import importlib
import importlib.util
import inspect
import os
import sys
import threading
import types
from typing import Any

EXEMPT_MODULES = ("labhelpers.models", "labhelpers.device", "labhelpers.values", "labhelpers.files")
EXEMPT_FUNCTIONS = ("labhelpers.__getattr__", "labhelpers.__dir__")  # the package's lazy imports
TAMPER_NAMES = ("setprofile", "settrace", "DisableTorchFunction", "DisableTorchFunctionSubclass", "_pop_mode",
                "_push_mode", "_set_torch_function_mode", "start_new_thread", "addaudithook", "_getframe")
BLOCKED_EVENTS = ("os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn", "os.system", "subprocess.Popen",
                  "sys.setprofile", "sys.settrace", "resource.setrlimit", "ctypes.dlopen", "ctypes.dlsym",
                  "ctypes.call_function")
MIN_COPY_OPS = 20  # shorter functions are not recognised by fingerprint alone (a student may write the same)


_LAYOUT_OPS = {"CACHE", "EXTENDED_ARG", "NOP", "RESUME", "PRECALL", "PUSH_NULL"}
_SAME_OP = {"LOAD_METHOD": "LOAD_ATTR"}  # the compiler picks one or the other for the same source


def _written_in_a_cell(filename: str) -> bool:
    """True for code compiled from one of the notebook's cells (IPython names them ``<ipython-input-N-...>``):
    what a student wrote may happen to equal a helper (the stub's given ``__init__``, a textbook loop), and
    is judged by what it calls, not by its resemblance."""
    return filename.startswith("<ipython-input-")


def fingerprint(code: types.CodeType) -> tuple:
    """What a copy of ``code`` compiled from the same source shares with it: its instructions (without jump
    offsets, which move with the layout), names and constants."""
    ops = tuple((_SAME_OP.get(i.opname, i.opname), "" if i.opcode in dis.hasjrel or i.opcode in dis.hasjabs else
                 i.argrepr.replace("NULL + ", "").replace(" + NULL", ""))   # call layout, not meaning
                for i in dis.get_instructions(code) if i.opname not in _LAYOUT_OPS)
    consts = tuple(repr(c) if not isinstance(c, types.CodeType) else c.co_name for c in code.co_consts)
    return ops, code.co_names, consts


def _codes(code: types.CodeType):
    """``code`` and every code object nested in it (functions, methods, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def package_codes(package: str) -> dict[tuple, str]:
    """Fingerprint -> "module.qualname" for every function of an importable package, compiled from its
    source files (none is imported or run)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return {}
    base = list(spec.submodule_search_locations)[0]
    found: dict[tuple, str] = {}
    for folder, _, files in os.walk(base):
        for filename in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, filename)
            module = package + "." + os.path.relpath(path, base)[:-3].replace(os.sep, ".")
            module = module.removesuffix(".__init__")
            try:
                with open(path, encoding="utf-8") as fp:
                    top = compile(fp.read(), path, "exec")
            except (OSError, SyntaxError, ValueError):
                continue
            for code in _codes(top):
                if code.co_flags & inspect.CO_OPTIMIZED:  # functions only: a class body runs at import time
                    found.setdefault(fingerprint(code), f"{module}.{code.co_qualname}")
    return found


def resolve(path: str) -> Any:
    """The object a dotted path names (``torch.nn.functional.softmax``, ``numpy.add.outer``)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"cannot import {path}")


class Forbidden:
    """The callables one exercise may not reach, resolved inside the sandbox from dotted paths."""

    def __init__(self, forbidden: list[str], allowed: list[str], labhelpers_codes: dict[tuple, str]):
        self.codes: dict[tuple, str] = {}        # fingerprint -> name (Python functions)
        self.objects: dict[int, tuple] = {}      # id -> (object kept alive, name): builtins, descriptors, functions
        self.bound: dict[tuple, str] = {}        # (id(__self__), __name__) -> name: bound C methods (np.add.outer)
        self.methods: dict[str, list] = {}       # __name__ -> [(class, name)]: C methods of a class (Tensor.softmax)
        self.allowed: dict[tuple, str] = {}
        self.unresolved: list[str] = []
        for path in sorted(forbidden, key=lambda p: p.startswith("torch.ops.")):  # torch.ops.<lib> exists once <lib>
            if "." in path.strip("."):                                           # is imported: those come last
                self._add(path)
        for fp, name in labhelpers_codes.items():
            if name not in EXEMPT_FUNCTIONS and not any(name == m or name.startswith(m + ".") for m in EXEMPT_MODULES):
                self.codes.setdefault(fp, name)
        for path in allowed:
            try:
                obj = resolve(path)
            except (ImportError, AttributeError):
                self.unresolved.append(path)
                continue
            for code in self._python_codes(obj):
                self.allowed[fingerprint(code)] = path
                self.codes.pop(fingerprint(code), None)

    @staticmethod
    def _python_codes(obj: Any, seen: set | None = None) -> list:
        """Code objects of a function, a method, a class's methods, or a module's functions."""
        seen = set() if seen is None else seen
        if id(obj) in seen:
            return []
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            return [c for v in vars(obj).values() if getattr(v, "__module__", None) == obj.__name__
                    for c in Forbidden._python_codes(v, seen)]
        if isinstance(obj, type):
            return [c for v in vars(obj).values() for c in Forbidden._python_codes(v, seen)]
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        obj = getattr(obj, "__wrapped__", obj)
        code = getattr(obj, "__code__", None)
        return [c for c in _codes(code)] if isinstance(code, types.CodeType) else []

    def _add(self, path: str) -> None:
        try:
            obj = resolve(path)
        except (ImportError, AttributeError):
            self.unresolved.append(path)
            return
        if isinstance(obj, types.ModuleType) or isinstance(obj, type):
            for name, value in list(vars(obj).items()):
                if isinstance(obj, types.ModuleType) and getattr(value, "__module__", None) != obj.__name__:
                    continue  # a module's own functions and classes only, not what it imported
                if callable(value) or isinstance(value, (staticmethod, classmethod)):
                    self._add_object(value, f"{path}.{name}")
            self._add_object(obj, path)
            return
        self._add_object(obj, path)

    def _add_object(self, obj: Any, name: str) -> None:
        self.objects[id(obj)] = (obj, name)
        if type(obj).__name__ == "OpOverloadPacket":  # torch.ops.lib.op: its overloads (.default, ...) too
            for overload in obj.overloads():
                self._add_object(getattr(obj, overload), f"{name}.{overload}")
        for code in self._python_codes(obj):
            self.codes[fingerprint(code)] = name
        owner = getattr(obj, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType) and hasattr(obj, "__name__"):
            self.bound[(id(owner), obj.__name__)] = name        # np.add.outer: a method of the ufunc np.add
        objclass = getattr(obj, "__objclass__", None)
        if objclass is not None and hasattr(obj, "__name__"):
            self.methods.setdefault(obj.__name__, []).append((objclass, name))  # torch.Tensor.softmax


class Guard:
    """Record every call into a forbidden callable while the ``with`` block runs (one probe call)."""

    def __init__(self, forbidden: Forbidden):
        self.rules = forbidden
        self.violations: list[str] = []
        self._verdicts: dict[int, tuple] = {}   # id(code) -> (code kept alive, "allowed" | name | None)
        self._allowed = threading.local()
        self._mode = None

    def _note(self, name: str) -> None:
        if name not in self.violations and len(self.violations) < 10:
            self.violations.append(name)

    def _stack(self) -> list:
        stack = getattr(self._allowed, "frames", None)
        if stack is None:
            stack = self._allowed.frames = []
        return stack

    def _verdict(self, code: types.CodeType) -> str | None:
        cached = self._verdicts.get(id(code))
        if cached is not None and cached[0] is code:
            return cached[1]
        fp = fingerprint(code)
        verdict = None
        if fp in self.rules.allowed:
            verdict = "allowed"
        elif fp in self.rules.codes and not _written_in_a_cell(code.co_filename) and (
                len(fp[0]) >= MIN_COPY_OPS or f"{os.sep}labhelpers{os.sep}" in code.co_filename):
            verdict = self.rules.codes[fp]  # the helper itself, or a copy of it made outside the notebook's cells
        self._verdicts[id(code)] = (code, verdict)
        return verdict

    def _c_name(self, func: Any) -> str | None:
        entry = self.rules.objects.get(id(func))
        if entry is not None and entry[0] is func:
            return entry[1]
        packet = getattr(func, "overloadpacket", None)  # aten.softmax.int belongs to aten.softmax
        entry = self.rules.objects.get(id(packet)) if packet is not None else None
        if entry is not None and entry[0] is packet:
            return entry[1]
        name = getattr(func, "__name__", None)
        owner = getattr(func, "__self__", None)
        if name in ("start_new_thread", "start_joinable_thread") and getattr(owner, "__name__", "") == "_thread":
            return "_thread.start_new_thread (threads are not allowed while your function is graded)"
        if owner is not None:
            bound = self.rules.bound.get((id(owner), name))
            if bound:
                return bound
            for objclass, qualified in self.rules.methods.get(name, ()):
                if isinstance(owner, objclass):
                    return qualified
        return None

    def _profile(self, frame, event: str, arg: Any) -> None:
        try:
            stack = self._stack()
            if event == "call":
                if stack:
                    return
                verdict = self._verdict(frame.f_code)
                if verdict == "allowed":
                    stack.append(frame)
                elif verdict:
                    self._note(verdict)
            elif event == "return":
                if stack and stack[-1] is frame:
                    stack.pop()
            elif event == "c_call" and not stack:
                name = self._c_name(arg)
                if name:
                    self._note(name)
        except Exception:  # noqa: BLE001 - the profile function must never break the student's call
            pass

    def torch_call(self, func: Any) -> None:
        """Called by the torch function mode for every torch call (also those made from C)."""
        if not self._stack():
            name = self._c_name(func)
            if name:
                self._note(name)

    def __enter__(self) -> "Guard":
        self.violations = []
        torch = sys.modules.get("torch")
        if torch is not None:
            self._mode = _torch_mode(torch, self)
            self._mode.__enter__()
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        _AUDIT.active = True
        return self

    def __exit__(self, *exc) -> None:
        _AUDIT.setting = True
        sys.setprofile(None)
        threading.setprofile(None)
        _AUDIT.setting = False
        _AUDIT.active = False
        if self._mode is not None:
            try:
                self._mode.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the student's code may have left the mode stack odd
                self._note("torch's function modes were changed while your function ran")
            self._mode = None


def _torch_mode(torch, guard: Guard):
    from torch.overrides import TorchFunctionMode

    class _Watch(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            guard.torch_call(func)
            return func(*args, **(kwargs or {}))
    return _Watch()


class _Audit:
    """A permanent audit hook (installed once, before any student code) that refuses, while a guarded
    call runs, to fork, start programs, load C code or switch the profile and trace functions."""

    def __init__(self):
        self.active, self.setting, self.installed = False, False, False

    def __call__(self, event: str, args: tuple) -> None:
        if self.active and not self.setting and event in BLOCKED_EVENTS:
            raise PermissionError(f"{event} is not allowed while the grader calls your function")

    def install(self) -> None:
        if not self.installed:
            sys.addaudithook(self)
            self.installed = True


_AUDIT = _Audit()


def install_audit_hook() -> None:
    """Install the audit hook (the sandbox runner calls this before the student's cells run)."""
    _AUDIT.install()
