import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import convert, pamap2

G = 9.80665
RATE = 100


def write_subject(path, wave, segments, nan_at=None):
    """One 54-column subject file: (activityID, seconds) segments, hand acc16 = 1 g on x, 2 m/s^2 sine on y."""
    ids = np.concatenate([np.full(int(s * RATE), a) for a, s in segments])
    n = len(ids)
    data = np.zeros((n, 54))
    data[:, 0] = np.arange(n) / RATE + 5.0
    data[:, 1] = ids
    data[:, 2] = np.nan  # heart rate, sampled at a lower rate
    data[:, 4:7] = wave(n, RATE, G, 2.0)  # hand, +-16 g
    data[:, 21:24] = wave(n, RATE, 3 * G, 0.5)  # chest
    if nan_at is not None:
        data[nan_at, 5] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, fmt="%.6g")


@pytest.fixture
def raw(tmp_path, wave):
    # lying 25 s, transient 5 s, walking 25 s -> 10 windows each: 4 + 4 pure, 2 mixed
    segs = [(1, 25), (0, 5), (4, 25)]
    write_subject(tmp_path / "Protocol" / "subject101.dat", wave, segs)
    write_subject(tmp_path / "Protocol" / "subject102.dat", wave, segs, nan_at=100)
    write_subject(tmp_path / "Optional" / "subject101.dat", wave, [(9, 25)])
    return tmp_path


def test_windows_labels_pid_units(raw, check_units):
    ws = convert("pamap2", raw)
    assert len(ws) == 8 + 7  # the NaN at 1 s spoils subject 102's first window
    assert ws.meta["dropped_nan"] == 1 and ws.meta["dropped_mixed"] == 4 and ws.meta["files"] == 2
    assert ws.classes == ["lying", "sitting", "standing", "walking", "running", "cycling", "Nordic walking",
                          "ascending stairs", "descending stairs", "vacuum cleaning", "ironing", "rope jumping"]
    names = np.array(ws.classes)[ws.y]
    assert (names == "lying").sum() == 4 + 3 and (names == "walking").sum() == 4 + 4
    assert sorted(set(ws.pid)) == ["subject101", "subject102"] and (ws.pid == "subject101").sum() == 8
    check_units(ws, 1.0, 2.0 / G)


def test_position_and_optional(raw, check_units):
    check_units(convert("pamap2", raw, position="chest"), 3.0, 0.5 / G)
    ws = convert("pamap2", raw, include_optional=True)
    assert len(ws.classes) == 18 and (np.array(ws.classes)[ws.y] == "watching TV").sum() == 4


def test_files_directly_in_dir_and_hop(tmp_path, wave):
    write_subject(tmp_path / "subject105.dat", wave, [(3, 25)])
    ws = convert("pamap2", tmp_path, hop_s=2.5)
    assert len(ws) == 7 and set(ws.pid) == {"subject105"}  # starts 0, 2.5, ... 15 s


def test_errors(tmp_path, wave):
    with pytest.raises(DataError, match="subject"):
        pamap2.read(tmp_path)
    with pytest.raises(DataError, match="position"):
        pamap2.read(tmp_path, position="wrist")
    (tmp_path / "subject101.dat").write_text("1 2 three\n")
    with pytest.raises(DataError, match="subject101.dat"):
        pamap2.read(tmp_path)
    write_subject(tmp_path / "subject101.dat", wave, [(0, 25)])
    with pytest.raises(DataError, match="no windows.*unlabelled"):
        pamap2.read(tmp_path)


def test_majority_policy(raw):
    # 2.5 s hop: windows at 17.5 s (lying 7.5 s) and 27.5 s (walking 7.5 s) join by majority;
    # 20, 22.5 and 25 s have no majority activity (ties with the transient) and stay out
    pure = convert("pamap2", raw, hop_s=2.5)
    major = convert("pamap2", raw, hop_s=2.5, label_policy="majority")
    assert len(pure) == 14 + 13 and pure.meta["dropped_mixed"] == 10
    assert len(major) == 16 + 15 and major.meta["dropped_unlabelled"] == 6 and major.meta["dropped_mixed"] == 0
