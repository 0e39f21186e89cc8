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
participant id of a recording is its path under ``raw_dir`` without ``.zip`` (``siteA/P01``), so
same-named recordings in two folders stay two participants; a folder and a zip that reduce to one
id are refused, naming both. Labels: none (``y`` is None), for pretraining.

Hostile input is refused with one line naming the file (and line): zips that are damaged,
encrypted or would unpack past the limits of :mod:`.limits` (zip bombs), two CSVs of one name in
a zip, lines over 4 KiB, malformed numbers, clock times outside 2000-2100, samples too sparse for
the grid. Values that are NaN, infinite or beyond 1000 g become missing: the windows holding them
are dropped and counted (``meta["dropped_nan"]``).
"""

from __future__ import annotations

import csv
import math
from array import array
from pathlib import Path, PurePosixPath

import numpy as np

from ..contract import DataError, WindowSet
from ..identity import recording_id, refuse_duplicates
from ._common import STANDARD_GRAVITY, Collector, natural_key, raw_root, uniform_runs
from .limits import MAX_ABS_G, MAX_CSV_BYTES, check_time, csv_lines, open_file, open_member, open_zip

RATE_HZ = 100.0  # the grid irregular phone samples are put on before resampling to 30 Hz
PATTERNS = ("**/TotalAcceleration.csv", "**/Accelerometer.csv", "**/*.zip")
FRAMES = ("auto", "android", "ios")
MIN_RATE_HZ = 5.0  # sparser samples would make a grid of mostly invented values


def is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


class _Recording:
    """The CSV files of one recording, from a folder or a zip export, by file name."""

    def __init__(self, path: Path, max_bytes: int = MAX_CSV_BYTES):
        self.path, self.max_bytes = path, max_bytes
        self.zip = open_zip(path) if is_zip(path) else None
        if self.zip is None:
            self.names = {p.name: p for p in path.glob("*.csv") if p.is_file()}
            return
        self.names = {}
        for member in self.zip.namelist():
            name = PurePosixPath(member).name
            if not member.lower().endswith(".csv") or member.endswith("/"):
                continue
            if name in self.names:
                raise DataError(f"sensor-logger: {path}: holds {self.names[name]} and {member}; two {name} in one "
                                "export leave the recording unclear")
            self.names[name] = member

    def open(self, name: str):
        """A binary stream of the CSV ``name``, or None when the recording lacks it."""
        where = self.names.get(name)
        if where is None:
            return None
        if self.zip is not None:
            return open_member(self.zip, where, self.where(name), self.max_bytes)
        return open_file(Path(where), self.max_bytes)

    def where(self, name: str) -> str:
        return f"{self.path}:{name}" if self.zip else str(self.path / name)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _time_ns(text: str) -> int:
    """A time field as int ns; ValueError or OverflowError when it is not a finite number."""
    if text.isdigit():
        return int(text)
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(text)
    return int(v)


def _rows(rec: _Recording, name: str):
    """(csv reader over the CSV ``name``, its stream), or None when the recording lacks it."""
    stream = rec.open(name)
    if stream is None:
        return None
    return csv.reader(text for _, text in csv_lines(stream, rec.where(name))), stream


def _xyz(rec: _Recording, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(t_ns (T,) int64 ns since the epoch, acc (T, 3) m/s^2) of one CSV, or None when the recording lacks it."""
    opened = _rows(rec, name)
    if opened is None:
        return None
    rows, stream = opened
    where = f"sensor-logger: {rec.where(name)}"
    t, acc = array("q"), array("d")
    with stream:
        try:
            header = [h.strip() for h in next(rows, [])]
            missing = [c for c in ("time", "x", "y", "z") if c not in header]
            twice = [c for c in ("time", "x", "y", "z") if header.count(c) > 1]
            if missing or twice:
                problem = f"lacks column(s) {missing}" if missing else f"names column(s) {twice} twice"
                raise DataError(f"{where}: header {header[:12]} {problem}; expected time (ns since the epoch), "
                                "x, y, z (m/s^2)")
            ti, xi, yi, zi = (header.index(c) for c in ("time", "x", "y", "z"))
            for row in rows:
                if not row:
                    continue
                try:
                    t_ns = _time_ns(row[ti].strip())
                    values = (float(row[xi]), float(row[yi]), float(row[zi]))
                except (ValueError, IndexError, OverflowError):
                    raise DataError(f"{where}:{rows.line_num}: expected numbers in time, x, y, z, "
                                    f"got {row[:8]!r}") from None
                t.append(check_time(t_ns, f"{where}:{rows.line_num}"))
                acc.extend(values)
        except csv.Error as exc:
            raise DataError(f"{where}:{rows.line_num}: not CSV ({exc})") from None
    a = np.frombuffer(acc, dtype=np.float64).reshape(-1, 3).copy()
    a[np.abs(a) > MAX_ABS_G * STANDARD_GRAVITY] = np.nan  # not a measurement: its windows are dropped and counted
    return np.frombuffer(t, dtype=np.int64).copy(), a


def _platform(rec: _Recording) -> str | None:
    opened = _rows(rec, "metadata.csv")
    if opened is None:
        return None
    rows, stream = opened
    with stream:
        try:
            header = [h.strip() for h in next(rows, [])]
            first = next(rows, [])
        except csv.Error as exc:
            raise DataError(f"sensor-logger: {rec.where('metadata.csv')}: not CSV ({exc})") from None
    value = dict(zip(header, first)).get("platform", "")
    return value.strip().lower() or None

def total_acceleration(rec: _Recording, frame: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(t_ns (T,) ns since the epoch, acc (T, 3) in m/s^2 with gravity in Android's convention, what it was made of)."""
    if "TotalAcceleration.csv" in rec.names:
        (t_ns, acc), made = _xyz(rec, "TotalAcceleration.csv"), "TotalAcceleration"
    else:
        if not {"Accelerometer.csv", "Gravity.csv"} <= set(rec.names):
            have = ", ".join(sorted(rec.names)) or "no CSV files"
            raise DataError(f"sensor-logger: {rec.path}: needs TotalAcceleration.csv, or Accelerometer.csv and "
                            f"Gravity.csv (acceleration with gravity); found {have}")
        (t_ns, acc), (tg_ns, g) = _xyz(rec, "Accelerometer.csv"), _xyz(rec, "Gravity.csv")
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


def _check_density(t_ns: np.ndarray, max_gap_s: float, where: str) -> None:
    """Refuse samples so sparse that the RATE_HZ grid between them would be mostly invented (and huge)."""
    dt = np.diff(np.sort(t_ns)) * 1e-9
    covered = float(dt[dt <= max_gap_s].sum())  # seconds the grid spans
    if covered * MIN_RATE_HZ > 2 * len(t_ns) + 60 * MIN_RATE_HZ:
        raise DataError(f"sensor-logger: {where}: {len(t_ns)} samples over {covered:.0f} s of recording, fewer than "
                        f"{MIN_RATE_HZ:g} per second; record at a higher rate (or check the time column)")


def recording_runs(path, frame: str = "auto", max_gap_s: float = 0.5, max_csv_mb: float = MAX_CSV_BYTES / 2**20
                   ) -> tuple[list[tuple[int, np.ndarray]], str, int]:
    """One recording (folder or .zip) -> ([(start ns since the epoch, acc (T, 3) in g at RATE_HZ), ...], made of, gaps).

    The runs are the recording's stretches without gaps over ``max_gap_s``, on a uniform grid.
    ``max_csv_mb`` bounds each CSV's unpacked size (see :mod:`.limits`).
    """
    if frame not in FRAMES:
        raise DataError(f"sensor-logger: frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    if not 0 < max_gap_s <= 60:
        raise DataError(f"sensor-logger: max_gap_s must lie in (0, 60] seconds, got {max_gap_s!r}")
    rec = _Recording(Path(path), int(max_csv_mb * 2**20))
    try:
        t_ns, acc, made = total_acceleration(rec, frame)
    finally:
        rec.close()
    if len(t_ns) < 2:
        return [], made, 0
    _check_density(t_ns, max_gap_s, str(path))
    origin = int(t_ns.min())
    starts: list[float] = []
    runs, gaps = uniform_runs((t_ns - origin) * 1e-9, acc, RATE_HZ, max_gap_s, starts=starts)
    return [(origin + int(round(s * 1e9)), run / STANDARD_GRAVITY) for s, run in zip(starts, runs)], made, gaps


def is_recording(path) -> bool:
    """Whether ``path`` is a Sensor Logger recording: a .zip export (any case) or a folder with its acceleration CSVs."""
    path = Path(path)
    if is_zip(path):
        return path.is_file()
    return path.is_dir() and any((path / n).is_file() for n in ("TotalAcceleration.csv", "Accelerometer.csv"))


def find_recordings(root: Path) -> dict[Path, str]:
    """Every recording under ``root`` (folders with the acceleration CSVs, zips of any case) -> its participant id."""
    found = {p.parent for p in root.glob("**/TotalAcceleration.csv")} | {p.parent for p in root.glob("**/Accelerometer.csv")}
    found |= {p for p in root.rglob("*") if is_zip(p) and p.is_file()}
    ids = {p: (recording_id(p, root, (".zip",)) if p != root else root.name) for p in sorted(found, key=natural_key)}
    refuse_duplicates(ids, "sensor-logger")
    return ids


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly", frame: str = "auto",
         max_gap_s: float = 0.5, max_csv_mb: float = MAX_CSV_BYTES / 2**20) -> WindowSet:
    """Read every Sensor Logger recording under ``raw_dir`` -> unlabelled WindowSet X (N, 3, 300) float32 in g."""
    if frame not in FRAMES:
        raise DataError(f"sensor-logger: frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    root = raw_root(raw_dir, "sensor-logger")
    recordings = find_recordings(root)
    if not recordings:
        raise DataError(f"sensor-logger: no files matching {' or '.join(repr(p) for p in PATTERNS)} under {root}; "
                        "point raw_dir at folders of Sensor Logger exports (unzipped, or the .zip files)")
    out = Collector("sensor-logger", root, [], RATE_HZ, hop_s, label_policy, method, unlabelled=True)
    out.meta.update(gaps=0, max_gap_s=max_gap_s, made_from={})
    for path, pid in recordings.items():
        out.meta["files"] += 1
        runs, made, gaps = recording_runs(path, frame, max_gap_s, max_csv_mb)
        out.meta["made_from"][pid] = made
        out.meta["gaps"] += gaps
        for _, run in runs:  # (T_k, 3) in g
            out.add(run, np.full(len(run), -1), pid, f"{path}")
    return out.finish()
