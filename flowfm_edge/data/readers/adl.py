"""ADL / HMP (Dataset for ADL Recognition with Wrist-worn Accelerometer, UCI) -> WindowSet.

One folder per activity (``Brush_teeth/Accelerometer-2011-04-11-13-28-18-brush_teeth-f1.txt``),
one recording per file as lines ``x y z`` of 6-bit integers 0..63 at 32 Hz, mapped to g by
``g = -1.5 + 3 v / 63``. The subject is the file name's last token (``f1``, ``m2``).
Many recordings last under 10 s; they yield no window and are counted in
``meta["short_recordings"]``. The ``*_MODEL`` folders (the trials the dataset's authors
built their models from) are skipped unless ``include_model=True``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..contract import DataError, WindowSet
from ._common import Collector, find_files, raw_root

RATE_HZ = 32.0
PATTERNS = ("**/Accelerometer-*.txt",)
ACTIVITIES = ("Brush_teeth", "Climb_stairs", "Comb_hair", "Descend_stairs", "Drink_glass", "Eat_meat",
              "Eat_soup", "Getup_bed", "Liedown_bed", "Pour_water", "Sitdown_chair", "Standup_chair",
              "Use_telephone", "Walk")


def to_g(v: np.ndarray) -> np.ndarray:
    """6-bit sensor codes 0..63 -> acceleration in g (range -1.5..+1.5 g)."""
    return -1.5 + 3.0 * np.asarray(v, dtype=np.float64) / 63.0


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly",
         include_model: bool = False) -> WindowSet:
    """Read ADL/HMP from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g, y codes, pid ``"f1"``.

    Activity folders not among ``ACTIVITIES`` become extra classes after them, sorted.
    """
    root = raw_root(raw_dir, "adl")
    files = [p for p in find_files(root, PATTERNS, "adl") if include_model or not p.parent.name.endswith("_MODEL")]
    if not files:
        raise DataError(f"adl: only *_MODEL folders under {root}; pass include_model=True to read them")
    folders = {p.parent.name.removesuffix("_MODEL") for p in files}
    classes = list(ACTIVITIES) + sorted(folders - set(ACTIVITIES))
    out = Collector("adl", root, classes, RATE_HZ, hop_s, label_policy, method)
    for path in files:
        out.meta["files"] += 1
        v = _load(path)  # (T, 3) codes
        label = classes.index(path.parent.name.removesuffix("_MODEL"))
        out.add(to_g(v), np.full(len(v), label), path.stem.rsplit("-", 1)[-1], str(path))
    return out.finish()


def _load(path) -> np.ndarray:
    """(T, 3) integer codes of one recording; a :class:`DataError` for anything outside 0..63."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file is a short recording, not a warning
            v = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise DataError(f"adl: {path}: expected lines of three integers 'x y z' ({e})") from None
    if v.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if v.shape[1] != 3 or v.min() < 0 or v.max() > 63:
        raise DataError(f"adl: {path}: expected three integer columns in 0..63, got shape {v.shape} "
                        f"and range {v.min()}..{v.max()}")
    return v
