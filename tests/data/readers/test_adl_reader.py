import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import adl, convert

RATE = 32


def write_recording(folder, activity, subject, seconds, wave, stamp="2011-04-11-13-28-18"):
    """``x y z`` codes at 32 Hz: x = 42 (0.5 g), y = 32 + 10 sin (+-10/63 * 3 g), z = 32 (1.5/63 g)."""
    acc = wave(int(seconds * RATE), RATE, 42, 10.0)
    acc[:, 1:] += 32
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"Accelerometer-{stamp}-{activity}-{subject}.txt"
    np.savetxt(path, np.floor(acc + 0.5).astype(int), fmt="%d")
    return path


@pytest.fixture
def raw(tmp_path, wave):
    root = tmp_path / "HMP_Dataset"
    for i, subject in enumerate(("f1", "m2")):
        write_recording(root / "Brush_teeth", "brush_teeth", subject, 25, wave, f"2011-04-11-13-28-1{i}")
        write_recording(root / "Walk", "walk", subject, 25, wave, f"2011-04-11-13-29-1{i}")
    write_recording(root / "Walk", "walk", "m2", 6, wave, "2011-04-11-13-30-00")  # too short for a window
    write_recording(root / "Walk_MODEL", "walk", "f3", 25, wave)
    return tmp_path


def test_windows_labels_pid_units(raw, check_units):
    # 25 s at 32 Hz = 800 samples -> windows at 0, 5, 10, 15 s
    ws = convert("adl", raw)
    assert len(ws) == 4 * 4 and ws.meta["short_recordings"] == 1 and ws.meta["recordings"] == 5
    assert ws.classes[0] == "Brush_teeth" and len(ws.classes) == 14
    names = np.array(ws.classes)[ws.y]
    assert (names == "Brush_teeth").sum() == 8 and (names == "Walk").sum() == 8
    assert (ws.pid == "f1").sum() == 8 and (ws.pid == "m2").sum() == 8
    check_units(ws, adl.to_g(42), 3 * 10 / 63, adl.to_g(32))


def test_conversion_and_model_folders(raw):
    assert adl.to_g(0) == -1.5 and adl.to_g(63) == 1.5
    ws = convert("adl", raw, include_model=True)
    assert len(ws) == 20 and (ws.pid == "f3").sum() == 4


def test_errors(raw, wave, tmp_path):
    path = write_recording(raw / "HMP_Dataset" / "Comb_hair", "comb_hair", "f1", 12, wave)
    path.write_text(path.read_text() + "64 0 0\n")
    with pytest.raises(DataError, match="comb_hair-f1.txt.*0..63"):
        adl.read(raw)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"Accelerometer-\*\.txt"):
        adl.read(empty)
