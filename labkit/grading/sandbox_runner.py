"""Child side of the grading sandbox: run a submission's cells in IPython, then answer probe calls (grading).

Started by :mod:`labkit.grading.sandbox` as
``[unshare ...] python -I -m labkit.grading.sandbox_runner IN_FD OUT_FD`` (all of labkit it needs is
imported before the isolation, which leaves labkit outside the sandbox). It reads one job
(a JSON line) from IN_FD, applies the isolation (:mod:`sandbox_setup`), runs the code cells one by one
with ``InteractiveShell.run_cell`` (magics and ``!`` lines work, no Jupyter kernel), and reports
progress as JSON lines on OUT_FD. Only then does the grader send probe calls of the exercise
functions; the answers go back as plain JSON (:mod:`codec`). The student's printed output goes to
stdout, which the grader points at a file; it is capped here and by RLIMIT_FSIZE.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from types import SimpleNamespace

from labkit.grading.codec import collect, decode, encode, module_probe, resolve_attrs, seed_everything
from labkit.grading.drivers import drive
from labkit.grading.guard import Forbidden, Guard, install_audit_hook, package_codes
from labkit.grading.sandbox_setup import setup

MAX_REQUEST = 64 * 2**20


class Channel:
    """JSON lines in from the grader (IN_FD) and out to it (OUT_FD)."""

    def __init__(self, in_fd: int, out_fd: int):
        self.reader = os.fdopen(in_fd, "rb", buffering=0)
        self.out_fd = out_fd

    def recv(self) -> dict | None:
        line = self.reader.readline(MAX_REQUEST)
        return json.loads(line) if line.strip() else None

    def send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.out_fd, data):]


class CappedOutput(io.TextIOBase):
    """A text stream on a file descriptor that keeps the first ``cap`` bytes and drops the rest."""

    def __init__(self, fd: int, budget: list[int]):
        self.fd, self.budget = fd, budget  # budget: [bytes left], shared by stdout and stderr

    @property
    def encoding(self) -> str:
        return "utf-8"

    @property
    def errors(self) -> str:
        return "replace"

    def write(self, text: str) -> int:
        data = str(text).encode("utf-8", "replace")
        room = self.budget[0]
        if room > 0:
            chunk = data[:room] if len(data) <= room else data[:room] + b"\n[output truncated by the grader]\n"
            self.budget[0] -= len(data)
            try:
                while chunk:
                    chunk = chunk[os.write(self.fd, chunk):]
            except OSError:  # EFBIG past RLIMIT_FSIZE, or a closed descriptor
                self.budget[0] = 0
        return len(text)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return False


def describe(err: BaseException) -> dict:
    """{"type", "message"} of an exception, safe against odd ``__str__`` methods."""
    try:
        message = str(err)
    except BaseException:
        message = "<unprintable>"
    return {"type": type(err).__name__, "message": message[:1000]}


def make_shell():
    """A plain IPython InteractiveShell without history or colours."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    for colors in ("nocolor", "NoColor"):
        try:
            shell.colors = colors
            break
        except Exception:
            continue
    return shell


def run_cells(shell, cells: list[str], channel: Channel) -> None:
    """Run each cell; report ``start`` and ``done`` (with the error, if any) for each."""
    for index, source in enumerate(cells):
        channel.send({"event": "start", "cell": index})
        error = None
        try:
            result = shell.run_cell(source, store_history=True)
            failure = result.error_before_exec or result.error_in_exec
            error = describe(failure) if failure is not None else None
        except BaseException as err:  # the shell itself broke (e.g. replaced by the student's code)
            error = describe(err)
        channel.send({"event": "done", "cell": index, "error": error})


def _safe_encode(value) -> dict:
    try:
        return {"value": encode(value)}
    except BaseException as err:
        return {"error": {"type": "EncodeError", "message": f"the answer cannot be read: {describe(err)['message']}"}}


def _mutate_first(args: list) -> None:
    """Write 1000.0 into the first element of args[0] in place (does a result share its memory?)."""
    target = args[0]
    if hasattr(target, "detach"):
        import torch
        with torch.no_grad():
            target.view(-1)[0] = 1000.0
    else:
        target.reshape(-1)[0] = 1000.0


def call_function(shell, name: str, call: dict, files_dir: str, rules: Forbidden | None = None) -> dict:
    """Call the student's ``name`` with one probe, watched by a :class:`Guard` of ``rules``; return its
    answer (or why there is none)."""
    fn = shell.user_ns.get(name)
    if fn is None:
        return {"missing": f"no function named {name} was defined"}
    if not callable(fn):
        return {"missing": f"{name} is a {type(fn).__name__}, not a function"}
    drive_spec = decode(call["drive"], files_dir) if call.get("drive") else None
    node_class = (drive_spec or {}).get("node_class")
    if node_class is not None and not callable(shell.user_ns.get(node_class)):
        return {"missing": f"no class named {node_class} was defined ({name} is checked on the notebook's own "
                           f"{node_class} nodes: keep its cell)"}
    args = resolve_attrs(decode(call.get("args", []), files_dir))
    kwargs = decode(call.get("kwargs", {}), files_dir)
    seed_everything(call.get("seed"))
    watch = SimpleNamespace(violations=[])  # what the guard found (nothing is watched without rules)
    guard = Guard(rules) if rules is not None else contextlib.nullcontext(watch)
    try:
        with guard as watch:
            if drive_spec:  # not a plain function: run it through a graph or autograd (drivers)
                value = drive(fn, drive_spec, shell.user_ns, args)
            else:
                value = fn(*args, **kwargs)
            if call.get("module"):  # the answer is a model class or factory: probe the model it built
                value = module_probe(value, decode(call["module"], files_dir))
    except BaseException as err:  # SystemExit and KeyboardInterrupt too: it is the student's code
        return {"forbidden": ", ".join(watch.violations)} if watch.violations else {"error": describe(err)}
    if watch.violations:
        return {"forbidden": ", ".join(watch.violations)}
    if call.get("module"):
        return {"value": value}
    out = _safe_encode(collect(value, args) if call.get("collect") else value)
    try:
        if call.get("mutate"):
            _mutate_first(args)
            out["after_mutation"] = _safe_encode(value).get("value")
        if call.get("report_args"):
            out["args_after"] = [_safe_encode(arg).get("value") for arg in args]
    except BaseException as err:
        out["error_after"] = describe(err)
    return out


def main(argv: list[str]) -> None:
    """Entry point: ``sandbox_runner IN_FD OUT_FD``."""
    serve(Channel(int(argv[1]), int(argv[2])), package_codes("labhelpers"))


def serve(channel: Channel, labhelpers_codes: dict) -> None:
    """Read the job, isolate (:func:`sandbox_setup.setup`), run the cells, answer the probe calls; exit.
    ``labhelpers_codes``: every labhelpers function's fingerprint (forbidden unless allowed)."""
    job = channel.recv() or {}
    install_audit_hook()
    try:
        workdir, report = setup(job)
    except BaseException as err:
        channel.send({"event": "setup-failed", "error": describe(err)})
        os._exit(3)
    if job.get("probe"):
        channel.send({"event": "ready", "isolation": report})
        os._exit(0)
    sys.path.insert(0, "")  # like a Jupyter kernel: modules in the working folder can be imported
    budget = [int(job.get("output_bytes", 2**20))]
    sys.stdout, sys.stderr = CappedOutput(1, budget), CappedOutput(2, budget)
    shell = make_shell()
    channel.send({"event": "ready", "isolation": report})
    run_cells(shell, job.get("cells", []), channel)
    channel.send({"event": "cells_done"})
    files_dir = tempfile.mkdtemp(prefix="probe-inputs-", dir=workdir)
    while True:
        request = channel.recv()
        if not request or request.get("op") != "call":
            break
        rules = Forbidden(list(request.get("forbidden", [])), list(request.get("allowed", [])), labhelpers_codes)
        results = [call_function(shell, request["function"], call, files_dir, rules) for call in request["calls"]]
        channel.send({"event": "answer", "id": request["id"], "results": results})
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
