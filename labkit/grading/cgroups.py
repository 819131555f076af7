"""One control group per sandbox: memory, processes and CPU limited for the whole submission (grading).

Resource limits (``setrlimit``) are per process: each forked child gets its own address space, and the
pages of a RAM-backed /tmp belong to nobody. A control group holds all of a sandbox's processes, so
``memory`` (resident memory plus tmpfs pages, also for a CUDA process, which an address-space limit
cannot limit), ``pids`` and ``cpu``/``cpuset`` (a quota, and CPUs the sandbox cannot widen with
``sched_setaffinity``) apply to the submission as a whole. The grader creates it when it runs as root
or owns a delegated cgroup, puts the sandbox in it before anything of the student runs (the child's
first command is ``sh -c 'echo $$ > .../cgroup.procs; exec ...'``), and removes it afterwards, killing
whatever is left. cgroup v2 is used where its unified hierarchy has the controllers, else cgroup v1
(one hierarchy per controller). Where neither can be made, :func:`create` says why, and the grade
report says so.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupLimits:
    """What one sandbox's control group allows."""

    memory_mb: int = 4096
    pids: int = 512
    cpus: tuple[int, ...] = ()        # CPUs of the worker slot (empty: all)
    cpu_quota: float | None = None    # CPUs' worth of time per period (None: len(cpus), or no quota)


def _own_path(controller: str | None) -> str:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (None: the v2 one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, names, path = line.split(":", 2)
        if (controller is None and number == "0") or (controller and controller in names.split(",")):
            return path
    raise OSError(f"this process has no {controller or 'v2'} cgroup")


@dataclass
class Cgroup:
    """A created control group: its folders (one for v2, one per controller for v1) and how it was made."""

    version: int
    folders: dict[str, Path]            # controller (or "unified") -> folder
    limits: CgroupLimits
    applied: dict = field(default_factory=dict)

    def procs_files(self) -> list[Path]:
        """The files a process writes its pid into to join (one per hierarchy)."""
        return sorted({folder / "cgroup.procs" for folder in self.folders.values()})

    def join_command(self, command: list[str]) -> list[str]:
        """``command`` started so that its first process joins this cgroup before it runs anything else."""
        joins = " && ".join(f'echo $$ > "{path}"' for path in self.procs_files())
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *command]

    def oom_killed(self) -> bool:
        """True when the memory limit killed a process of this cgroup."""
        folder = self.folders.get("memory") or self.folders.get("unified")
        for name in ("memory.events", "memory.oom_control"):
            try:
                text = (folder / name).read_text()
            except OSError:
                continue
            return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in text.splitlines())
        return False

    def pids(self) -> list[int]:
        found = set()
        for path in self.procs_files():
            try:
                found |= {int(p) for p in path.read_text().split()}
            except OSError:
                pass
        return sorted(found)

    def remove(self) -> None:
        """Kill every process left in the cgroup, then delete its folders."""
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        for folder in self.folders.values():
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.applied.items())
        return f"cgroup v{self.version}: {parts}"


def _write(folder: Path, name: str, value: str) -> None:
    (folder / name).write_text(value)


def _v2(name: str, limits: CgroupLimits) -> Cgroup | None:
    unified = ROOT if (ROOT / "cgroup.controllers").is_file() else ROOT / "unified"
    if not (unified / "cgroup.controllers").is_file():
        return None
    parent = unified / _own_path(None).lstrip("/")
    wanted = {"memory", "pids", "cpu"}
    if not wanted <= set((parent / "cgroup.controllers").read_text().split()):
        return None
    if not wanted <= set((parent / "cgroup.subtree_control").read_text().split()):
        _write(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
    folder = parent / name
    folder.mkdir()
    group = Cgroup(2, {"unified": folder}, limits)
    _write(folder, "memory.max", str(limits.memory_mb * 2**20))
    if (folder / "memory.swap.max").exists():
        _write(folder, "memory.swap.max", "0")
    _write(folder, "pids.max", str(limits.pids))
    group.applied.update(memory=f"{limits.memory_mb} MiB", pids=limits.pids)
    quota = limits.cpu_quota or (len(limits.cpus) or None)
    if quota:
        _write(folder, "cpu.max", f"{int(quota * PERIOD_US)} {PERIOD_US}")
        group.applied["cpu"] = f"{quota:g} CPU(s)"
    if limits.cpus and (folder / "cpuset.cpus").exists():
        _write(folder, "cpuset.cpus", ",".join(map(str, limits.cpus)))
        group.applied["cpuset"] = ",".join(map(str, limits.cpus))
    return group


def _v1(name: str, limits: CgroupLimits) -> Cgroup | None:
    folders: dict[str, Path] = {}
    for controller in ("memory", "pids", "cpu", "cpuset"):
        base = ROOT / controller
        if not (base / "cgroup.procs").is_file():
            if controller in ("memory", "pids"):
                return None
            continue
        folders[controller] = base / _own_path(controller).lstrip("/") / name
    group = Cgroup(1, {}, limits)
    try:
        for controller, folder in folders.items():
            folder.mkdir()
            group.folders[controller] = folder
        memory = folders["memory"]
        _write(memory, "memory.limit_in_bytes", str(limits.memory_mb * 2**20))
        if (memory / "memory.memsw.limit_in_bytes").exists():
            try:
                _write(memory, "memory.memsw.limit_in_bytes", str(limits.memory_mb * 2**20))  # no swap beyond it
            except OSError:
                pass
        _write(folders["pids"], "pids.max", str(limits.pids))
        group.applied.update(memory=f"{limits.memory_mb} MiB", pids=limits.pids)
        quota = limits.cpu_quota or (len(limits.cpus) or None)
        if quota and "cpu" in folders:
            _write(folders["cpu"], "cpu.cfs_period_us", str(PERIOD_US))
            _write(folders["cpu"], "cpu.cfs_quota_us", str(int(quota * PERIOD_US)))
            group.applied["cpu"] = f"{quota:g} CPU(s)"
        if "cpuset" in folders:
            parent = folders["cpuset"].parent
            cpus = ",".join(map(str, limits.cpus)) if limits.cpus else (parent / "cpuset.cpus").read_text().strip()
            _write(folders["cpuset"], "cpuset.cpus", cpus)
            _write(folders["cpuset"], "cpuset.mems", (parent / "cpuset.mems").read_text().strip())
            group.applied["cpuset"] = cpus
    except OSError:
        group.remove()
        raise
    return group


def create(name: str, limits: CgroupLimits) -> tuple[Cgroup | None, str]:
    """(a new cgroup named ``name`` under this process's own, with ``limits``; None and why when there is none)."""
    reasons = []
    for version, make in ((2, _v2), (1, _v1)):
        try:
            group = make(name, limits)
        except OSError as err:
            reasons.append(f"v{version}: {err.strerror or err}")
            continue
        if group is not None:
            return group, group.describe()
        reasons.append(f"v{version}: not mounted with the memory, pids and cpu controllers")
    return None, "no cgroup (" + "; ".join(reasons) + "): memory is limited per process only"
