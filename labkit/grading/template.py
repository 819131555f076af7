"""A pre-imported template process that forks one fresh sandbox per run, then isolates it (grading, scale).

Starting a sandbox used to mean a fresh interpreter importing torch, torchvision, IPython and matplotlib:
several seconds of every submission. A template (one per worker slot) imports them once, in the sandbox's
own environment, and then only forks. It never runs student code: each fork is a process that ran only
the template's imports, and it gets everything a spawned sandbox gets, in the same order:

1. it closes every descriptor but its two pipes and its output file (the template's socket included),
   starts a session of its own and joins the run's cgroup before anything else runs;
2. it unshares fresh mount, network, IPC and PID namespaces (and a user namespace in that mode): the
   fork then forks again, and the grandchild, PID 1 of the new namespace, is the sandbox, as with
   ``unshare --fork --kill-child`` (it dies with its parent);
3. it re-seeds Python's and NumPy's random generators (a fresh interpreter would have fresh ones), forgets
   cached host paths (tempfile, matplotlib), and runs :func:`sandbox_runner.serve`, which applies the new
   root, the limits and the unprivileged uid (:mod:`sandbox_setup`) before the first cell.

The template reports each fork's pid and, once it has exited, its wait status (one run at a time).
"""
from __future__ import annotations

import ast
import ctypes
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = \
    0x00020000, 0x10000000, 0x08000000, 0x20000000, 0x40000000
FLAGS = {"root-namespaces": CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID,
         "user-namespaces": CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID, "none": 0}
ALWAYS = ("labkit.grading.sandbox_runner", "IPython.core.interactiveshell", "traitlets.config")
PR_SET_PDEATHSIG = 1
MODULE = "labkit.grading.template"


def preload_list(sources: list[str]) -> list[str]:
    """Modules worth importing once for a lab: those its notebook imports (top level), and the labhelpers
    modules behind the ``lh.name``/``from labhelpers import name`` it uses, plus the runner's own."""
    from labkit.grading.spec import _AST_LOCK
    wanted: list[str] = []
    names: set[str] = set()
    for source in sources:
        try:
            with _AST_LOCK:
                tree = ast.parse("\n".join(l for l in source.split("\n") if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                wanted += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                wanted.append(node.module)
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    if any(m == "labhelpers" or m.startswith("labhelpers.") for m in wanted):
        import labhelpers
        wanted += sorted({f"labhelpers.{labhelpers._API[n]}" for n in names if n in labhelpers._API})
    wanted = [m for m in wanted if not m.startswith(("google.", "labkit")) and m != "google"]
    return list(dict.fromkeys(list(ALWAYS) + wanted))


# ----------------------------------------------------------------------------- the template process
def _recv(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """One request (a JSON line, up to 1 MiB) and the descriptors sent with it."""
    message, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 8)
    return (json.loads(message) if message else None), list(fds)


def _fail(text: str) -> None:
    os.write(2, f"sandbox start failed: {text}\n".encode())
    os._exit(3)


def _map_root(uid: int, gid: int) -> None:
    """In a new user namespace: be root inside, the grader's user outside (``unshare --map-root-user``)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fp:
            fp.write(text)


def _forget_host_state(env: dict) -> None:
    """What a fresh interpreter would not have: the template's random state and cached host paths."""
    import random
    import tempfile
    os.environ.clear()
    os.environ.update(env)
    random.seed()
    tempfile.tempdir = None
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        for getter in ("get_configdir", "get_cachedir"):
            function = getattr(getattr(matplotlib, getter), "__wrapped__", None)
            if function is not None:
                setattr(matplotlib, getter, matplotlib._logged_cached(f"{getter}=%s")(function))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, int(env.get("OMP_NUM_THREADS", "1"))))


def _child(request: dict, fds: list[int], codes: dict, libc) -> None:
    """In the fork: isolate, then serve the run (never returns)."""
    to_child_r, from_child_w, output = fds
    try:
        low = 3
        for fd in sorted(fds) + [max(4096, os.sysconf("SC_OPEN_MAX"))]:  # every other descriptor closed
            os.closerange(low, fd)
            low = fd + 1
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash ends as a signal, never as a core file
        for path in request.get("cgroup_procs", []):  # in the cgroup before anything of the student runs
            with open(path, "w") as fp:
                fp.write(str(os.getpid()))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        for fd in (null, output):
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        uid, gid = os.getuid(), os.getgid()
        flags = FLAGS[request["mode"]]
        if flags and libc.unshare(flags) != 0:
            _fail(f"unshare: {os.strerror(ctypes.get_errno())}")
        if flags & CLONE_NEWUSER:
            _map_root(uid, gid)
        if flags & CLONE_NEWPID:
            inner = os.fork()
            if inner:  # stay as the namespace's parent, and end as it ended
                while True:
                    try:
                        _, status = os.waitpid(inner, 0)
                        break
                    except ChildProcessError:
                        os._exit(1)
                    except InterruptedError:
                        continue
                if os.WIFSIGNALED(status):
                    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
                    os.kill(os.getpid(), os.WTERMSIG(status))
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _forget_host_state(request["env"])
        from labkit.grading.sandbox_runner import Channel, serve
        serve(Channel(to_child_r, from_child_w), codes)
    except BaseException as err:  # noqa: BLE001 - whatever happened, this process must not go back to the loop
        try:
            _fail(f"{type(err).__name__}: {err}")
        finally:
            os._exit(3)
    os._exit(0)


def _warm_up() -> list[str]:
    """What a first call imports lazily, imported here once (no computation that starts threads is run):
    torch's first optimizer imports about 900 modules (torch._dynamo, sympy), 1.6 s of every notebook."""
    done = []
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            import torch.optim
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
            done.append("torch.optim (torch._dynamo)")
        except Exception:  # noqa: BLE001 - a warm-up only: the sandbox imports it itself
            pass
    return done


def serve_forks(sock_fd: int, modules: list[str]) -> None:
    """The template's loop: import ``modules``, then for each request fork a sandbox and report on it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the grader gone: no template left behind
    sock = socket.socket(fileno=sock_fd)
    started, loaded, failed = time.monotonic(), [], {}
    import importlib
    for module in modules:
        try:
            importlib.import_module(module)
            loaded.append(module)
        except BaseException as err:  # noqa: BLE001 - an optional module: the sandbox imports it itself
            failed[module] = f"{type(err).__name__}: {str(err)[:120]}"
    warmed = _warm_up()
    from labkit.grading.guard import package_codes
    codes = package_codes("labhelpers")
    sock.sendall((json.dumps({"ready": True, "modules": loaded, "failed": failed, "warmed": warmed,
                              "seconds": round(time.monotonic() - started, 2)}) + "\n").encode())
    while True:
        request, fds = _recv(sock)
        if not request or request.get("op") != "fork" or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(request, fds, codes, libc)
        for fd in fds:
            os.close(fd)
        sock.sendall((json.dumps({"pid": pid}) + "\n").encode())
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        sock.sendall((json.dumps({"exit": status}) + "\n").encode())


# ----------------------------------------------------------------------------- the grader's side
class TemplateError(Exception):
    """The template could not start or stopped answering."""


@dataclass
class Template:
    """One template process (for one worker slot) and the socket to it."""

    sock: socket.socket
    proc: subprocess.Popen
    info: dict = field(default_factory=dict)
    buffer: bytes = b""
    alive: bool = True
    current: "ForkedProcess | None" = None

    @classmethod
    def launch(cls, modules: list[str], env: dict, log_path: Path) -> "Template":
        """Start a template importing ``modules`` in environment ``env`` (:meth:`wait_ready` before forking)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-I", "-m", MODULE, str(theirs.fileno()), json.dumps(modules)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    pass_fds=(theirs.fileno(),), start_new_session=True, cwd="/", env=env)
        theirs.close()
        return cls(ours, proc)

    def wait_ready(self, timeout: float = 180.0) -> "Template":
        """Wait until the template has imported its modules (TemplateError when it failed)."""
        try:
            self.info = self.read(timeout)
        except TimeoutError:
            raise TemplateError(f"the template did not start within {timeout:.0f} s") from None
        if not self.info.get("ready"):
            raise TemplateError(f"the template did not start: {self.info}")
        return self

    def read(self, timeout: float | None) -> dict:
        """The next message from the template (TimeoutError when none came in ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("no message from the template")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no message from the template") from None
            except OSError as err:
                raise TemplateError(f"the template's socket failed: {err}") from None
            if not chunk:
                raise TemplateError(f"the template exited (see its log; exit code {self.proc.poll()})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def fork(self, mode: str, env: dict, cgroup_procs: list[str], fds: list[int]) -> "ForkedProcess":
        """A new sandbox process on ``fds`` (its input pipe, its output pipe, its output file)."""
        if self.current is not None and self.current.returncode is None:
            try:  # one run at a time: the last one must have ended
                self.current.wait(30)
            except subprocess.TimeoutExpired:
                raise TemplateError("the template's previous sandbox did not end") from None
        request = {"op": "fork", "mode": mode, "env": env, "cgroup_procs": cgroup_procs}
        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        reply = self.read(30)
        if "pid" not in reply:
            raise TemplateError(f"the template did not fork: {reply}")
        self.current = ForkedProcess(self, int(reply["pid"]))
        return self.current

    def close(self) -> None:
        """Stop the template (its forks are gone by then) and close the socket."""
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ForkedProcess:
    """A sandbox forked by a template, with the part of subprocess.Popen's interface :class:`sandbox.Child` uses."""

    def __init__(self, template: Template, pid: int):
        self.template, self.pid, self.returncode = template, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self._take(self.template.read(0.001))
            except (TimeoutError, TemplateError):
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self._take(self.template.read(timeout))
            except TimeoutError:
                raise subprocess.TimeoutExpired(f"sandbox {self.pid}", timeout) from None
            except TemplateError:
                self.returncode = -signal.SIGKILL  # the template is gone, and with it the process
        return self.returncode

    def _take(self, message: dict) -> None:
        if "exit" in message:
            self.returncode = os.waitstatus_to_exitcode(int(message["exit"]))


def main(argv: list[str]) -> None:
    """Entry point: ``python -I -m labkit.grading.template SOCKET_FD MODULES_JSON``."""
    serve_forks(int(argv[1]), json.loads(argv[2]))


if __name__ == "__main__":
    main(sys.argv)
