"""PAMAP2 Physical Activity Monitoring (UCI): ``Protocol/subject1xx.dat`` -> WindowSet.

Each file holds 54 space-separated columns at 100 Hz: timestamp (s), activityID, heart rate,
then three IMUs (hand, chest, ankle) of 17 columns each; an IMU's +-16 g accelerometer sits
in its columns 2-4 (hand: file columns 5-7, 1-based), in m/s^2. ``activityID`` 0 marks
transients between activities: those samples are unlabelled and never become windows.
Lost wireless packets appear as NaN; windows containing NaN are dropped and counted in
``meta["dropped_nan"]``, never interpolated.
"""

from __future__ import annotations

import numpy as np

from ..contract import DataError, WindowSet
from ._common import STANDARD_GRAVITY, Collector, find_files, natural_key, raw_root

RATE_HZ = 100.0
PATTERNS = ("Protocol/subject*.dat", "subject*.dat")
OPTIONAL_PATTERN = "Optional/subject*.dat"
ACC_COLUMNS = {"hand": (4, 5, 6), "chest": (21, 22, 23), "ankle": (38, 39, 40)}  # 0-based, +-16 g
N_COLUMNS = 54

PROTOCOL_ACTIVITIES = {
    1: "lying", 2: "sitting", 3: "standing", 4: "walking", 5: "running", 6: "cycling",
    7: "Nordic walking", 12: "ascending stairs", 13: "descending stairs",
    16: "vacuum cleaning", 17: "ironing", 24: "rope jumping",
}
OPTIONAL_ACTIVITIES = {
    9: "watching TV", 10: "computer work", 11: "car driving",
    18: "folding laundry", 19: "house cleaning", 20: "playing soccer",
}


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly",
         position: str = "hand", include_optional: bool = False) -> WindowSet:
    """Read PAMAP2 from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g, y codes, pid ``"subject101"``.

    ``position``: which IMU's +-16 g accelerometer ("hand", "chest" or "ankle").
    ``include_optional``: also read ``Optional/`` and add its six activities to ``classes``.
    """
    if position not in ACC_COLUMNS:
        raise DataError(f"pamap2: unknown position {position!r}; choose one of {', '.join(ACC_COLUMNS)}")
    root = raw_root(raw_dir, "pamap2")
    files = find_files(root, PATTERNS, "pamap2")
    activities = dict(PROTOCOL_ACTIVITIES)
    if include_optional:
        activities.update(OPTIONAL_ACTIVITIES)
        files += sorted(root.glob(OPTIONAL_PATTERN), key=natural_key)
    ids = sorted(activities)
    code_of = np.full(max(PROTOCOL_ACTIVITIES | OPTIONAL_ACTIVITIES) + 1, -1, dtype=np.int64)  # id -> code
    code_of[ids] = np.arange(len(ids))
    out = Collector("pamap2", root, [activities[i] for i in ids], RATE_HZ, hop_s, label_policy, method)
    out.meta["position"] = position
    for path in files:
        out.meta["files"] += 1
        activity, acc = _load(path, ACC_COLUMNS[position])
        if activity.size and (activity.min() < 0 or activity.max() >= len(code_of)):
            raise DataError(f"pamap2: {path}: activityID outside 0..{len(code_of) - 1} (column 2)")
        labels = code_of[activity]  # 0 (transient) and unread activities -> -1
        out.add(acc / STANDARD_GRAVITY, labels, path.stem, str(path))
    return out.finish()


def _load(path, acc_cols: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """activityID (T,) int and acceleration (T, 3) in m/s^2 from one ``subject1xx.dat``."""
    try:
        data = np.loadtxt(path, usecols=(1, *acc_cols), ndmin=2)  # (T, 4)
    except ValueError as e:
        raise DataError(f"pamap2: {path}: cannot parse as {N_COLUMNS} space-separated numbers ({e})") from None
    if not np.isfinite(data[:, 0]).all():
        raise DataError(f"pamap2: {path}: activityID (column 2) holds NaN")
    return data[:, 0].astype(np.int64), data[:, 1:]
