"""Wearable device files through actipy: Axivity ``.cwa``/``.cwa.gz``, ActiGraph ``.gt3x``, GENEActiv ``.bin``.

actipy (the reader OxWearables use for UK Biobank and Capture-24; the ``[devices]`` extra)
parses the file with its Java readers, calibrates gravity (van Hees et al., 2014), flags
non-wear (stationary stretches of 90 minutes or more become NaN), low-pass filters at 20 Hz
and resamples to 30 Hz. Windows that touch non-wear are dropped and counted; the non-wear
fraction of every participant is kept (``meta["nonwear_fraction"]``, per participant id),
and the shard store writes it into its index. One file is one participant, named by its path
under ``raw_dir`` without the extensions (``siteA/P001.cwa.gz`` -> ``siteA/P001``), so same-named
files in two folders stay two participants; two files that reduce to one id (``P001.cwa`` beside
``P001.cwa.gz``) are refused, naming both. No labels: ``y`` is None.

actipy needs a Java runtime (``java`` on the PATH); without one the error says how to
install it. A file actipy cannot parse is one error line naming it, with the reason its Java
reader gave (its output is captured, not printed); a compressed file (``.gz``, and ``.gt3x``,
which is a zip) is first unpacked once, without keeping it, against the limits of
:mod:`.limits`, so a bomb is refused before actipy unpacks it to disk. Blocks actipy's reader
skips as damaged are counted per participant (``meta["read_errors"]``).

>>> ws = convert("devices", "~/ukb/raw")                          # doctest: +SKIP
>>> run = device_runs("~/ukb/raw/P001.cwa.gz")                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..contract import RATE_HZ, DataError, WindowSet
from ..identity import recording_id, refuse_duplicates, strip_suffix
from ._common import Collector, natural_key, raw_root
from .limits import MAX_DEVICE_BYTES, check_gzip, check_time, open_member, open_zip

PATTERNS = ("**/*.cwa", "**/*.cwa.gz", "**/*.gt3x", "**/*.bin", "**/*.CWA", "**/*.GT3X", "**/*.BIN")
SUFFIXES = (".cwa", ".cwa.gz", ".gt3x", ".bin")
# what actipy (its Python side, and the Java reader it runs) raises on a file it cannot parse
ACTIPY_ERRORS = (AssertionError, IndexError, KeyError, StopIteration, ValueError, OverflowError, OSError, EOFError,
                 struct.error, zlib.error, zipfile.BadZipFile, subprocess.SubprocessError, RuntimeError)


def is_device_file(path) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in SUFFIXES)


def participant(path) -> str:
    """The file name without the device extensions (``P001.cwa.gz`` -> ``P001``)."""
    return strip_suffix(Path(path).name, SUFFIXES)


def _actipy():
    try:
        import actipy
    except ImportError:
        raise ImportError("reading .cwa/.gt3x/.bin device files needs actipy: pip install 'flowfm-edge[devices]'") \
            from None
    if shutil.which("java") is None:
        raise RuntimeError("reading device files needs a Java runtime (actipy parses them in Java) and `java` is not "
                           "on the PATH: install one, e.g. `apt-get install default-jre-headless` (Debian/Ubuntu), "
                           "`brew install openjdk` (macOS) or `conda install -c conda-forge openjdk`")
    return actipy


def device_runs(path, calibrate: bool = True, nonwear: bool = True
                ) -> tuple[list[tuple[int, np.ndarray]], float, dict]:
    """One device file -> ([(start ns since the epoch, acc (T, 3) in g at 30 Hz), ...], non-wear fraction, info).

    The runs are the stretches between non-wear (and between gaps actipy leaves as NaN).
    """
    actipy = _actipy()
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such device file")
    _check_packed(path)
    with _captured() as output:
        try:
            data, info = actipy.read_device(str(path), lowpass_hz=20, calibrate_gravity=calibrate,
                                            detect_nonwear=nonwear, resample_hz=RATE_HZ, verbose=False)
        except ACTIPY_ERRORS as exc:
            failure = exc
        else:
            failure = None
    if failure is not None:
        raise DataError(f"{path}: not a readable device file ({_reason(failure, output)})") from None
    if not {"x", "y", "z"} <= set(data.columns) or len(data) == 0:
        raise DataError(f"{path}: no x, y, z acceleration in the file (columns {list(data.columns)})")
    acc = data[["x", "y", "z"]].to_numpy(np.float64)  # (T, 3) g, NaN where non-wear
    t_ns = data.index.asi8 if hasattr(data.index, "asi8") else np.asarray(data.index, "datetime64[ns]").astype(np.int64)
    for t in (t_ns[0], t_ns[-1]):
        check_time(int(t), f"{path}: a clock time")
    missing = ~np.isfinite(acc).all(axis=1)
    breaks = np.flatnonzero(np.diff(missing.astype(np.int8))) + 1
    runs = []
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(acc)]):
        if not missing[lo]:
            runs.append((int(t_ns[lo]), acc[lo:hi]))
    return runs, float(missing.mean()), {k: v for k, v in info.items() if isinstance(v, (int, float, str))}


def _check_packed(path: Path) -> None:
    """Unpack a .gz or .gt3x once, without keeping it, against the limits (see :mod:`.limits`)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        check_gzip(path, MAX_DEVICE_BYTES)
    elif name.endswith(".gt3x"):
        zf = open_zip(path)
        with zf:
            for info in zf.infolist():
                with open_member(zf, info.filename, f"{path}:{info.filename}", MAX_DEVICE_BYTES) as member:
                    while member.read(1 << 20):
                        pass


@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """Send file descriptors 1 and 2 (actipy's prints, its Java reader's stack traces) to a file; its lines after."""
    lines: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1), os.dup(2)
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            lines.extend(tmp.read(1 << 16).decode("utf-8", "replace").splitlines())


def _reason(exc: BaseException, output: list[str]) -> str:
    """Why actipy failed: the Java reader's own message where it printed one, else the exception."""
    said = [line.strip() for line in output if line.startswith("Error reading") or "Exception:" in line]
    if said:  # "Error reading FILE: why" or "java.io.EOFException: why"
        text = said[0].partition(": ")[2] or said[0]
    elif isinstance(exc, subprocess.CalledProcessError):
        text = f"actipy's Java reader exited with status {exc.returncode}"
    else:
        kind = type(exc).__name__ if type(exc).__name__ != "error" else f"{type(exc).__module__}.error"  # struct.error
        text = f"{kind}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def find_device_files(root: Path) -> dict[Path, str]:
    """Every device file under ``root`` -> its participant id (its relative path without extensions)."""
    files = sorted({p for pattern in PATTERNS for p in root.glob(pattern) if p.is_file()}, key=natural_key)
    ids = {p: recording_id(p, root, SUFFIXES) for p in files}
    refuse_duplicates(ids, "devices")
    return ids


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly", calibrate: bool = True,
         nonwear: bool = True) -> WindowSet:
    """Every device file under ``raw_dir`` -> unlabelled WindowSet X (N, 3, 300) float32 in g, pid = file name."""
    root = raw_root(raw_dir, "devices")
    files = find_device_files(root)
    if not files:
        raise DataError(f"devices: no files matching {' or '.join(repr(p) for p in PATTERNS[:4])} under {root}; "
                        "point raw_dir at a folder of .cwa, .cwa.gz, .gt3x or .bin files")
    out = Collector("devices", root, [], RATE_HZ, hop_s, label_policy, method, unlabelled=True)
    out.meta.update(nonwear_fraction={}, read_errors={})
    for path, pid in files.items():
        out.meta["files"] += 1
        runs, frac, info = device_runs(path, calibrate, nonwear)
        out.meta["nonwear_fraction"][pid] = frac
        out.meta["read_errors"][pid] = int(info.get("ReadErrors", 0) or 0)
        for _, acc in runs:
            out.add(acc, np.full(len(acc), -1), pid, str(path))
    return out.finish()
