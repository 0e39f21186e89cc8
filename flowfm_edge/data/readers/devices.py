"""Wearable device files through actipy: Axivity ``.cwa``/``.cwa.gz``, ActiGraph ``.gt3x``, GENEActiv ``.bin``.

actipy (the reader OxWearables use for UK Biobank and Capture-24; the ``[devices]`` extra)
parses the file with its Java readers, calibrates gravity (van Hees et al., 2014), flags
non-wear (stationary stretches of 90 minutes or more become NaN), low-pass filters at 20 Hz
and resamples to 30 Hz. Windows that touch non-wear are dropped and counted; the non-wear
fraction of every participant is kept (``meta["nonwear_fraction"]``, per participant id),
and the shard store writes it into its index. One file is one participant, named by the
file name without its extensions (``P001.cwa.gz`` -> ``P001``). No labels: ``y`` is None.

actipy needs a Java runtime (``java`` on the PATH); without one the error says how to
install it.

>>> ws = convert("devices", "~/ukb/raw")                          # doctest: +SKIP
>>> run = device_runs("~/ukb/raw/P001.cwa.gz")                     # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..contract import RATE_HZ, DataError, WindowSet
from ._common import Collector, natural_key, raw_root

PATTERNS = ("**/*.cwa", "**/*.cwa.gz", "**/*.gt3x", "**/*.bin", "**/*.CWA", "**/*.GT3X", "**/*.BIN")
SUFFIXES = (".cwa", ".cwa.gz", ".gt3x", ".bin")


def is_device_file(path) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in SUFFIXES)


def participant(path) -> str:
    name = Path(path).name
    for s in SUFFIXES:
        if name.lower().endswith(s):
            return name[: -len(s)]
    return Path(path).stem


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
    try:
        data, info = actipy.read_device(str(path), lowpass_hz=20, calibrate_gravity=calibrate,
                                        detect_nonwear=nonwear, resample_hz=RATE_HZ, verbose=False)
    except (ValueError, RuntimeError, OSError, EOFError, subprocess.SubprocessError) as exc:
        raise DataError(f"{path}: actipy could not read it as a device file ({exc})") from None
    if not {"x", "y", "z"} <= set(data.columns) or len(data) == 0:
        raise DataError(f"{path}: no x, y, z acceleration in the file (columns {list(data.columns)})")
    acc = data[["x", "y", "z"]].to_numpy(np.float64)  # (T, 3) g, NaN where non-wear
    t_ns = data.index.asi8 if hasattr(data.index, "asi8") else np.asarray(data.index, "datetime64[ns]").astype(np.int64)
    missing = ~np.isfinite(acc).all(axis=1)
    breaks = np.flatnonzero(np.diff(missing.astype(np.int8))) + 1
    runs = []
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(acc)]):
        if not missing[lo]:
            runs.append((int(t_ns[lo]), acc[lo:hi]))
    return runs, float(missing.mean()), {k: v for k, v in info.items() if isinstance(v, (int, float, str))}


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly", calibrate: bool = True,
         nonwear: bool = True) -> WindowSet:
    """Every device file under ``raw_dir`` -> unlabelled WindowSet X (N, 3, 300) float32 in g, pid = file name."""
    root = raw_root(raw_dir, "devices")
    files = sorted({p for pattern in PATTERNS for p in root.glob(pattern) if p.is_file()}, key=natural_key)
    if not files:
        raise DataError(f"devices: no files matching {' or '.join(repr(p) for p in PATTERNS[:4])} under {root}; "
                        "point raw_dir at a folder of .cwa, .cwa.gz, .gt3x or .bin files")
    out = Collector("devices", root, [], RATE_HZ, hop_s, label_policy, method, unlabelled=True)
    out.meta["nonwear_fraction"] = {}
    for path in files:
        out.meta["files"] += 1
        runs, frac, _ = device_runs(path, calibrate, nonwear)
        pid = participant(path)
        out.meta["nonwear_fraction"][pid] = frac
        for _, acc in runs:
            out.add(acc, np.full(len(acc), -1), pid, str(path))
    return out.finish()
