"""Sensor Logger exports under careless and hostile input: same names, zip bombs, damaged zips, long lines, odd clocks."""

import io
import struct
import zipfile

import numpy as np
import pytest

from benchmarks.kit.recordings import bomb, zipped
from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import convert, limits, sensor_logger

G = 9.80665
T0 = 1_700_000_000_000_000_000


def csv_text(seconds=12.0, rate=100, t0=T0, amp=2.0):
    t = np.arange(int(seconds * rate)) / rate
    lines = ["time,seconds_elapsed,z,y,x"]
    lines += [f"{t0 + int(round(s * 1e9))},{s:.4f},0.0,{amp * np.sin(2 * np.pi * s):.5f},{G:.5f}" for s in t]
    return "\n".join(lines) + "\n"


def folder(path, text=None):
    path.mkdir(parents=True)
    (path / "TotalAcceleration.csv").write_text(text or csv_text())
    return path


def test_same_named_recordings_in_two_folders_are_two_participants(tmp_path):
    folder(tmp_path / "siteA" / "P01", csv_text(12))
    folder(tmp_path / "siteB" / "P01", csv_text(22, amp=1.0))
    ws = convert("sensor-logger", tmp_path)
    assert (ws.pid == "siteA/P01").sum() == 1 and (ws.pid == "siteB/P01").sum() == 3  # 12 s: 1 window; 22 s: 3
    assert set(ws.meta["made_from"]) == {"siteA/P01", "siteB/P01"}


def test_a_folder_beside_its_own_zip_is_refused_naming_both(tmp_path):
    folder(tmp_path / "rec1")
    zipped(tmp_path / "rec1.zip", [("TotalAcceleration.csv", csv_text())])
    with pytest.raises(DataError, match=r"rec1 and .*rec1.zip are both participant 'rec1'"):
        convert("sensor-logger", tmp_path)


def test_uppercase_zip_is_read(tmp_path):
    zipped(tmp_path / "PHONE.ZIP", [("TotalAcceleration.csv", csv_text(22))])
    ws = convert("sensor-logger", tmp_path)
    assert set(ws.pid.tolist()) == {"PHONE"} and len(ws) == 3
    assert sensor_logger.is_recording(tmp_path / "PHONE.ZIP")


def test_two_csvs_of_one_name_in_a_zip_are_refused(tmp_path):
    zipped(tmp_path / "r.zip", [("a/TotalAcceleration.csv", csv_text()), ("b/TotalAcceleration.csv", csv_text(20))])
    with pytest.raises(DataError, match="holds a/TotalAcceleration.csv and b/TotalAcceleration.csv"):
        convert("sensor-logger", tmp_path)


def test_a_zip_bomb_is_refused_from_its_header(tmp_path):
    path = bomb(tmp_path / "r.zip", 40)
    assert path.stat().st_size < 200_000
    with pytest.raises(DataError, match=r"r.zip:TotalAcceleration.csv: .* over the limit .*refused as a likely zip bomb"):
        sensor_logger.recording_runs(path)


def test_a_zip_that_lies_about_its_size_is_caught_while_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "RATIO_FREE_BYTES", 1 << 10)
    path = zipped(tmp_path / "r.zip", [("TotalAcceleration.csv", "time,x,y,z\n" + f"{T0},{G},0,0\n" * 100_000)])
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("TotalAcceleration.csv")
    assert info.file_size > 100 * info.compress_size
    raw = bytearray(path.read_bytes())
    small = struct.pack("<I", 50 * info.compress_size)  # declared under the ratio limit
    local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
    raw[local + 22:local + 26], raw[central + 24:central + 28] = small, small
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("TotalAcceleration.csv").file_size == 50 * info.compress_size
    with pytest.raises(DataError, match="r.zip:TotalAcceleration.csv: damaged archive .*Bad CRC"):
        sensor_logger.recording_runs(path)  # zipfile stops at the declared size: never more than the ratio allows


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "encrypted"])
def test_damaged_zips_are_one_error_naming_the_file(tmp_path, damage):
    path = zipped(tmp_path / "r.zip", [("TotalAcceleration.csv", csv_text())])
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # set the 'encrypted' flag in the local and central headers
        b = bytearray(raw)
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = b.find(sig)
            b[at + off] |= 1
        path.write_bytes(bytes(b))
    with pytest.raises(DataError, match="r.zip"):
        convert("sensor-logger", tmp_path)


@pytest.mark.parametrize("row, message", [
    (f"{T0 + 10**10},10,0,zero,0", "expected numbers in time, x, y, z"),
    ("inf,10,0,0,0", "expected numbers in time, x, y, z"),
    ("1e999,10,0,0,0", "expected numbers in time, x, y, z"),
    ("nan,10,0,0,0", "expected numbers in time, x, y, z"),
    ("9" * 400 + ",10,0,0,0", "is not a UNIX time in ns between 2000 and 2100"),
    ("-5,10,0,0,0", "is not a UNIX time in ns between 2000 and 2100"),
    ("1700000010,10,0,0,0", "(seconds or milliseconds, not ns?)"),
    (f"{T0 + 10**10},10,0,0", "expected numbers in time, x, y, z"),
    ("x" * 5000, "a line longer than 4096 characters"),
    (f'{T0 + 10**10},10,"0,0,0', "TotalAcceleration.csv:"),
])
def test_malformed_rows_name_the_file_and_line(tmp_path, row, message):
    text = csv_text(12).splitlines()
    text.insert(5, row)
    folder(tmp_path / "r" / "rec", "\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"rec/TotalAcceleration.csv:6?"):
        try:
            convert("sensor-logger", tmp_path / "r")
        except DataError as exc:
            assert message in str(exc), exc
            raise


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "1e5"])
def test_values_that_are_not_measurements_drop_their_windows_and_are_counted(tmp_path, value):
    text = csv_text(32).splitlines()
    row = text[1251].split(",")
    row[3] = value  # y at 12.5 s
    text[1251] = ",".join(row)
    folder(tmp_path / "r" / "rec", "\n".join(text) + "\n")
    ws = convert("sensor-logger", tmp_path / "r")
    assert np.isfinite(ws.X).all() and np.abs(ws.X).max() < 10
    assert ws.meta["dropped_nan"] == 2 and len(ws) == 5 - 2  # the windows at 5 s and 10 s hold 12.5 s


def test_nul_bytes_and_binary_noise_are_one_error(tmp_path):
    folder(tmp_path / "r" / "rec", csv_text(12)[:200] + "\x00\x00\xff garbage \x00\n" + csv_text(12)[200:])
    with pytest.raises(DataError, match="TotalAcceleration.csv"):
        convert("sensor-logger", tmp_path / "r")


def test_samples_too_sparse_for_the_grid_are_refused(tmp_path):
    t = np.arange(0, 3000, 0.45)  # 2.2 samples a second, never a gap over 0.5 s
    lines = ["time,x,y,z"] + [f"{T0 + int(s * 1e9)},{G},0,0" for s in t]
    folder(tmp_path / "r" / "rec", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="fewer than 5 per second"):
        convert("sensor-logger", tmp_path / "r")


def test_a_csv_over_the_size_limit_is_refused(tmp_path):
    folder(tmp_path / "r" / "rec", csv_text(30))
    with pytest.raises(DataError, match="over the limit of"):
        convert("sensor-logger", tmp_path / "r", max_csv_mb=0.05)


def test_a_malformed_metadata_file_is_named(tmp_path):
    rec = folder(tmp_path / "r" / "rec")
    (rec / "metadata.csv").write_text('platform\n"ios\n' + "x" * 5000 + "\n")
    with pytest.raises(DataError, match="metadata.csv"):
        convert("sensor-logger", tmp_path / "r")


class Counting(io.BytesIO):
    most = 0

    def read1(self, n=-1):
        data = super().read1(n)
        self.most = max(self.most, self.tell())
        return data

    read = read1


def test_csv_lines_hold_at_most_one_line_in_memory():
    stream = Counting(b"a,b\n" + b"9" * (10 << 20))
    lines = limits.csv_lines(stream, "x.csv")
    assert next(lines) == (1, "a,b")
    with pytest.raises(DataError, match="x.csv:2: a line longer than 4096"):
        next(lines)
    assert 4096 < stream.most < 1 << 20  # stopped after a buffer or two, not the 10 MB line
