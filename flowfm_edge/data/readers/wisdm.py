"""WISDM Smartphone and Smartwatch Activity and Biometrics (UCI, 2019): watch accelerometer -> WindowSet.

Files ``raw/watch/accel/data_16NN_accel_watch.txt`` hold lines ``id,code,ts_ns,x,y,z;``
(subject id, activity code A..S, timestamp in ns, acceleration in m/s^2) sampled at about
20 Hz with irregular timestamps. Each (subject, activity) segment is sorted by time and
linearly interpolated onto a uniform 20 Hz grid; a segment is split wherever two samples
lie more than ``max_gap_s`` apart (counted in ``meta["gaps"]``), so no value is invented
across a gap.
"""

from __future__ import annotations

import numpy as np

from ..contract import DataError, WindowSet
from ._common import STANDARD_GRAVITY, Collector, find_files, raw_root, uniform_runs

RATE_HZ = 20.0
PATTERNS = ("**/data_*_accel_watch.txt",)
ACTIVITIES = {
    "A": "walking", "B": "jogging", "C": "stairs", "D": "sitting", "E": "standing", "F": "typing",
    "G": "brushing teeth", "H": "eating soup", "I": "eating chips", "J": "eating pasta",
    "K": "drinking from cup", "L": "eating sandwich", "M": "kicking (soccer ball)",
    "O": "playing catch (tennis ball)", "P": "dribbling (basketball)", "Q": "writing",
    "R": "clapping", "S": "folding clothes",
}


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly",
         max_gap_s: float = 0.5) -> WindowSet:
    """Read WISDM 2019 watch accel from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g, pid ``"1600"``."""
    root = raw_root(raw_dir, "wisdm")
    codes = list(ACTIVITIES)
    out = Collector("wisdm", root, list(ACTIVITIES.values()), RATE_HZ, hop_s, label_policy, method)
    out.meta.update(gaps=0, max_gap_s=max_gap_s)
    for path in find_files(root, PATTERNS, "wisdm"):
        out.meta["files"] += 1
        subject, code, t_ns, acc = _parse(path)
        for key in dict.fromkeys(zip(subject, code)):  # segments in file order
            rows = (subject == key[0]) & (code == key[1])
            t_s = (t_ns[rows] - t_ns[rows].min()) * 1e-9
            runs, gaps = uniform_runs(t_s, acc[rows], RATE_HZ, max_gap_s)
            out.meta["gaps"] += gaps
            for run in runs:  # (T_k, 3) m/s^2
                label = codes.index(key[1])
                out.add(run / STANDARD_GRAVITY, np.full(len(run), label), str(key[0]), f"{path} activity {key[1]}")
    return out.finish()


def _parse(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """subject (T,) int, code (T,) str, timestamp (T,) int64 ns, acceleration (T, 3) m/s^2 of one file."""
    subject, code, t_ns, acc = [], [], [], []
    with open(path, encoding="ascii", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip().rstrip(";")
            if not line:
                continue
            parts = line.split(",")
            try:
                if len(parts) != 6 or parts[1] not in ACTIVITIES:
                    raise ValueError
                subject.append(int(parts[0]))
                code.append(parts[1])
                t_ns.append(int(parts[2]))
                acc.append((float(parts[3]), float(parts[4]), float(parts[5])))
            except ValueError:
                raise DataError(
                    f"wisdm: {path}:{n}: expected 'id,code,ts_ns,x,y,z;' with code in "
                    f"{''.join(ACTIVITIES)}, got {line[:60]!r}"
                ) from None
    return np.array(subject), np.array(code), np.array(t_ns, dtype=np.int64), np.array(acc, dtype=np.float64).reshape(-1, 3)
