import io
import zipfile

import numpy as np
import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import convert, realworld

G = 9.80665
T0 = 1435993113000  # ms


def csv_text(wave, const, seconds=25):
    """``id,attr_time,attr_x,attr_y,attr_z`` at 50 Hz (20 ms): x = const, y = 1.5 m/s^2 sine."""
    n = int(seconds * 50)
    acc = wave(n, 50, const, 1.5)
    rows = [f"{i + 1},{T0 + 20 * i},{x:.6f},{y:.6f},{z:.6f}" for i, (x, y, z) in enumerate(acc)]
    return "id,attr_time,attr_x,attr_y,attr_z\n" + "\n".join(rows) + "\n"


def write_zip(path, members):
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.fixture
def raw(tmp_path, wave):
    for p in (1, 2):
        data = tmp_path / f"proband{p}" / "data"
        for act in ("walking", "sitting"):
            write_zip(data / f"acc_{act}_csv.zip", {f"acc_{act}_forearm.csv": csv_text(wave, G),
                                                    f"acc_{act}_chest.csv": csv_text(wave, 2 * G)})
    # a recording in parts: one nested zip, one numbered CSV
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("acc_climbingdown_2_forearm.csv", csv_text(wave, G))
    write_zip(tmp_path / "proband2" / "data" / "acc_climbingdown_csv.zip",
              {"acc_climbingdown_2_csv.zip": inner.getvalue(), "acc_climbingdown_3_forearm.csv": csv_text(wave, G),
               "acc_climbingdown_3_chest.csv": csv_text(wave, 2 * G, seconds=5)})
    write_zip(tmp_path / "proband2" / "data" / "acc_climbingdown_4_csv.zip",
              {"acc_climbingdown_4_forearm.csv": csv_text(wave, G, seconds=12)})
    write_zip(tmp_path / "proband2" / "data" / "acc_dancing_csv.zip", {"acc_dancing_forearm.csv": csv_text(wave, G)})
    return tmp_path


def test_windows_labels_pid_units(raw, check_units):
    # 25 s at 50 Hz -> windows at 0, 5, 10, 15 s
    ws = convert("realworld", raw)
    # 12 s part -> 1 window; the unknown activity's zip is skipped
    assert len(ws) == 4 * 4 + 2 * 4 + 1 and ws.meta["recordings"] == 7 and ws.meta["position"] == "forearm"
    assert ws.meta["skipped_files"] == 1
    assert ws.classes == ["climbingdown", "climbingup", "jumping", "lying", "standing", "sitting", "running", "walking"]
    names = np.array(ws.classes)[ws.y]
    assert (names == "climbingdown").sum() == 9 and (names == "walking").sum() == 8
    assert (ws.pid == "proband1").sum() == 8 and (ws.pid == "proband2").sum() == 17
    check_units(ws, 1.0, 1.5 / G)


def test_position(raw, check_units):
    ws = convert("realworld", raw, position="chest")
    assert len(ws) == 16 and ws.meta["short_recordings"] == 1  # the 5 s chest part
    check_units(ws, 2.0, 1.5 / G)


def test_errors(raw, tmp_path):
    with pytest.raises(DataError, match="position.*forearm"):
        realworld.read(raw, position="wrist")
    write_zip(raw / "proband3" / "data" / "acc_jumping_csv.zip", {"acc_jumping_forearm.csv": "id,time,x,y,z\n1,2,3,4,5\n"})
    with pytest.raises(DataError, match="acc_jumping_forearm.csv.*attr_time"):
        realworld.read(raw)
    (raw / "proband3" / "data" / "acc_jumping_csv.zip").write_bytes(b"truncated download")
    with pytest.raises(DataError, match="acc_jumping_csv.zip.*zip"):
        realworld.read(raw)
    assert set(realworld.read(raw / "proband1").pid) == {"proband1"}
    with pytest.raises(DataError, match=r"proband\*/data/acc_\*_csv\.zip"):
        realworld.read(raw / "proband1" / "data")
