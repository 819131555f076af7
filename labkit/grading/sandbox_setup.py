"""Child side of the grading sandbox: a minimal read-only root, limits, drop privileges (grading).

Runs inside the sandbox process before any student code, as root of fresh mount/network/PID
namespaces (made by ``unshare``) when the machine allows it. Every step records what it did in a
report, so the grade report says which isolation was really in force, never what was assumed.
"""
from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import socket

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
ST_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys")
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
MNT_DETACH = 2
SMALL_TMPFS_MB = 64  # /var/tmp and /dev/shm (the labs use neither); /tmp gets Limits.tmpfs_mb
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


def _bind(fd: int, target: str, readonly: bool = True) -> None:
    """Bind the folder or file open as ``fd`` (with its submounts) onto ``target``; read-only if asked."""
    if not os.path.exists(target):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(target, mode=0o755)
        else:
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            open(target, "wb").close()
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    os.close(fd)
    if readonly:  # keep the flags a user namespace locked (nosuid, nodev, noexec) or the remount fails
        kept = sum(ms for st, ms in ST_FLAGS.items() if os.statvfs(target).f_flag & st)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _blocked_ancestor(path: str) -> str | None:
    """The highest folder above ``path`` that other users cannot enter (no o+x), or None."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    for depth in range(1, len(parts)):
        folder = os.sep + os.sep.join(parts[:depth])
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def _outermost(paths: list[str]) -> list[str]:
    """The existing ``paths`` (resolved) that do not lie inside another of them."""
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    return [p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real)]


def _switch_root(root: str, report: dict) -> None:
    """Make ``root`` the filesystem root and drop the old one (pivot_root; chroot where unknown)."""
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is not None and _libc.syscall(number, b".", b".") == 0:
        _call("umount2", b".", MNT_DETACH)  # the old root, stacked on the new one: gone
        report["root"] = "pivot_root: the old root is unmounted"
    else:
        os.chroot(".")
        report["root"] = "chroot (pivot_root unavailable)"
    os.chdir("/")


def new_root(job: dict, report: dict) -> str:
    """Switch to a root that holds only what grading needs; return the working folder (/tmp/work).

    An allowlist, not a denylist: system folders (/usr, /etc, /lib...), the Python installation,
    site-packages and labhelpers are bound read-only at their own paths, ``data_dir`` read-only at
    /tmp/work/data, fresh tmpfs on /tmp, /var/tmp and /dev/shm. Nothing else of the machine exists
    inside (no repository, no labkit, no home, no other checkout), and ``job["hide"]`` paths inside a
    bound folder are covered."""
    system = [p for p in SYSTEM if os.path.lexists(p)]
    wanted = [p for p in _outermost(job.get("expose", []))
              if not any(p == s or p.startswith(s + "/") for s in system if not os.path.islink(s))]
    # open every source first: the new root is mounted on /tmp, where a virtual environment may live
    binds = {p: os.open(p, os.O_PATH) for p in system + wanted + ["/dev"] if not os.path.islink(p)}
    data_dir = job.get("data_dir")
    data_fd = os.open(data_dir, os.O_PATH) if data_dir and os.path.isdir(data_dir) else None
    null_fd = os.open("/dev/null", os.O_PATH)
    root, size = "/tmp", int(job.get("tmpfs_mb", 512))
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=755")
    for path in sorted(set(binds) | {"/tmp", "/var/tmp", "/dev/shm"}, key=lambda p: p.count("/")):
        target = root + path
        if path in ("/tmp", "/var/tmp", "/dev/shm"):
            os.makedirs(target, mode=0o755, exist_ok=True)
            mb = size if path == "/tmp" else SMALL_TMPFS_MB
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={mb}m,nr_inodes=65536,mode=1777")
        else:
            _bind(binds[path], target, readonly=path != "/dev")
    for path in system:
        if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems
            os.symlink(os.readlink(path), root + path)
    covered = []
    for path in job.get("hide", []):
        inside = any(path.startswith(p + "/") for p in wanted)
        if inside and os.path.isdir(root + path):
            mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
            covered.append(path)
        elif inside and os.path.isfile(root + path):
            _bind(os.dup(null_fd), root + path)
            covered.append(path)
    os.close(null_fd)
    os.makedirs(root + "/proc", mode=0o555)
    try:
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        _bind(os.open("/proc", os.O_PATH), root + "/proc", readonly=False)
    work = "/tmp/work"
    os.mkdir(root + work, 0o755)
    if data_fd is not None:
        _bind(data_fd, root + work + "/data")
    _switch_root(root, report)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    report["visible_paths"] = sorted(system + wanted + ["/dev", "/proc", "/tmp", "/var/tmp"])
    report["covered_paths"] = covered
    report["filesystem_readonly"] = True
    report["workdir"] = f"fresh tmpfs ({size} MiB; /var/tmp and /dev/shm {SMALL_TMPFS_MB} MiB), data/ read-only"
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
    report: dict = {"mode": job.get("mode", "none"), "cgroup": job.get("cgroup", "no cgroup")}
    namespaces = job.get("mode") in ("root-namespaces", "user-namespaces")
    if namespaces:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        workdir = new_root(job, report)
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
    visible = [p for p in job.get("hide", []) if _readable(p)]
    if namespaces:
        report["hidden_check"] = "ok" if not visible else f"STILL READABLE: {visible[:5]}"
    report["network"] = network_report()
    report["pid_namespace"] = os.getpid() == 1
    report["ipc_namespace"] = "private (unshare --ipc)" if namespaces else "the host's"
    return workdir, report
