import zipfile

import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import convert

G = 9.80665
T0 = 1698501144401773000  # ns since the epoch, as in Sensor Logger's own example


def csv_text(t_s, acc, order=("z", "y", "x")):
    """A Sensor Logger CSV: time (ns), seconds_elapsed, then the axes in the app's column order."""
    lines = ["time,seconds_elapsed," + ",".join(order)]
    for t, a in zip(t_s, acc):
        vals = dict(zip("xyz", a))
        lines.append(f"{T0 + int(round(t * 1e9))},{t:.6f}," + ",".join(f"{vals[c]:.6f}" for c in order))
    return "\n".join(lines) + "\n"


def samples(seconds, rate, rng, jitter=0.002):
    """Irregular phone timestamps near ``rate`` Hz; x = +1 g (gravity), y = 2 m/s^2 sine at 1 Hz, z = 0."""
    t = np.arange(int(seconds * rate)) / rate
    t = t + np.r_[0, rng.uniform(-jitter, jitter, len(t) - 2), 0]
    acc = np.stack([np.full(len(t), G), 2.0 * np.sin(2 * np.pi * t), np.zeros(len(t))], axis=1)
    return t, acc


@pytest.fixture
def raw(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "phones"
    # Android: TotalAcceleration.csv (with gravity), 100 Hz, 26 s -> windows at 0, 5, 10, 15 s
    android = root / "2024-05-01_09-00-00"
    android.mkdir(parents=True)
    t, acc = samples(26, 100, rng)
    (android / "TotalAcceleration.csv").write_text(csv_text(t, acc))
    (android / "Accelerometer.csv").write_text(csv_text(t, acc - [G, 0, 0]))  # ignored: Total is there
    (android / "metadata.csv").write_text("version,device name,recording time,platform\n3,Pixel,2024-05-01,android\n")
    # iOS, zipped: Accelerometer.csv without gravity + Gravity.csv at another rate, inertial-force signs
    t, acc = samples(21, 60, rng)
    tg = np.arange(0, 21, 1 / 50)
    with zipfile.ZipFile(root / "iphone-walk.zip", "w") as z:
        z.writestr("Accelerometer.csv", csv_text(t, -(acc - [G, 0, 0]), order=("x", "y", "z")))
        z.writestr("Gravity.csv", csv_text(tg, np.tile([-G, 0, 0], (len(tg), 1))))
        z.writestr("metadata.csv", "version,device name,recording time,platform\n3,iPhone,2024-05-02,ios\n")
    return root


def test_android_and_ios_exports_become_windows_in_g_with_gravity_up(raw, check_units):
    ws = convert("sensor-logger", raw)
    assert ws.y is None and ws.classes is None and ws.X.dtype == np.float32
    assert (ws.pid == "2024-05-01_09-00-00").sum() == 4 and (ws.pid == "iphone-walk").sum() == 3
    check_units(ws, 1.0, 2.0 / G)  # iOS negated to Android's convention: +1 g on x for both phones
    assert ws.meta["made_from"] == {"2024-05-01_09-00-00": "TotalAcceleration, android frame",
                                    "iphone-walk": "Accelerometer + Gravity, ios frame"}  # keyed by participant


def test_frame_can_be_forced_for_standardised_exports(raw):
    ws = convert("sensor-logger", raw, frame="android")
    ios = ws.X[ws.pid == "iphone-walk"]
    np.testing.assert_allclose(ios[:, 0], -1.0, atol=2e-3)  # taken as Android's: not negated
    with pytest.raises(DataError, match="frame must be one of auto, android, ios, got 'up'"):
        convert("sensor-logger", raw, frame="up")


def test_a_gap_splits_the_recording(tmp_path):
    rng = np.random.default_rng(1)
    rec = tmp_path / "r" / "rec"
    rec.mkdir(parents=True)
    t, acc = samples(25, 100, rng)
    keep = (t < 11) | (t >= 13)  # 2 s without samples
    (rec / "TotalAcceleration.csv").write_text(csv_text(t[keep], acc[keep]))
    ws = convert("sensor-logger", tmp_path / "r")
    assert ws.meta["gaps"] == 1 and len(ws) == 1 + 1  # 11 s and 12 s runs: one window each


def test_bad_exports_are_named(tmp_path):
    rec = tmp_path / "r" / "rec"
    rec.mkdir(parents=True)
    (rec / "Accelerometer.csv").write_text("time,seconds_elapsed,z,y,x\n1,0,0,0,0\n")
    with pytest.raises(DataError, match=r"needs TotalAcceleration.csv, or Accelerometer.csv and Gravity.csv .*found "
                                        r"Accelerometer.csv"):
        convert("sensor-logger", tmp_path / "r")
    (rec / "TotalAcceleration.csv").write_text("time,seconds_elapsed,a,b\n1,0,0,0\n")
    with pytest.raises(DataError, match=r"TotalAcceleration.csv: header .* lacks column\(s\) \['x', 'y', 'z'\]"):
        convert("sensor-logger", tmp_path / "r")
    (rec / "TotalAcceleration.csv").write_text("time,seconds_elapsed,z,y,x\n1,0,0,zero,0\n")
    with pytest.raises(DataError, match=r"TotalAcceleration.csv:2: expected numbers in time, x, y, z"):
        convert("sensor-logger", tmp_path / "r")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no files matching"):
        convert("sensor-logger", empty)
