"""Hostile inputs to the recording readers and embed-files: device files, Sensor Logger exports, cohort outputs.

One function per input; each returns (outcome, what happened). See ``hostile_workspace.py`` and
``hostile_cohort.py``.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from hostile_workspace import ROOT, Outcome, cli_error, raises

G = 9.80665
T0 = 1_700_000_000_000_000_000
START = datetime(2024, 5, 1, 9)


def fresh(ws, name: str) -> Path:
    ws.n += 1
    path = ws.tmp / f"{name}-{ws.n}"
    path.mkdir(parents=True)
    return path


def csv_text(seconds: float = 21, rate: int = 100, amp: float = 2.0) -> str:
    t = np.arange(int(seconds * rate)) / rate
    rows = [f"{T0 + int(round(s * 1e9))},{s:.4f},0.0,{amp * np.sin(2 * np.pi * s):.5f},{G:.5f}" for s in t]
    return "time,seconds_elapsed,z,y,x\n" + "\n".join(rows) + "\n"


def recording(folder: Path, text: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "TotalAcceleration.csv").write_text(text or csv_text())
    return folder


def zipped(path: Path, members: list[tuple[str, str]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members:
            z.writestr(name, text)
    return path


def bomb(path: Path, mb: int) -> Path:
    """A Sensor Logger zip whose CSV is one valid row repeated to ``mb`` MB: about 400:1."""
    row = f"{T0},0.0,0.0,0.0,{G}\n".encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("TotalAcceleration.csv", "w", force_zip64=True) as f:
            f.write(b"time,seconds_elapsed,z,y,x\n")
            block = row * ((1 << 20) // len(row))
            for _ in range(mb):
                f.write(block)
    return path


def _convert(fmt: str, folder: Path, **kw):
    from flowfm_edge.data.readers import convert

    return convert(fmt, folder, **kw)


def _refused(fn, expect: str):
    from flowfm_edge.data.contract import DataError

    return raises(fn, DataError, expect)


# ---- device files -------------------------------------------------------------------------------

def _writer():
    spec = importlib.util.spec_from_file_location("device_files", ROOT / "tests" / "data" / "readers" / "device_files.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _worn(minutes: float) -> np.ndarray:
    t = np.arange(int(minutes * 60 * 100)) / 100
    return np.stack([np.ones_like(t), 0.5 * np.sin(2 * np.pi * t), np.zeros_like(t)], 1)


def devices_same_name_two_folders(ws):
    root = fresh(ws, "devices")
    for site, minutes in (("siteA", 2), ("siteB", 3)):
        (root / site).mkdir()
        _writer().write_cwa(root / site / "P01.cwa", _worn(minutes), START)
    w = _convert("devices", root, calibrate=False)
    counts = {str(p): int((w.pid == p).sum()) for p in np.unique(w.pid)}
    if counts == {"siteA/P01": 23, "siteB/P01": 35} and set(w.meta["nonwear_fraction"]) == set(counts):
        return Outcome.RIGHT, f"two participants: {counts}"
    return Outcome.WRONG, f"participants {counts}, non-wear {w.meta['nonwear_fraction']}"


def devices_file_beside_its_gzip(ws):
    root = fresh(ws, "devices")
    _writer().write_cwa(root / "P01.cwa", _worn(1), START)
    (root / "P01.cwa.gz").write_bytes(gzip.compress((root / "P01.cwa").read_bytes()))
    return _refused(lambda: _convert("devices", root, calibrate=False), "are both participant 'P01'")


def _device_damage(ws, name: str, raw: bytes, expect: str = "not a readable"):
    from flowfm_edge.data.readers import devices

    path = fresh(ws, "device") / name
    path.write_bytes(raw)
    return _refused(lambda: devices.device_runs(path, calibrate=False), expect)


def devices_random_cwa(ws):
    return _device_damage(ws, "x.cwa", np.random.default_rng(0).bytes(3000))


def devices_header_only_cwa(ws):
    return _device_damage(ws, "x.cwa", b"MD")


def devices_binary_bin(ws):
    return _device_damage(ws, "x.bin", b"\xff\xfe" * 400)


def devices_random_gt3x(ws):
    return _device_damage(ws, "x.gt3x", np.random.default_rng(1).bytes(2000), "not a readable zip")


def devices_gt3x_without_info(ws):
    path = fresh(ws, "device") / "x.gt3x"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("log.bin", b"\x1e\x1a")
    return _device_damage(ws, "x.gt3x", path.read_bytes())


def devices_not_gzip(ws):
    return _device_damage(ws, "x.cwa.gz", b"not gzip", "damaged archive")


def devices_gzip_bomb(ws):
    path = fresh(ws, "device") / "bomb.cwa.gz"
    with gzip.open(path, "wb", compresslevel=9) as g:
        for _ in range(200):
            g.write(bytes(1 << 20))
    from flowfm_edge.data.readers import devices

    return _refused(lambda: devices.device_runs(path), "unpacks to more than")


def devices_cli_damaged_file(ws):
    """The command line, in its own process: Java's stack trace must not reach the terminal."""
    root = fresh(ws, "devices")
    (root / "bad.cwa").write_bytes(np.random.default_rng(0).bytes(3000))
    res = subprocess.run([sys.executable, "-m", "flowfm_edge.cli", "data", "convert", str(root), "--format", "devices",
                          "--out", str(root / "w.npz")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    text = " ".join(res.stderr.split())
    if res.returncode == 1 and text.startswith("error:") and "bad.cwa" in text and "Exception" not in text:
        return Outcome.ERROR, text[:200]
    return (Outcome.WRONG if res.returncode == 0 else Outcome.CRASH), text[:200]


# ---- Sensor Logger ------------------------------------------------------------------------------

def phones_same_name_two_folders(ws):
    root = fresh(ws, "phones")
    recording(root / "siteA" / "P01", csv_text(12))
    recording(root / "siteB" / "P01", csv_text(22, amp=1.0))
    w = _convert("sensor-logger", root)
    counts = {str(p): int((w.pid == p).sum()) for p in np.unique(w.pid)}
    if counts == {"siteA/P01": 1, "siteB/P01": 3}:
        return Outcome.RIGHT, f"two participants: {counts}"
    return Outcome.WRONG, f"participants {counts}"


def phones_folder_beside_its_zip(ws):
    root = fresh(ws, "phones")
    recording(root / "rec1")
    zipped(root / "rec1.zip", [("TotalAcceleration.csv", csv_text())])
    return _refused(lambda: _convert("sensor-logger", root), "are both participant 'rec1'")


def phones_uppercase_zip(ws):
    root = fresh(ws, "phones")
    zipped(root / "PHONE.ZIP", [("TotalAcceleration.csv", csv_text(22))])
    w = _convert("sensor-logger", root)
    if set(w.pid.tolist()) == {"PHONE"} and len(w) == 3:
        return Outcome.RIGHT, "read: 3 windows of participant PHONE"
    return Outcome.WRONG, f"{len(w)} windows of {set(w.pid.tolist())}"


def phones_duplicate_csv_in_zip(ws):
    root = fresh(ws, "phones")
    zipped(root / "r.zip", [("a/TotalAcceleration.csv", csv_text()), ("b/TotalAcceleration.csv", csv_text(30))])
    return _refused(lambda: _convert("sensor-logger", root), "two TotalAcceleration.csv in one export")


def phones_zip_bomb(ws):
    root = fresh(ws, "phones")
    bomb(root / "r.zip", 150)
    return _refused(lambda: _convert("sensor-logger", root), "refused as a likely zip bomb")


def phones_truncated_zip(ws):
    root = fresh(ws, "phones")
    raw = zipped(root / "r.zip", [("TotalAcceleration.csv", csv_text())]).read_bytes()
    (root / "r.zip").write_bytes(raw[: len(raw) // 2])
    return _refused(lambda: _convert("sensor-logger", root), "r.zip")


def phones_encrypted_member(ws):
    root = fresh(ws, "phones")
    raw = bytearray(zipped(root / "r.zip", [("TotalAcceleration.csv", csv_text())]).read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        raw[raw.find(sig) + off] |= 1
    (root / "r.zip").write_bytes(bytes(raw))
    return _refused(lambda: _convert("sensor-logger", root), "encrypted")


def _row_case(ws, row: str, expect: str):
    root = fresh(ws, "phones")
    lines = csv_text(12).splitlines()
    lines.insert(5, row)
    recording(root / "rec", "\n".join(lines) + "\n")
    return _refused(lambda: _convert("sensor-logger", root), expect)


def phones_malformed_field(ws):
    return _row_case(ws, f"{T0 + 10**10},10,0,zero,0", "TotalAcceleration.csv:6: expected numbers")


def phones_infinite_time(ws):
    return _row_case(ws, "inf,10,0,0,0", "TotalAcceleration.csv:6: expected numbers")


def phones_huge_time(ws):
    return _row_case(ws, "9" * 400 + ",10,0,0,0", "is not a UNIX time in ns between 2000 and 2100")


def phones_time_in_seconds(ws):
    return _row_case(ws, "1700000010,10,0,0,0", "(seconds or milliseconds, not ns?)")


def phones_long_line(ws):
    return _row_case(ws, "9" * (1 << 20), "a line longer than 4096 characters")


def phones_nul_bytes(ws):
    return _row_case(ws, "\x00\x00\xff garbage \x00", "TotalAcceleration.csv:6")


def _value_case(ws, value: str):
    root = fresh(ws, "phones")
    lines = csv_text(32).splitlines()
    row = lines[1251].split(",")
    row[3] = value
    lines[1251] = ",".join(row)
    recording(root / "rec", "\n".join(lines) + "\n")
    w = _convert("sensor-logger", root)
    if np.isfinite(w.X).all() and w.meta["dropped_nan"] == 2 and len(w) == 3:
        return Outcome.DROP, "2 windows holding it dropped and counted (dropped_nan 2)"
    return Outcome.WRONG, f"{len(w)} windows, dropped_nan {w.meta['dropped_nan']}, finite {np.isfinite(w.X).all()}"


def phones_nan_values(ws):
    return _value_case(ws, "nan")


def phones_value_1e300(ws):
    return _value_case(ws, "1e300")


def phones_sparse_timestamps(ws):
    root = fresh(ws, "phones")
    t = np.arange(0, 3000, 0.45)
    recording(root / "rec", "time,x,y,z\n" + "\n".join(f"{T0 + int(s * 1e9)},{G},0,0" for s in t) + "\n")
    return _refused(lambda: _convert("sensor-logger", root), "fewer than 5 per second")


# ---- embed-files --------------------------------------------------------------------------------

def _embed(ws, files, out, **kw):
    from flowfm_edge.runtimes.cohort import embed_files

    return embed_files(files, ws.bundle, out, precision=kw.pop("precision", "fp32"), **kw)


def embed_same_name_two_folders(ws):
    root = fresh(ws, "cohort")
    a, b = recording(root / "siteA" / "P01"), recording(root / "siteB" / "P01", csv_text(31))
    outcome, detail = _refused(lambda: _embed(ws, [a, b], root / "emb"), "are both participant 'P01'")
    return (outcome, detail) if not (root / "emb").exists() else (Outcome.WRONG, "wrote before refusing")


def embed_output_of_other_recording(ws):
    from flowfm_edge.runtimes.cohort import output_name

    root = fresh(ws, "cohort")
    a, b = recording(root / "siteA" / "P01"), recording(root / "siteB" / "P01", csv_text(31))
    _embed(ws, [a], root / "emb")
    before = (root / "emb" / output_name(a)).read_bytes()
    outcome, detail = _refused(lambda: _embed(ws, [b], root / "emb"), "holds the embeddings of")
    return (outcome, detail) if (root / "emb" / output_name(a)).read_bytes() == before else (Outcome.WRONG, "overwritten")


def embed_other_precision_same_out(ws):
    root = fresh(ws, "cohort")
    a = recording(root / "P01")
    _embed(ws, [a], root / "emb")
    return _refused(lambda: _embed(ws, [a], root / "emb", precision="int8"), "embedded with precision 'fp32'")


def embed_damaged_output(ws):
    from flowfm_edge.runtimes.cohort import output_name

    root = fresh(ws, "cohort")
    a = recording(root / "P01")
    _embed(ws, [a], root / "emb")
    target = root / "emb" / output_name(a)
    target.write_bytes(target.read_bytes()[:100])
    counts = _embed(ws, [a], root / "emb")
    if counts["written"] == 1 and counts["replaced"] == 1 and counts["skipped"] == 0:
        return Outcome.RIGHT, "the damaged output was embedded again (replaced 1), not counted done"
    return Outcome.WRONG, f"counts {counts}"


def embed_nan_windows(ws):
    import pyarrow.parquet as pq

    from flowfm_edge.runtimes.cohort import output_name

    root = fresh(ws, "cohort")
    lines = csv_text(41).splitlines()
    row = lines[1501].split(",")
    row[3] = "nan"
    lines[1501] = ",".join(row)
    a = recording(root / "P01", "\n".join(lines) + "\n")
    counts = _embed(ws, [a], root / "emb")
    windows = pq.read_table(root / "emb" / output_name(a)).column("window").to_pylist()
    if counts["dropped_nan"] == 1 and windows == [0, 2, 3]:
        return Outcome.DROP, "1 window dropped and counted; window numbers 0, 2, 3 kept"
    return Outcome.WRONG, f"dropped {counts['dropped_nan']}, windows {windows}"


def embed_uppercase_zip(ws):
    root = fresh(ws, "cohort")
    path = zipped(root / "PHONE.ZIP", [("TotalAcceleration.csv", csv_text())])
    counts = _embed(ws, [path], root / "emb")
    if counts["written"] == 1 and counts["windows"] == 2:
        return Outcome.RIGHT, "embedded: 2 windows"
    return Outcome.WRONG, f"counts {counts}"


def embed_cli_same_name(ws):
    root = fresh(ws, "cohort")
    a, b = recording(root / "siteA" / "P01"), recording(root / "siteB" / "P01")
    return cli_error(["embed-files", a, b, "--bundle", ws.bundle, "--out", root / "emb"], "both participant 'P01'")


CASES = [(fn.__name__.replace("_", " "), fn) for fn in (
    devices_same_name_two_folders, devices_file_beside_its_gzip, devices_random_cwa, devices_header_only_cwa,
    devices_binary_bin, devices_random_gt3x, devices_gt3x_without_info, devices_not_gzip, devices_gzip_bomb,
    devices_cli_damaged_file,
    phones_same_name_two_folders, phones_folder_beside_its_zip, phones_uppercase_zip, phones_duplicate_csv_in_zip,
    phones_zip_bomb, phones_truncated_zip, phones_encrypted_member, phones_malformed_field, phones_infinite_time,
    phones_huge_time, phones_time_in_seconds, phones_long_line, phones_nul_bytes, phones_nan_values,
    phones_value_1e300, phones_sparse_timestamps,
    embed_same_name_two_folders, embed_output_of_other_recording, embed_other_precision_same_out,
    embed_damaged_output, embed_nan_windows, embed_uppercase_zip, embed_cli_same_name,
)]
if shutil.which("java") is None:  # device cases need actipy's Java reader
    CASES = [c for c in CASES if not c[0].startswith("devices")]
