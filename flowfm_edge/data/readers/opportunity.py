"""OPPORTUNITY Activity Recognition (UCI): ``S1-ADL1.dat`` ... -> WindowSet, locomotion labels.

Each file holds 250 space-separated columns at 30 Hz: column 1 is time in ms, columns 2-37
twelve body-worn 3-axis accelerometers in milli-g (the right wrist, RWR, at columns 23-25,
1-based), column 244 the locomotion label (0 null, 1 stand, 2 walk, 4 sit, 5 lie). Null
samples are unlabelled and never become windows. Sensor dropouts appear as NaN; windows
containing NaN are dropped and counted in ``meta["dropped_nan"]``.
"""

from __future__ import annotations

import numpy as np

from ..contract import DataError, WindowSet
from ._common import Collector, find_files, raw_root

RATE_HZ = 30.0
PATTERNS = ("**/S[0-9]*-*.dat",)
N_COLUMNS = 250
LOCOMOTION_COLUMN = 243  # 0-based
# First (x) column, 0-based, of each body-worn accelerometer in the column legend.
SENSORS = {"RKN^": 1, "HIP": 4, "LUA^": 7, "RUA_": 10, "LH": 13, "BACK": 16,
           "RKN_": 19, "RWR": 22, "RUA^": 25, "LUA_": 28, "LWR": 31, "RH": 34}
LOCOMOTION = {1: "stand", 2: "walk", 4: "sit", 5: "lie"}


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly",
         sensor: str = "RWR", include_drill: bool = True) -> WindowSet:
    """Read Opportunity from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g, y codes, pid ``"S1"``.

    ``sensor``: which accelerometer (default the right wrist, ``"RWR"``; see ``SENSORS``).
    ``include_drill``: also read the ``S*-Drill.dat`` sessions (scripted repetitions).
    """
    if sensor not in SENSORS:
        raise DataError(f"opportunity: unknown sensor {sensor!r}; choose one of {', '.join(SENSORS)}")
    root = raw_root(raw_dir, "opportunity")
    files = [p for p in find_files(root, PATTERNS, "opportunity") if include_drill or "drill" not in p.stem.lower()]
    code_of = np.full(max(LOCOMOTION) + 1, -1, dtype=np.int64)  # locomotion id -> code
    code_of[list(LOCOMOTION)] = np.arange(len(LOCOMOTION))
    out = Collector("opportunity", root, list(LOCOMOTION.values()), RATE_HZ, hop_s, label_policy, method)
    out.meta["sensor"] = sensor
    for path in files:
        out.meta["files"] += 1
        first = SENSORS[sensor]
        try:
            data = np.loadtxt(path, usecols=(first, first + 1, first + 2, LOCOMOTION_COLUMN), ndmin=2)  # (T, 4)
        except ValueError as e:
            raise DataError(f"opportunity: {path}: cannot parse as {N_COLUMNS} space-separated numbers ({e})") from None
        loco = data[:, 3]
        if not np.isin(loco, [0, *LOCOMOTION]).all():
            bad = np.unique(loco[~np.isin(loco, [0, *LOCOMOTION])])[:5]
            raise DataError(f"opportunity: {path}: locomotion column 244 holds {bad.tolist()}; expected 0, 1, 2, 4 or 5")
        labels = code_of[loco.astype(np.int64)]  # null (0) -> -1
        out.add(data[:, :3] / 1000.0, labels, path.stem.split("-")[0], str(path))  # milli-g -> g
    return out.finish()
