"""Device files under careless and hostile input: same names in two folders, twins, damaged files, gzip bombs."""

import gzip
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("actipy", reason="needs the [devices] extra (actipy): pip install 'flowfm-edge[devices]'")
if shutil.which("java") is None:
    pytest.skip("needs a Java runtime for actipy (apt-get install default-jre-headless)", allow_module_level=True)

from benchmarks.kit import device_files  # noqa: E402
from flowfm_edge.data.contract import DataError  # noqa: E402
from flowfm_edge.data.readers import convert, devices  # noqa: E402

START = datetime(2024, 5, 1, 9, 0, 0)
ROOT = Path(__file__).resolve().parents[3]


def worn(minutes, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(minutes * 60 * 100)) / 100
    return np.stack([np.ones_like(t), 0.5 * np.sin(2 * np.pi * t), np.zeros_like(t)], 1) + 0.01 * rng.standard_normal(
        (len(t), 3))


def test_same_named_files_in_two_folders_are_two_participants(tmp_path):
    (tmp_path / "siteA").mkdir()
    (tmp_path / "siteB").mkdir()
    device_files.write_cwa(tmp_path / "siteA" / "P01.cwa", worn(2), START)
    device_files.write_cwa(tmp_path / "siteB" / "P01.cwa", worn(3, seed=1), START)
    ws = convert("devices", tmp_path, calibrate=False)
    assert (ws.pid == "siteA/P01").sum() == (120 - 10) // 5 + 1 and (ws.pid == "siteB/P01").sum() == (180 - 10) // 5 + 1
    assert set(ws.meta["nonwear_fraction"]) == set(ws.meta["read_errors"]) == {"siteA/P01", "siteB/P01"}


def test_a_file_beside_its_compressed_twin_is_refused_naming_both(tmp_path):
    device_files.write_cwa(tmp_path / "P01.cwa", worn(1), START)
    with open(tmp_path / "P01.cwa", "rb") as f, gzip.open(tmp_path / "P01.cwa.gz", "wb") as g:
        g.write(f.read())
    with pytest.raises(DataError, match=r"P01.cwa and .*P01.cwa.gz are both participant 'P01'"):
        convert("devices", tmp_path, calibrate=False)


def damaged(tmp_path, kind):
    if kind == "random cwa":
        path = tmp_path / "x.cwa"
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "header only cwa":
        path = tmp_path / "x.cwa"
        path.write_bytes(b"MD")
    elif kind == "empty bin":
        path = tmp_path / "x.bin"
        path.write_bytes(b"")
    elif kind == "binary bin":
        path = tmp_path / "x.bin"
        path.write_bytes(b"\xff\xfe" * 400)
    elif kind == "not a zip gt3x":
        path = tmp_path / "x.gt3x"
        path.write_bytes(np.random.default_rng(1).bytes(2000))
    elif kind == "gt3x without info":
        path = tmp_path / "x.gt3x"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("log.bin", b"\x1e\x1a")
    elif kind == "not gzip":
        path = tmp_path / "x.cwa.gz"
        path.write_bytes(b"not gzip at all")
    else:  # truncated gzip
        path = tmp_path / "x.cwa.gz"
        device_files.write_cwa(tmp_path / "t.cwa", worn(1), START)
        data = gzip.compress((tmp_path / "t.cwa").read_bytes())
        (tmp_path / "t.cwa").unlink()
        path.write_bytes(data[: len(data) // 2])
    return path


KINDS = ["random cwa", "header only cwa", "empty bin", "binary bin", "not a zip gt3x", "gt3x without info", "not gzip",
         "truncated gzip"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_device_file_is_one_error_naming_it(tmp_path, capfd, kind):
    path = damaged(tmp_path, kind)
    with pytest.raises(DataError, match=rf"{path}: (not a readable|damaged archive|not a readable zip)"):
        devices.device_runs(path, calibrate=False)
    out, err = capfd.readouterr()
    assert "Exception" not in out + err and "at " not in err  # the Java reader's stack trace stays captured


def test_a_gzip_bomb_is_refused_before_actipy_unpacks_it(tmp_path):
    path = tmp_path / "bomb.cwa.gz"
    with gzip.open(path, "wb", compresslevel=9) as g:
        block = bytes(1 << 20)
        for _ in range(200):
            g.write(block)
    assert path.stat().st_size < 400_000
    with pytest.raises(DataError, match=r"bomb.cwa.gz: unpacks to more than .* \(at most 100x its"):
        devices.device_runs(path)


def test_the_command_line_prints_one_line_for_a_damaged_file(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    device_files.write_cwa(raw / "good.cwa", worn(1), START)
    (raw / "bad.cwa").write_bytes(np.random.default_rng(0).bytes(3000))
    res = subprocess.run([sys.executable, "-m", "flowfm_edge.cli", "data", "convert", str(raw), "--format", "devices",
                          "--out", str(tmp_path / "w.npz")], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 1 and res.stdout == ""
    lines = " ".join(res.stderr.split())
    assert lines.startswith("error:") and "bad.cwa: not a readable device file" in lines and "Exception" not in lines
    assert not (tmp_path / "w.npz").exists()
