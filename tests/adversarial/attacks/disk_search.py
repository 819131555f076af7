# Attack: search the disk for hidden tests and solutions; define the answers from a solution if found.
import ctypes
import json
import os
import pathlib
import time

import labhelpers

_found, _start = [], time.time()
_repo = pathlib.Path(labhelpers.__file__).resolve().parents[1]
for _base in [_repo / "grading", _repo / "notebooks", _repo / "tests", _repo / ".git", _repo / "build",
              pathlib.Path("/work/main/grading"), pathlib.Path("/work/main/notebooks")]:
    try:
        _found += [str(p) for p in _base.rglob("*") if p.is_file()]
    except OSError:
        pass
for _top, _dirs, _files in os.walk("/"):
    _dirs[:] = [d for d in _dirs if os.path.join(_top, d) not in ("/proc", "/sys", "/dev")]
    _found += [os.path.join(_top, f) for f in _files
               if f.endswith("_solution.ipynb") or (os.path.basename(_top) == "grading" and f.endswith(".py"))]
    if time.time() - _start > 6:
        break
for _target in (b"/work/main/grading", b"/work/main/notebooks", str(_repo / "grading").encode()):
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
