import gzip

import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import capture24, convert

RATE = 100
SLEEP = "7030 sleeping;MET 0.95"
COOK = "home activity;household chores;preparing meals, cooking;MET 3.3"  # holds a comma: quoted


def write_participant(path, wave, nan_at=None, annotation=COOK):
    """25 s sleeping, 25 s cooking, 12 s unannotated; x = 1 g, y = 0.25 g sine."""
    acc = wave(6200, RATE, 1.0, 0.25)
    if nan_at is not None:
        acc[nan_at, 0] = np.nan
    notes = [SLEEP] * 2500 + [annotation] * 2500 + [""] * 1200
    with gzip.open(path, "wt", newline="") as f:
        f.write("time,x,y,z,annotation\n")
        for i, ((x, y, z), a) in enumerate(zip(acc, notes)):
            a = f'"{a}"' if "," in a else a
            f.write(f"2016-11-13 02:18:{i // RATE % 60:02d}.{i % RATE:02d}0000,{x:.6f},{y:.6f},{z:.6f},{a}\n")


@pytest.fixture
def raw(tmp_path, wave):
    (tmp_path / "annotation-label-dictionary.csv").write_text(
        "annotation,label:Willetts2018,label:Walmsley2020\n"
        f"{SLEEP},sleep,sleep\n"
        f'"{COOK}",household-chores,light\n'
        "occupation;office and administrative support;computer use;MET 1.5,sitting,sedentary\n"
        "uncodeable;MET 1.0,,\n"
    )
    write_participant(tmp_path / "P001.csv.gz", wave)
    write_participant(tmp_path / "P002.csv.gz", wave, nan_at=100)
    return tmp_path


def test_windows_labels_pid_units(raw, check_units):
    # per participant: 4 sleep + 4 cooking pure windows, 2 mixed, 1 unannotated
    ws = convert("capture24", raw)
    assert len(ws) == 8 + 7
    assert ws.meta["dropped_mixed"] == 4 and ws.meta["dropped_unlabelled"] == 2 and ws.meta["dropped_nan"] == 1
    assert ws.classes == ["light", "sedentary", "sleep"] and ws.meta["scheme"] == "label:Walmsley2020"
    names = np.array(ws.classes)[ws.y]
    assert (names == "sleep").sum() == 3 + 4 and (names == "light").sum() == 8
    assert list(np.unique(ws.pid)) == ["P001", "P002"]
    check_units(ws, 1.0, 0.25)


def test_scheme_choice(raw):
    ws = convert("capture24", raw, scheme="Willetts2018")
    assert ws.classes == ["household-chores", "sitting", "sleep"]
    assert (np.array(ws.classes)[ws.y] == "household-chores").sum() == 8


def test_errors(raw, wave, tmp_path):
    with pytest.raises(DataError, match="Walmsley2020, label:Willetts2018|Willetts2018, label:Walmsley2020"):
        capture24.read(raw, scheme="label:Doherty2018")
    write_participant(raw / "P003.csv.gz", wave, annotation="unknown thing;MET 9")
    with pytest.raises(DataError, match="P003.*unknown thing"):
        capture24.read(raw)
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(DataError, match=r"P\[0-9\]\*\.csv\.gz"):
        capture24.read(empty)
    (empty / "P009.csv.gz").write_bytes(gzip.compress(b"time,x,y,z,annotation\n"))
    with pytest.raises(DataError, match="annotation-label-dictionary.csv"):
        capture24.read(empty)
