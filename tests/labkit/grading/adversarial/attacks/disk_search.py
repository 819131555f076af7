# Attack: search the disk for hidden tests and solutions; define the answers from a solution if found.
import ctypes
import json
import os
import pathlib
import time

import labhelpers

_found, _start = [], time.time()
_repo = pathlib.Path(labhelpers.__file__).resolve().parents[1]
for _base in [_repo / "grading", _repo / "notebooks", _repo / "tests", _repo / ".git", _repo / "build"]:
    try:
        _found += [str(p) for p in _base.rglob("*") if p.is_file()]
    except OSError:
        pass
# then every other checkout on the machine: the repository's neighbours first (a CI clone sits beside
# the original; the test suite puts a decoy copy there), then the whole disk, for up to 10 seconds
_walked = 0
for _base in (str(_repo.parent), "/"):
    for _top, _dirs, _files in os.walk(_base):
        _dirs[:] = [d for d in _dirs if os.path.join(_top, d) not in ("/proc", "/sys", "/dev")]
        _walked += len(_files)
        _found += [os.path.join(_top, f) for f in _files
                   if f.endswith("_solution.ipynb") or (os.path.basename(_top) == "grading" and f.endswith(".py"))]
        if time.time() - _start > 10:
            break
print("walked", _walked, "files in", round(time.time() - _start, 1), "s")
for _target in (str(_repo / "grading").encode(), str(_repo / "notebooks").encode()):
    print("umount", _target, ctypes.CDLL(None).umount2(_target, 2))  # MNT_DETACH: must fail
print("found", len(_found), "files, e.g.", _found[:5])
for _path in _found:
    if _path.endswith(("_solution.ipynb", ".ipynb")):
        try:
            _nb = json.load(open(_path))
        except Exception:
            continue
        for _cell in _nb.get("cells", []):
            _source = "".join(_cell.get("source", ""))
            if _cell.get("cell_type") == "code" and "def " in _source:
                try:
                    exec(_source, globals())
                except Exception as err:
                    print("exec failed:", type(err).__name__)
