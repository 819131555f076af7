"""Parent side of the grading sandbox: detect the isolation a machine allows and drive one child (grading).

A child is ``[unshare ...] python -I -m labkit.grading.sandbox_runner IN OUT`` in its own
session; it talks JSON lines over two pipes (no sockets, so it can live without any network), its
printed output goes to a file, and the parent enforces every time limit by killing its process group.
Isolation modes, best first (``detect_isolation`` tries them and keeps the first that works):

Every mode also puts the sandbox in a control group of its own when the machine allows one
(:mod:`cgroups`: memory, processes, CPU time and CPUs for the whole submission, its forks included).

* ``root-namespaces``: new mount, network, PID and IPC namespaces; a new root that holds only system
  folders, the Python installation, labhelpers and data/, all read-only (an allowlist: no
  repository, no labkit, home or other checkout exists inside); a fresh /tmp; an unprivileged uid.
* ``user-namespaces``: the same without root, inside a user namespace (mounts locked).
* ``none``: resource limits and a private folder only (reported as such).
"""
from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import cgroups
from .cgroups import Cgroup, CgroupLimits
from .sandbox_setup import _blocked_ancestor

_SERIAL = itertools.count(1)

UID_BASE = 1_500_000_000  # sandbox users: UID_BASE + worker slot (no such accounts exist)
MAX_MESSAGE = 64 * 2**20
RUNNER = "labkit.grading.sandbox_runner"  # run with python -I -m: labkit is imported before the isolation
PREFIXES = {
    "root-namespaces": ["unshare", "--mount", "--net", "--pid", "--ipc", "--fork", "--mount-proc", "--kill-child"],
    "user-namespaces": ["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--ipc", "--fork",
                        "--mount-proc", "--kill-child"],
    "none": [],
}


@dataclass
class Limits:
    """Time, memory and output limits of one sandboxed submission."""

    cell_timeout: float = 120.0      # seconds per cell
    notebook_timeout: float = 900.0  # seconds for all cells of one run
    call_timeout: float = 60.0       # seconds for one exercise's probe calls
    startup_timeout: float = 60.0    # seconds until the child is ready
    memory_mb: int = 6144            # address space per process, when there is no cgroup (torch reserves 3.3 GB)
    cgroup_memory_mb: int = 4096     # resident memory + tmpfs of the whole sandbox (its cgroup)
    file_mb: int = 64                # largest file the child may write
    output_bytes: int = 1_000_000    # printed output kept
    nproc: int = 512                 # processes and threads of the sandbox user
    nofile: int = 1024
    tmpfs_mb: int = 512              # size of the child's fresh /tmp (namespaces only; /var/tmp, /dev/shm: 64)

    def rlimits(self) -> dict:
        return {"memory_mb": self.memory_mb, "file_mb": self.file_mb, "nproc": self.nproc,
                "nofile": self.nofile, "cpu_s": int(self.notebook_timeout * 2 + 120)}


class ChildFailure(Exception):
    """The child stopped answering: ``kind`` is "timeout", "crash" or "protocol"."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


@dataclass
class Isolation:
    """The isolation mode in force and what the probe child reported about it."""

    mode: str
    report: dict
    tried: dict

    def as_dict(self) -> dict:
        return asdict(self)


def needed_paths() -> list[str]:
    """Folders a sandbox needs to see: the Python installation, site-packages and labhelpers."""
    import site
    import labhelpers
    paths = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.realpath(labhelpers.__file__)), *site.getsitepackages()]
    return sorted({os.path.realpath(p) for p in paths})


def child_env(home: str, tmpdir: str, threads: int) -> dict:
    """The child's whole environment: nothing inherited from the grader, no host path (the runner is started
    by its full path; the system folders are all a cell's ``!command`` can find). LABKIT_GRADING tells the
    self-checks to stand aside: the hidden tests grade."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": tmpdir,
           "MPLCONFIGDIR": f"{home}/.config/matplotlib", "IPYTHONDIR": f"{home}/.ipython",
           "XDG_CACHE_HOME": f"{home}/.cache", "LABKIT_GRADING": "1",
           "OMP_WAIT_POLICY": "PASSIVE"}  # idle OpenMP threads sleep: spinning ones starve the other sandboxes
    env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def _wait(fd: int, event: int, seconds: float) -> bool:
    """True when ``fd`` is ready for ``event`` (POLLIN/POLLOUT) or closed within ``seconds``."""
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(max(0, int(seconds * 1000))))


class Child:
    """One sandboxed runner process: start it, read its events, send it requests, kill it."""

    def __init__(self, mode: str, limits: Limits, workroot: Path, output_path: Path, *, hide: list[str],
                 data_dir: Path | None, slot: int = 0, cpus: list[int] | None = None, template=None):
        self.template = template  # a template.Template to fork from (None: a fresh interpreter)
        self.mode, self.limits, self.output_path = mode, limits, output_path
        self.hide, self.data_dir, self.slot, self.cpus = hide, data_dir, slot, cpus
        self.workroot, self.workdir, self.proc = workroot, None, None
        self.buffer, self.messages = b"", []
        self.cgroup: Cgroup | None = None
        self.forked = False

    def _job(self, cells: list[str], probe: bool) -> dict:
        job = {"mode": self.mode, "hide": self.hide, "data_dir": str(self.data_dir) if self.data_dir else None,
               "tmpfs_mb": self.limits.tmpfs_mb, "limits": self.limits.rlimits(), "cells": cells,
               "output_bytes": self.limits.output_bytes, "probe": probe, "cpus": self.cpus,
               "expose": needed_paths()}
        reachable = self.mode != "none" or not any(_blocked_ancestor(p) for p in needed_paths())
        if os.geteuid() == 0 and self.mode != "user-namespaces" and reachable:
            job["uid"] = UID_BASE + self.slot  # (without namespaces only if Python is reachable by others)
        if self.mode == "none":
            self.workdir = Path(tempfile.mkdtemp(prefix="submission-", dir=self.workroot))
            if self.data_dir and self.data_dir.is_dir():
                (self.workdir / "data").symlink_to(self.data_dir, target_is_directory=True)
            if "uid" in job:
                os.chown(self.workdir, job["uid"], job["uid"])
            job["workdir"] = str(self.workdir)
        return job

    def start(self, cells: list[str], probe: bool = False) -> dict:
        """Start the child, send it the job, return its ``ready`` event (isolation report)."""
        job = self._job(cells, probe)
        home = "/tmp/work" if self.mode != "none" else job["workdir"]
        tmpdir = "/tmp" if self.mode != "none" else job["workdir"]
        threads = len(self.cpus) if self.cpus else max(1, os.cpu_count() or 1)
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        command = PREFIXES[self.mode] + [sys.executable, "-I", "-m", RUNNER, str(to_child_r), str(from_child_w)]
        self.cgroup, job["cgroup"] = cgroups.create(f"labkit-{os.getpid()}-{self.slot}-{next(_SERIAL)}",
                                                   CgroupLimits(self.limits.cgroup_memory_mb, self.limits.nproc,
                                                                tuple(self.cpus or ())))
        if self.cgroup is not None:
            command = self.cgroup.join_command(command)  # in the cgroup before anything of the student runs
            if os.path.exists("/dev/nvidia0"):          # CUDA reserves a huge address space: the cgroup
                job["limits"].pop("memory_mb", None)     # limits its memory; on a CPU both limits apply
        self.proc = None
        try:
            if self.template is not None and self.template.alive:
                self.proc = self._fork(child_env(home, tmpdir, threads), [to_child_r, from_child_w])
            if self.proc is None:
                with open(self.output_path, "ab") as output:
                    self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                                 stderr=subprocess.STDOUT, pass_fds=(to_child_r, from_child_w),
                                                 start_new_session=True, cwd="/", env=child_env(home, tmpdir, threads))
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        os.set_blocking(self.from_child, False)
        os.set_blocking(self.to_child, False)
        self.send(job, time.monotonic() + self.limits.startup_timeout)
        event = self.next_event(time.monotonic() + self.limits.startup_timeout)
        if event.get("event") != "ready":
            raise ChildFailure("crash", f"the sandbox could not start: {event.get('error')}")
        if isinstance(event.get("isolation"), dict):  # written here, by the grader, who knows how it started it
            event["isolation"]["process"] = ("forked from a template that imported only "
                                             f"{len(self.template.info.get('modules', []))} modules and ran no "
                                             "submission" if self.forked else "a fresh Python interpreter")
        return event

    def _fork(self, env: dict, pipes: list[int]):
        """The sandbox's first process, forked by the template (None when the template failed: spawn one)."""
        from .template import TemplateError
        output = os.open(self.output_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            procs = [str(p) for p in self.cgroup.procs_files()] if self.cgroup is not None else []
            proc = self.template.fork(self.mode, env, procs, pipes + [output])
            self.forked = True
            return proc
        except (TemplateError, OSError, TimeoutError) as err:
            self.template.alive = False
            with open(self.output_path, "ab") as log:
                log.write(f"[grader: the template failed ({err}); a fresh interpreter is started]\n".encode())
            return None
        finally:
            os.close(output)

    def send(self, message: dict, deadline: float) -> None:
        """Write one JSON line to the child; ChildFailure when it stops reading or dies."""
        data = (json.dumps(message) + "\n").encode()
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildFailure("timeout", "the submission stopped reading the grader's requests")
            if not _wait(self.to_child, select.POLLOUT, min(remaining, 0.5)):
                continue
            try:
                data = data[os.write(self.to_child, data[:65536]):]
            except BlockingIOError:
                continue
            except OSError:
                raise self._ended() from None

    def next_event(self, deadline: float) -> dict:
        """The next JSON event from the child, waiting until ``deadline`` (time.monotonic())."""
        while not self.messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildFailure("timeout", "time limit reached")
            ready = _wait(self.from_child, select.POLLIN, min(remaining, 0.5))
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self.from_child, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise self._ended()
            elif self.proc.poll() is not None:
                raise self._ended()
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            if len(self.buffer) > MAX_MESSAGE:
                raise ChildFailure("protocol", "a message from the submission was too large")
            for line in lines:
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):
                    raise ChildFailure("protocol", "an unreadable message came from the submission") from None
                if not isinstance(message, dict):
                    raise ChildFailure("protocol", "an unexpected message came from the submission")
                self.messages.append(message)
        return self.messages.pop(0)

    def _ended(self) -> ChildFailure:
        """The failure of a child that stopped: "memory" when its cgroup's memory limit killed it, else "crash"."""
        detail = self._exit_detail()
        oom = self.cgroup is not None and self.cgroup.oom_killed()
        return ChildFailure("memory" if oom else "crash", detail)

    def _exit_detail(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the notebook's process stopped talking to the grader"
        if self.cgroup is not None and self.cgroup.oom_killed():
            return (f"out of memory: the notebook used more than the sandbox's {self.limits.cgroup_memory_mb} MiB "
                    "(memory and /tmp together)")
        if code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            why = {"SIGKILL": " (out of memory?)", "SIGSEGV": " (a crash)", "SIGABRT": " (an abort)",
                   "SIGXCPU": " (CPU time limit)"}.get(name, "")
            return f"the notebook's Python process was killed by {name}{why}"
        return f"the notebook's Python process exited (exit code {code}: os._exit, or a crash)"

    def _inner_pids(self) -> list[int]:
        """The sandbox's processes below its first one (unshare): the cgroup's, else unshare's children."""
        if self.cgroup is not None:
            return [pid for pid in self.cgroup.pids() if pid != self.proc.pid]
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except (OSError, ValueError):
            return []

    def close(self) -> None:
        """Kill the sandbox's processes, inner ones first so that unshare reaps them (none is left to the
        host's init as a zombie), then its whole process group; remove its cgroup and private folder."""
        if self.proc is not None:
            for pid in self._inner_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=5)   # unshare exits once its child is reaped
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for fd in (getattr(self, "to_child", None), getattr(self, "from_child", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.to_child = self.from_child = None
        if self.cgroup is not None:
            self.cgroup.remove()  # kills whatever the submission left running, then deletes the cgroup
            self.cgroup = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def detect_isolation(requested: str, workroot: Path, hide: list[str], data_dir: Path | None) -> Isolation:
    """Try the isolation modes (or only ``requested``) with a probe child; keep the first that works."""
    order = list(PREFIXES) if requested == "auto" else [requested]
    tried = {}
    for mode in order:
        if mode != "none" and shutil.which("unshare") is None:
            tried[mode] = "unshare (util-linux) is not installed"
            continue
        child = Child(mode, Limits(startup_timeout=30), workroot, workroot / f"probe-{mode}.log", hide=hide,
                      data_dir=data_dir)
        try:
            report = child.start([], probe=True)["isolation"]
        except (ChildFailure, OSError) as err:
            log = (workroot / f"probe-{mode}.log").read_text(errors="replace")[-300:].strip()
            tried[mode] = f"failed: {err}" + (f" ({log})" if log else "")
            continue
        finally:
            child.close()
        problems = [] if mode == "none" else [
            text for key in ("network", "hidden_check") if "ok" != (text := str(report.get(key, "ok")))
            and not text.startswith("isolated")]
        if problems:
            tried[mode] = "rejected: " + "; ".join(problems)
            continue
        tried[mode] = "ok"
        return Isolation(mode, report, tried)
    raise RuntimeError(f"no isolation mode could start a sandbox: {tried}")
