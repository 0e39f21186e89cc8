"""Phone logger exports (Sensor Logger, iOS and Android): timestamped x, y, z in m/s^2 -> unlabelled WindowSet.

One recording is a folder, or a ``.zip`` export, holding CSV files whose header names the
columns ``time`` (UNIX epoch, ns), ``seconds_elapsed``, ``x``, ``y``, ``z`` in any order, in
m/s^2 with g = 9.80665. Acceleration with gravity comes from ``TotalAcceleration.csv`` where
the export has it (Android), else from ``Accelerometer.csv`` (gravity removed) plus
``Gravity.csv``, interpolated onto the accelerometer's timestamps (iOS logs only these two).
``metadata.csv`` (``platform``) says which sign convention the axes follow: iOS reports the
inertial force, the negative of Android's, so with ``frame="auto"`` iOS recordings are negated
to Android's convention (at rest a phone reads +1 g along the axis pointing up, as HAPT's
phones do). An export made with "Standardise Units & Frames" already follows Android's: pass
``frame="android"``.

Samples are sorted, repeated timestamps dropped, and put on a uniform ``rate_hz`` grid by
linear interpolation, split wherever two samples lie more than ``max_gap_s`` apart (counted in
``meta["gaps"]``); the windows are then resampled to 30 Hz with an anti-alias filter. The
participant id of a recording is its folder or zip name. Labels: none (``y`` is None), for
pretraining.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from ..contract import DataError, WindowSet
from ._common import STANDARD_GRAVITY, Collector, natural_key, raw_root, uniform_runs

RATE_HZ = 100.0  # the grid irregular phone samples are put on before resampling to 30 Hz
PATTERNS = ("**/TotalAcceleration.csv", "**/Accelerometer.csv", "**/*.zip")
FRAMES = ("auto", "android", "ios")


class _Recording:
    """The CSV files of one recording, from a folder or a zip export, by file name."""

    def __init__(self, path: Path):
        self.path = path
        if path.suffix == ".zip":
            self.zip = zipfile.ZipFile(path)
            self.names = {Path(n).name: n for n in self.zip.namelist() if n.endswith(".csv")}
        else:
            self.zip = None
            self.names = {p.name: p for p in path.glob("*.csv")}

    def text(self, name: str) -> str | None:
        where = self.names.get(name)
        if where is None:
            return None
        raw = self.zip.read(where) if self.zip else Path(where).read_bytes()
        return raw.decode("utf-8-sig", errors="replace")

    def where(self, name: str) -> str:
        return f"{self.path}:{name}" if self.zip else str(self.path / name)


def _xyz(rec: _Recording, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(t_ns (T,) int64 ns since the epoch, acc (T, 3) m/s^2) of one CSV, or None when the recording lacks it."""
    text = rec.text(name)
    if text is None:
        return None
    rows = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(rows, [])]
    missing = [c for c in ("time", "x", "y", "z") if c not in header]
    if missing:
        raise DataError(f"sensor-logger: {rec.where(name)}: header {header} lacks column(s) {missing}; "
                        "expected time (ns since the epoch), x, y, z (m/s^2)")
    cols = [header.index(c) for c in ("time", "x", "y", "z")]
    t, acc = [], []
    for n, row in enumerate(rows, 2):
        if not row:
            continue
        try:
            t.append(int(float(row[cols[0]])))
            acc.append([float(row[c]) for c in cols[1:]])
        except (ValueError, IndexError):
            raise DataError(f"sensor-logger: {rec.where(name)}:{n}: expected numbers in time, x, y, z, "
                            f"got {row!r}") from None
    return np.array(t, dtype=np.int64), np.array(acc, dtype=np.float64).reshape(-1, 3)


def _platform(rec: _Recording) -> str | None:
    text = rec.text("metadata.csv")
    if text is None:
        return None
    rows = list(csv.DictReader(io.StringIO(text)))
    return (rows[0].get("platform") or "").strip().lower() or None if rows else None


def total_acceleration(rec: _Recording, frame: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(t_ns (T,) ns since the epoch, acc (T, 3) in m/s^2 with gravity in Android's convention, what it was made of)."""
    total = _xyz(rec, "TotalAcceleration.csv")
    if total is not None:
        (t_ns, acc), made = total, "TotalAcceleration"
    else:
        user, gravity = _xyz(rec, "Accelerometer.csv"), _xyz(rec, "Gravity.csv")
        if user is None or gravity is None:
            have = ", ".join(sorted(rec.names)) or "no CSV files"
            raise DataError(f"sensor-logger: {rec.path}: needs TotalAcceleration.csv, or Accelerometer.csv and "
                            f"Gravity.csv (acceleration with gravity); found {have}")
        (t_ns, acc), (tg_ns, g) = user, gravity
        if len(tg_ns) < 2:
            raise DataError(f"sensor-logger: {rec.where('Gravity.csv')}: fewer than 2 samples")
        t0 = min(t_ns.min(), tg_ns.min()) if len(t_ns) else 0  # one origin for both files (float64 resolution)
        order = np.argsort(tg_ns, kind="stable")
        tg, g = (tg_ns[order] - t0) * 1e-9, g[order]
        acc = acc + np.stack([np.interp((t_ns - t0) * 1e-9, tg, g[:, k]) for k in range(3)], axis=1)
        made = "Accelerometer + Gravity"
    platform = _platform(rec)
    if frame == "auto":
        frame = "ios" if platform == "ios" else "android"
    return t_ns, (-acc if frame == "ios" else acc), f"{made}, {frame} frame"


def recording_runs(path, frame: str = "auto", max_gap_s: float = 0.5
                   ) -> tuple[list[tuple[int, np.ndarray]], str, int]:
    """One recording (folder or .zip) -> ([(start ns since the epoch, acc (T, 3) in g at RATE_HZ), ...], made of, gaps).

    The runs are the recording's stretches without gaps over ``max_gap_s``, on a uniform grid.
    """
    if frame not in FRAMES:
        raise DataError(f"sensor-logger: frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    t_ns, acc, made = total_acceleration(_Recording(Path(path)), frame)
    if len(t_ns) < 2:
        return [], made, 0
    origin = int(t_ns.min())
    starts: list[float] = []
    runs, gaps = uniform_runs((t_ns - origin) * 1e-9, acc, RATE_HZ, max_gap_s, starts=starts)
    return [(origin + int(round(s * 1e9)), run / STANDARD_GRAVITY) for s, run in zip(starts, runs)], made, gaps


def is_recording(path) -> bool:
    """Whether ``path`` is a Sensor Logger recording: a .zip export or a folder with its acceleration CSVs."""
    path = Path(path)
    if path.suffix == ".zip":
        return True
    return path.is_dir() and any((path / n).is_file() for n in ("TotalAcceleration.csv", "Accelerometer.csv"))


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly", frame: str = "auto",
         max_gap_s: float = 0.5) -> WindowSet:
    """Read every Sensor Logger recording under ``raw_dir`` -> unlabelled WindowSet X (N, 3, 300) float32 in g."""
    if frame not in FRAMES:
        raise DataError(f"sensor-logger: frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    root = raw_root(raw_dir, "sensor-logger")
    recordings = sorted({p.parent for p in root.glob("**/TotalAcceleration.csv")}
                        | {p.parent for p in root.glob("**/Accelerometer.csv")}
                        | set(root.glob("**/*.zip")), key=natural_key)
    if not recordings:
        raise DataError(f"sensor-logger: no files matching {' or '.join(repr(p) for p in PATTERNS)} under {root}; "
                        "point raw_dir at folders of Sensor Logger exports (unzipped, or the .zip files)")
    out = Collector("sensor-logger", root, [], RATE_HZ, hop_s, label_policy, method, unlabelled=True)
    out.meta.update(gaps=0, max_gap_s=max_gap_s, made_from={})
    for path in recordings:
        out.meta["files"] += 1
        runs, made, gaps = recording_runs(path, frame, max_gap_s)
        out.meta["made_from"][path.name] = made
        out.meta["gaps"] += gaps
        pid = path.stem if path.suffix == ".zip" else path.name
        for _, run in runs:  # (T_k, 3) in g
            out.add(run, np.full(len(run), -1), pid, f"{path}")
    return out.finish()
