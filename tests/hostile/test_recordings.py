"""Hostile Sensor Logger recordings: bad rows each refused with the file (and line) named, an encrypted zip said to be one.

The other hostile recordings have their tests beside their readers: device files in
``tests/data/readers/test_devices_hostile.py``, Sensor Logger exports (same names in two folders, a
folder beside its zip, ``.ZIP``, two CSVs of one name, zip bombs, damaged zips, odd clocks, NaN and
1e300 values, sparse samples) in ``tests/data/readers/test_sensor_logger_hostile.py``, and
``embed-files`` (same names, outputs of other recordings or settings, damaged outputs, NaN windows,
``.ZIP``, the command) in ``tests/runtimes/test_cohort_integrity.py``.
"""

import re

import pytest

from flowfm_edge.data.contract import DataError

pytestmark = pytest.mark.slow


def convert(folder):
    from flowfm_edge.data.readers import convert

    return convert("sensor-logger", folder)


@pytest.mark.parametrize("row, expect", [
    ("{t},10,0,zero,0", "TotalAcceleration.csv:6: expected numbers"),
    ("inf,10,0,0,0", "TotalAcceleration.csv:6: expected numbers"),
    ("9" * 400 + ",10,0,0,0", "is not a UNIX time in ns between 2000 and 2100"),
    ("1700000010,10,0,0,0", "(seconds or milliseconds, not ns?)"),
    ("9" * (1 << 20), "a line longer than 4096 characters"),
    ("\x00\x00\xff garbage \x00", "TotalAcceleration.csv:6"),
], ids=["malformed field", "infinite time", "huge time", "time in seconds", "1 MB line", "NUL bytes"])
def test_a_bad_row_is_named_by_file_and_line(ws, row, expect):
    root = ws.folder("phones")
    lines = ws.csv_text(12).splitlines()
    lines.insert(5, row.replace("{t}", str(ws.T0 + 10**10)))
    ws.recording(root / "rec", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=re.escape(expect)):
        convert(root)


def test_an_encrypted_zip_is_said_to_be_encrypted(ws):
    root = ws.folder("phones")
    raw = bytearray(ws.zipped(root / "r.zip", [("TotalAcceleration.csv", ws.csv_text())]).read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the 'encrypted' flag, local and central header
        raw[raw.find(sig) + off] |= 1
    (root / "r.zip").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"r\.zip.*encrypted"):
        convert(root)
