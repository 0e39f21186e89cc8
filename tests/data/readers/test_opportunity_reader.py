import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import convert, opportunity

RATE = 30


def write_session(path, wave, segments, nan_at=None):
    """250 columns: ms time, RWR (23-25) x = 1000 mg, y = 500 mg sine; LWR (32-34) x = 2000 mg; locomotion col 244."""
    loco = np.concatenate([np.full(int(s * RATE), a) for a, s in segments])
    n = len(loco)
    data = np.zeros((n, 250))
    data[:, 0] = np.arange(n) * 1000 // RATE
    data[:, 22:25] = wave(n, RATE, 1000, 500)
    data[:, 31:34] = wave(n, RATE, 2000, 250)
    data[:, 243] = loco
    data[:, 244:] = 101  # other label tracks
    if nan_at is not None:
        data[nan_at, 23] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, fmt="%.5g")


@pytest.fixture
def raw(tmp_path, wave):
    # stand 25 s, null 5 s, walk 25 s -> 4 + 4 pure windows, 2 mixed
    segs = [(1, 25), (0, 5), (2, 25)]
    root = tmp_path / "OpportunityUCIDataset" / "dataset"
    write_session(root / "S1-ADL1.dat", wave, segs)
    write_session(root / "S2-ADL1.dat", wave, segs, nan_at=100)
    write_session(root / "S1-Drill.dat", wave, [(4, 25)])
    (root / "column_names.txt").write_text("Column: 1 MILLISEC\n")
    return tmp_path


def test_windows_labels_pid_units(raw, check_units):
    ws = convert("opportunity", raw)
    assert len(ws) == 8 + 7 + 4
    assert ws.meta["dropped_nan"] == 1 and ws.meta["dropped_mixed"] == 4 and ws.meta["files"] == 3
    assert ws.classes == ["stand", "walk", "sit", "lie"]
    names = np.array(ws.classes)[ws.y]
    assert (names == "stand").sum() == 7 and (names == "walk").sum() == 8 and (names == "sit").sum() == 4
    assert (ws.pid == "S1").sum() == 12 and (ws.pid == "S2").sum() == 7
    check_units(ws, 1.0, 0.5)


def test_options(raw, check_units):
    assert len(convert("opportunity", raw, include_drill=False)) == 15
    check_units(convert("opportunity", raw, sensor="LWR"), 2.0, 0.25)


def test_errors(raw, wave, tmp_path):
    with pytest.raises(DataError, match="sensor.*RWR"):
        opportunity.read(raw, sensor="wrist")
    write_session(next(raw.rglob("S1-ADL1.dat")), wave, [(3, 25)])
    with pytest.raises(DataError, match="S1-ADL1.dat.*244.*3"):
        opportunity.read(raw)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"S\[0-9\]\*-\*\.dat"):
        opportunity.read(empty)
