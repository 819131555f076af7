"""Child side of the grading sandbox: hide paths, read-only filesystem, limits, drop privileges (grading).

Runs inside the sandbox process before any student code, as root of fresh mount/network/PID
namespaces (made by ``unshare``) when the machine allows it. Every step records what it did in a
report, so the grade report says which isolation was really in force, never what was assumed.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
ST_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SKIP_READONLY = ("/proc", "/sys", "/dev")
_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args) -> None:
    """Call a libc function; raise OSError with errno when it fails."""
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); strings are encoded, None passes a NULL pointer."""
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _call("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def _mount_points() -> list[str]:
    """Mount points of this mount namespace, parents first (from /proc/self/mountinfo)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fp:
        for line in fp:
            point = line.split()[4].replace("\\040", " ")
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"))


def hide(paths: list[str], report: dict) -> None:
    """Cover each existing directory with an empty read-only tmpfs and each file with /dev/null."""
    hidden, failed = [], []
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
            elif os.path.isfile(path):
                mount("/dev/null", path, None, MS_BIND)
            else:
                continue
            hidden.append(path)
        except OSError as err:
            failed.append(f"{path}: {err.strerror}")
    report["hidden_paths"] = hidden
    if failed:
        report["hide_failed"] = failed


def _blocked_ancestor(path: str) -> str | None:
    """The highest folder above ``path`` that other users cannot enter (no o+x), or None."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    for depth in range(1, len(parts)):
        folder = os.sep + os.sep.join(parts[:depth])
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def expose(paths: list[str], report: dict) -> None:
    """Make ``paths`` (the Python installation...) reachable for an unprivileged user when a folder
    above them is private (e.g. /root/.pyenv): cover that folder with a tmpfs holding only them."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        blocked = _blocked_ancestor(path) if os.path.exists(path) else None
        if blocked:
            groups.setdefault(blocked, []).append(path)
    exposed = []
    for blocked, inner in groups.items():
        fds = {path: os.open(path, os.O_PATH) for path in inner}
        mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for path, fd in sorted(fds.items()):
            os.makedirs(path, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
            exposed.append(path)
    if exposed:
        report["exposed_paths"] = exposed


def readonly_filesystem(report: dict) -> None:
    """Remount every mount (but /proc, /sys, /dev) read-only, keeping nosuid/nodev/noexec flags."""
    failed = []
    for point in _mount_points():
        if point.startswith(SKIP_READONLY) or not os.path.isdir(point):
            continue
        try:
            flags = os.statvfs(point).f_flag
            extra = sum(ms for st, ms in ST_FLAGS.items() if flags & st)
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)
        except OSError as err:
            failed.append(f"{point}: {err.strerror}")
    report["filesystem_readonly"] = not failed
    if failed:
        report["readonly_failed"] = failed[:20]


def _bind_readonly(fd: int, target: str) -> None:
    """Bind the folder open as ``fd`` onto ``target`` (created), read-only."""
    os.makedirs(target, mode=0o755, exist_ok=True)
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.close(fd)


def private_workdir(data_dir: str | None, tmpfs_mb: int, keep: list[str], report: dict) -> str:
    """Fresh tmpfs on /tmp (and /var/tmp, /dev/shm); /tmp/work with data/ bound read-only; its path.
    Folders of ``keep`` (the Python installation...) that lie under those are bound back read-only."""
    data_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY) if data_dir and os.path.isdir(data_dir) else None
    points = [p for p in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(p) and not os.path.islink(p)]
    kept = {path: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in keep
            if os.path.isdir(path) and any(path.startswith(p + "/") for p in points)}
    for point in points:
        mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=1777")
    for path, fd in sorted(kept.items()):
        _bind_readonly(fd, path)
    work = "/tmp/work"
    os.mkdir(work, 0o755)
    if data_fd is not None:
        _bind_readonly(data_fd, os.path.join(work, "data"))
    report["workdir"] = f"fresh tmpfs ({tmpfs_mb} MiB), data/ read-only"
    return work


def set_limits(limits: dict, report: dict) -> None:
    """Hard resource limits (memory, CPU seconds, file size, processes, open files)."""
    names = {"memory_mb": (resource.RLIMIT_AS, 2**20), "cpu_s": (resource.RLIMIT_CPU, 1),
             "file_mb": (resource.RLIMIT_FSIZE, 2**20), "nproc": (resource.RLIMIT_NPROC, 1),
             "nofile": (resource.RLIMIT_NOFILE, 1)}
    applied = {}
    for key, (which, unit) in names.items():
        if limits.get(key):
            value = int(limits[key]) * unit
            try:
                resource.setrlimit(which, (value, value))
                applied[key] = limits[key]
            except (ValueError, OSError) as err:
                applied[key] = f"not applied: {err}"
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG instead of killing
    report["limits"] = applied


def drop_privileges(uid: int | None, workdir: str, report: dict) -> None:
    """Give ``workdir`` to ``uid`` and become that unprivileged user (no groups, no new privileges)."""
    if uid is not None and os.geteuid() == 0:
        os.chown(workdir, uid, uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # cleared by setuid; die with unshare
        report["user"] = f"uid {uid} (unprivileged, no groups)"
    elif report.get("mode") == "user-namespaces":
        report["user"] = "the grader's user, without capabilities outside the sandbox's namespaces"
    else:
        report["user"] = f"uid {os.getuid()} (the grader's own user: can read what the grader can read)"
    report["no_new_privs"] = _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def lock_mounts(report: dict) -> None:
    """In a user namespace: enter a nested one so the hiding mounts become locked (cannot be undone)."""
    try:
        _call("unshare", CLONE_NEWUSER | CLONE_NEWNS)
        report["mounts_locked"] = True
    except OSError as err:
        report["mounts_locked"] = f"no: {err.strerror}"


def network_report() -> str:
    """'isolated' when only a loopback exists and it cannot reach even 127.0.0.1, else what was seen."""
    names = [name for _, name in socket.if_nameindex()]
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", 9))
        reached = True
    except OSError as err:
        reached = err.errno not in (101, 99)  # ENETUNREACH / EADDRNOTAVAIL: no usable interface
    finally:
        probe.close()
    if names == ["lo"] and not reached:
        return "isolated (empty network namespace)"
    return f"NOT isolated (interfaces: {', '.join(names) or 'none'})"


def _readable(path: str) -> bool:
    """True when ``path`` still shows content (a non-empty folder or a non-empty file)."""
    try:
        if os.path.isdir(path):
            return bool(os.listdir(path))
        with open(path, "rb") as fp:
            return bool(fp.read(1))
    except OSError:
        return False


def setup(job: dict) -> tuple[str, dict]:
    """Apply every isolation step the job asks for; return (working directory, report)."""
    report: dict = {"mode": job.get("mode", "none")}
    namespaces = job.get("mode") in ("root-namespaces", "user-namespaces")
    if namespaces:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        hide(job.get("hide", []), report)
        if job.get("uid") is not None:
            expose(job.get("expose", []), report)
        readonly_filesystem(report)
        workdir = private_workdir(job.get("data_dir"), int(job.get("tmpfs_mb", 512)), job.get("expose", []), report)
    else:
        workdir = job["workdir"]
        report["workdir"] = "private folder on disk (other paths stay visible)"
    if job.get("cpus"):
        os.sched_setaffinity(0, job["cpus"])
        report["cpus"] = job["cpus"]
    if job.get("mode") == "user-namespaces":
        lock_mounts(report)
    set_limits(job.get("limits", {}), report)
    drop_privileges(job.get("uid"), workdir, report)
    os.chdir(workdir)
    visible = [p for p in report.get("hidden_paths", []) if _readable(p)]
    if namespaces:
        report["hidden_check"] = "ok" if not visible else f"STILL READABLE: {visible[:5]}"
    report["network"] = network_report()
    report["pid_namespace"] = os.getpid() == 1
    return workdir, report
