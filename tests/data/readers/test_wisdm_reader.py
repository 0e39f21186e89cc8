import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import convert, wisdm

G = 9.80665
T0 = 252207666810782  # ns, as in the real files


def segment(subject, code, t_start_s, seconds, rng, drop=None):
    """Lines 'id,code,ts_ns,x,y,z;' at ~20 Hz with +-10 ms jitter: x = 1 g, y = 2 m/s^2 sine at 1 Hz."""
    k = np.arange(int(seconds * 20))
    t = k / 20 + np.r_[0, rng.uniform(-0.01, 0.01, len(k) - 2), 0]  # ends on the grid
    if drop is not None:
        keep = (t < drop[0]) | (t >= drop[1])
        t = t[keep]
    y = 2.0 * np.sin(2 * np.pi * t)
    ts = T0 + np.round((t_start_s + t) * 1e9).astype(np.int64)
    return [f"{subject},{code},{s},{G:.6f},{v:.6f},0.0;" for s, v in zip(ts, y)]


@pytest.fixture
def raw(tmp_path):
    rng = np.random.default_rng(0)
    accel = tmp_path / "wisdm-dataset" / "raw" / "watch" / "accel"
    accel.mkdir(parents=True)
    for subject in (1600, 1601):
        lines = segment(subject, "A", 0, 26, rng)
        lines += segment(subject, "B", 100, 26, rng, drop=(10.5, 12) if subject == 1601 else None)
        lines[5], lines[6] = lines[6], lines[5]  # out of order
        lines.insert(20, lines[20])  # repeated timestamp
        (accel / f"data_{subject}_accel_watch.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_windows_labels_pid_units(raw, check_units):
    # 26 s -> 520 grid samples -> windows at 0, 5, 10, 15 s; the 1.5 s gap splits 1601's jogging
    # into 10.5 s (1 window) and 14 s (1 window)
    ws = convert("wisdm", raw)
    assert len(ws) == 4 + 4 + 4 + 2 and ws.meta["gaps"] == 1
    assert ws.classes[:3] == ["walking", "jogging", "stairs"] and len(ws.classes) == 18
    names = np.array(ws.classes)[ws.y]
    assert (names == "walking").sum() == 8 and (names == "jogging").sum() == 6
    assert (ws.pid == "1600").sum() == 8 and (ws.pid == "1601").sum() == 6
    check_units(ws, 1.0, 2.0 / G)


def test_gap_threshold(raw):
    assert len(convert("wisdm", raw, max_gap_s=3.0)) == 4 * 4  # the 1.5 s gap is bridged


def test_errors(raw, tmp_path):
    path = next(raw.rglob("data_1600_accel_watch.txt"))
    with open(path, "a") as f:
        f.write("1600,N,1,2,3;\n")
    with pytest.raises(DataError, match=r"data_1600_accel_watch.txt:\d+.*code"):
        wisdm.read(raw)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"data_\*_accel_watch\.txt"):
        wisdm.read(empty)
