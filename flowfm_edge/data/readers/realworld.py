"""RealWorld (HAR) 2016, University of Mannheim: ``proband{N}/data/acc_{activity}_csv.zip`` -> WindowSet.

Each zip holds one CSV per body position, ``acc_{activity}_{position}.csv`` with columns
``id,attr_time,attr_x,attr_y,attr_z`` (time in ms, acceleration in m/s^2) at about 50 Hz.
Recordings split into parts (``acc_{activity}_2_{position}.csv``, zips nested in the zip,
or ``acc_{activity}_2_csv.zip``) are read part by part; zips of other activities are
skipped and counted in ``meta["skipped_files"]``. Samples are interpolated onto a uniform 50 Hz grid and split
wherever two lie more than ``max_gap_s`` apart (counted in ``meta["gaps"]``).
"""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np

from ..contract import DataError, WindowSet
from ._common import STANDARD_GRAVITY, Collector, find_files, raw_root, uniform_runs

RATE_HZ = 50.0
PATTERNS = ("**/proband*/data/acc_*_csv.zip", "data/acc_*_csv.zip")  # the dataset, or one proband
ACTIVITIES = ("climbingdown", "climbingup", "jumping", "lying", "standing", "sitting", "running", "walking")
POSITIONS = ("chest", "forearm", "head", "shin", "thigh", "upperarm", "waist")


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly",
         position: str = "forearm", max_gap_s: float = 0.5) -> WindowSet:
    """Read RealWorld from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g, y codes, pid ``"proband1"``.

    ``position``: the body position whose accelerometer is read (one of ``POSITIONS``).
    """
    if position not in POSITIONS:
        raise DataError(f"realworld: unknown position {position!r}; choose one of {', '.join(POSITIONS)}")
    root = raw_root(raw_dir, "realworld")
    out = Collector("realworld", root, list(ACTIVITIES), RATE_HZ, hop_s, label_policy, method)
    out.meta.update(position=position, gaps=0, max_gap_s=max_gap_s, skipped_files=0)
    for path in find_files(root, PATTERNS, "realworld"):
        named = re.fullmatch(r"acc_([a-z]+)(?:_\d+)?_csv\.zip", path.name)
        activity = named.group(1) if named else None
        if activity not in ACTIVITIES:
            out.meta["skipped_files"] += 1
            continue
        out.meta["files"] += 1
        pid = path.parent.parent.name
        try:
            with zipfile.ZipFile(path) as zf:
                for where, t_ms, acc in _members(zf, activity, position, str(path)):
                    runs, gaps = uniform_runs(t_ms * 1e-3, acc, RATE_HZ, max_gap_s)
                    out.meta["gaps"] += gaps
                    for run in runs:  # (T_k, 3) m/s^2
                        out.add(run / STANDARD_GRAVITY, np.full(len(run), ACTIVITIES.index(activity)), pid, where)
        except zipfile.BadZipFile as e:
            raise DataError(f"realworld: {path}: not a readable zip ({e}); download it again") from None
    return out.finish()


def _members(zf: zipfile.ZipFile, activity: str, position: str, where: str):
    """Yield (where, time (T,) ms, acceleration (T, 3) m/s^2) per matching CSV, descending into nested zips."""
    wanted = re.compile(rf"acc_{activity}(_\d+)?_{position}\.csv")
    for name in sorted(zf.namelist()):
        base = name.rsplit("/", 1)[-1]
        if base.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(zf.read(name))) as inner:
                yield from _members(inner, activity, position, f"{where}/{name}")
        elif wanted.fullmatch(base):
            yield f"{where}/{name}", *_read_csv(zf, name, f"{where}/{name}")


def _read_csv(zf: zipfile.ZipFile, name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Time (T,) ms and acceleration (T, 3) m/s^2 from one ``id,attr_time,attr_x,attr_y,attr_z`` CSV."""
    with zf.open(name) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8")
        header = [h.strip().strip('"') for h in text.readline().split(",")]
        try:
            cols = [header.index(c) for c in ("attr_time", "attr_x", "attr_y", "attr_z")]
        except ValueError:
            raise DataError(f"realworld: {where}: header {header} lacks attr_time, attr_x, attr_y, attr_z") from None
        try:
            data = np.loadtxt(text, delimiter=",", usecols=cols, ndmin=2)  # (T, 4)
        except ValueError as e:
            raise DataError(f"realworld: {where}: cannot parse numbers ({e})") from None
    return data[:, 0], data[:, 1:]
