"""Write device files from the formats' published descriptions, for the reader tests and the cohort benchmarks.

Axivity .cwa (OpenMovement, cwa.h): a file is a 1024-byte metadata header ("MD") followed by 512-byte data blocks ("AX"), each holding
80 samples of three little-endian int16 axes (256 units per g at +-8 g), a packed timestamp
(year-2000:6 month:4 day:5 hour:5 minute:6 second:6 bits), the sample-rate code
(rate = 3200 / 2^(15 - code & 15)) and a checksum word that makes the block's 16-bit words sum to 0.

GENEActiv .bin (Activinsights' text format): 59 header lines ("key:value"; the calibration block,
x/y/z gain and offset, starts at line 48; "Number of Pages" at line 58), then pages of 10 lines:
"Recorded Data", serial, sequence, "Page Time:YYYY-MM-DD hh:mm:ss:mmm", temperature, battery, status,
"Measurement Frequency", and 300 samples of 12 hex characters (x, y, z as 12-bit two's complement,
raw = (g * gain + offset) / 100, then 12 bits of light and button).

ActiGraph .gt3x (version 2, ActiGraph's GT3X+ description): a zip with info.txt ("Serial Number",
"Sample Rate", "Start Date" in .NET ticks, "Acceleration Scale" counts per g) and log.bin, a stream
of records: 0x1E, type, UNIX time (uint32), payload size (uint16), payload, and a checksum byte
(the complement of the XOR of header and payload). ACTIVITY2 records (type 0x1A) hold one second of
samples as little-endian int16 x, y, z.
"""

from __future__ import annotations

import struct
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

SAMPLES_PER_BLOCK = 80
RATE_CODES = {100.0: 0x4A, 50.0: 0x49, 25.0: 0x48}  # +-8 g range (top bits 01) and the rate


def packed_time(t: datetime) -> int:
    return ((t.year - 2000) << 26) | (t.month << 22) | (t.day << 17) | (t.hour << 12) | (t.minute << 6) | t.second


def header(session: int = 1) -> bytes:
    block = bytearray(1024)
    struct.pack_into("<2sH", block, 0, b"MD", 1020)
    struct.pack_into("<HI", block, 5, 42, session)  # device id, session id
    return bytes(block)


def data_block(acc_g: np.ndarray, start: datetime, rate: float, sequence: int, session: int = 1) -> bytes:
    """One "AX" block of 80 samples ``acc_g`` (80, 3) in g starting at ``start`` (whole seconds)."""
    block = bytearray(512)
    raw = np.clip(np.round(acc_g * 256), -32768, 32767).astype("<i2")  # (80, 3)
    struct.pack_into("<2sHHII I HHBBBBhH", block, 0, b"AX", 508, 0, session, sequence, packed_time(start),
                     0, 0x0100, 0, 90, RATE_CODES[rate], 0x32, 0, len(raw))
    block[30:30 + raw.nbytes] = raw.tobytes()
    total = sum(struct.unpack_from("<255H", block, 0)) & 0xFFFF
    struct.pack_into("<H", block, 510, (-total) & 0xFFFF)
    return bytes(block)


def write_cwa(path: Path, acc_g: np.ndarray, start: datetime, rate: float = 100.0) -> Path:
    """``acc_g`` (T, 3) in g at ``rate`` Hz from ``start`` -> a .cwa file (T a multiple of 80 samples)."""
    per_block_s = SAMPLES_PER_BLOCK / rate
    blocks = [header()]
    for k in range(len(acc_g) // SAMPLES_PER_BLOCK):
        t = start + timedelta(seconds=k * per_block_s)
        whole = t.replace(microsecond=0)
        block = data_block(acc_g[k * SAMPLES_PER_BLOCK:(k + 1) * SAMPLES_PER_BLOCK], whole, rate, k)
        # the fraction of a second goes in timestampOffset: offset = -(fraction * rate) samples
        offset = -int(round((t - whole).total_seconds() * rate))
        block = bytearray(block)
        struct.pack_into("<h", block, 26, offset)
        struct.pack_into("<H", block, 510, 0)
        total = sum(struct.unpack_from("<256H", block, 0)) & 0xFFFF
        struct.pack_into("<H", block, 510, (-total) & 0xFFFF)
        blocks.append(bytes(block))
    path.write_bytes(b"".join(blocks))
    return path


GENEACTIV_GAIN, GENEACTIV_OFFSET = 25600, 0  # 256 counts per g
SAMPLES_PER_PAGE = 300


def _hex12(v: np.ndarray) -> np.ndarray:
    return np.char.upper(np.char.zfill(np.vectorize(lambda x: format(int(x) & 0xFFF, "x"))(v), 3))


def write_geneactiv(path: Path, acc_g: np.ndarray, start: datetime, rate: float = 100.0) -> Path:
    """``acc_g`` (T, 3) in g at ``rate`` Hz from ``start`` -> a GENEActiv .bin file (T a multiple of 300)."""
    pages = len(acc_g) // SAMPLES_PER_PAGE
    head = ["Device Identity", "Device Unique Serial Code:012345"]
    head += [f"Header field {k}:value" for k in range(3, 48)]
    for axis in "xyz":
        head += [f"{axis} gain:{GENEACTIV_GAIN}", f"{axis} offset:{GENEACTIV_OFFSET}"]
    head += ["Volts:300", "Lux:800", "", "Memory Status", f"Number of Pages:{pages}", ""]
    assert len(head) == 59
    raw = np.clip(np.round((acc_g * GENEACTIV_GAIN + GENEACTIV_OFFSET) / 100), -2048, 2047).astype(int)
    lines = list(head)
    for k in range(pages):
        t = start + timedelta(seconds=k * SAMPLES_PER_PAGE / rate)
        block = raw[k * SAMPLES_PER_PAGE:(k + 1) * SAMPLES_PER_PAGE]
        cells = np.stack([_hex12(block[:, 0]), _hex12(block[:, 1]), _hex12(block[:, 2]),
                          np.full(len(block), "000")], axis=1)
        lines += ["Recorded Data", "Device Unique Serial Code:012345", f"Sequence Number:{k}",
                  f"Page Time:{t:%Y-%m-%d %H:%M:%S}:{t.microsecond // 1000:03d}", "Unassigned:",
                  "Temperature:25.0", "Battery voltage:4.0", "Device Status:Recording",
                  f"Measurement Frequency:{rate:.1f}", "".join(cells.ravel())]
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


GT3X_SCALE = 256.0
DOTNET_EPOCH_TICKS = 621355968000000000  # 0001-01-01 to 1970-01-01 in 100 ns ticks


def _gt3x_record(kind: int, unix_s: int, payload: bytes) -> bytes:
    head = struct.pack("<BBIH", 0x1E, kind, unix_s, len(payload))
    check = 0
    for b in head + payload:
        check ^= b
    return head + payload + bytes([(~check) & 0xFF])


def write_gt3x(path: Path, acc_g: np.ndarray, start: datetime, rate: int = 30) -> Path:
    """``acc_g`` (T, 3) in g at ``rate`` Hz from ``start`` (whole seconds, UTC) -> a version 2 .gt3x file."""
    unix0 = int((start - datetime(1970, 1, 1)).total_seconds())
    info = ["Serial Number: MOS2E12345678", "Device Type: wGT3XBT", "Firmware: 1.9.2", f"Sample Rate: {rate}",
            f"Start Date: {DOTNET_EPOCH_TICKS + unix0 * 10**7}", f"Acceleration Scale: {GT3X_SCALE}",
            "Acceleration Min: -8.0", "Acceleration Max: 8.0", "TimeZone: 00:00:00"]
    raw = np.clip(np.round(acc_g * GT3X_SCALE), -32768, 32767).astype("<i2")
    log = b"".join(_gt3x_record(0x1A, unix0 + k, raw[k * rate:(k + 1) * rate].tobytes())
                   for k in range(len(raw) // rate))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("info.txt", "\r\n".join(info) + "\r\n")
        z.writestr("log.bin", log)
    return path
