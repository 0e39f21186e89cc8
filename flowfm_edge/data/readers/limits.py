"""What the recording readers refuse before they read too much: archive sizes and ratios, long lines, odd clocks.

- A zip member or ``.gz`` file may unpack to at most ``max_bytes`` (``MAX_CSV_BYTES`` for a CSV,
  ``MAX_DEVICE_BYTES`` for a device file) and, once past 1 MiB, to at most ``MAX_RATIO`` times
  its packed size: a zip bomb is refused from its header, and a header that lies is caught while
  reading, after at most that many bytes. Nothing is unpacked whole into memory: CSV text is
  read line by line (:func:`csv_lines`), so a reader holds the samples it keeps (32 bytes each)
  and one line.
- A CSV line may hold at most ``MAX_LINE_BYTES``; a zip at most ``MAX_MEMBERS`` members, no two
  CSVs of one name and no encrypted member.
- Clock times must fall between 2000-01-01 and 2100-01-01 (UTC, ns since the epoch); an
  acceleration beyond ``MAX_ABS_G`` is not a measurement and counts as missing (its windows are
  dropped and counted, like NaN).

Every refusal is a :class:`~flowfm_edge.data.contract.DataError` naming the file and the limit.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

from ..contract import DataError

MAX_CSV_BYTES = 1 << 30  # 1 GiB of CSV text: about 1.5 days of 100 Hz phone samples
MAX_DEVICE_BYTES = 32 << 30  # an unpacked .cwa/.bin/.gt3x recording
MAX_RATIO = 100  # unpacked / packed bytes; text of real samples packs 3-10x, a zip bomb 1000x
RATIO_FREE_BYTES = 1 << 20  # members this small are never a bomb, whatever their ratio
MAX_LINE_BYTES = 4096
MAX_MEMBERS = 10_000
TIME_RANGE_NS = (946_684_800 * 10**9, 4_102_444_800 * 10**9)  # 2000-01-01 .. 2100-01-01 UTC
MAX_ABS_G = 1000.0  # no wearable or phone accelerometer measures beyond this
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, OSError)


def allowed_bytes(packed: int, max_bytes: int) -> int:
    """How many bytes ``packed`` bytes may unpack to."""
    return min(max_bytes, max(RATIO_FREE_BYTES, MAX_RATIO * packed))


class BoundedReader(io.RawIOBase):
    """A binary stream that raises a DataError once more than ``limit`` bytes have come out of ``raw``."""

    def __init__(self, raw, limit: int, where: str, why: str):
        self.raw, self.limit, self.where, self.why, self.count = raw, limit, where, why, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(min(len(buffer), self.limit + 1 - self.count))
        except ZIP_ERRORS as exc:
            raise DataError(f"{self.where}: damaged archive ({type(exc).__name__}: {str(exc)[:120]})") from None
        self.count += len(data)
        if self.count > self.limit:
            raise DataError(f"{self.where}: unpacks to more than {self.limit:,} bytes ({self.why}); refused")
        buffer[:len(data)] = data
        return len(data)


def open_zip(path: Path) -> zipfile.ZipFile:
    """``path`` as a zip after the checks above: members, encryption, declared sizes and ratios."""
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except ZIP_ERRORS as exc:
        raise DataError(f"{path}: not a readable zip ({type(exc).__name__}: {str(exc)[:120]})") from None
    if len(infos) > MAX_MEMBERS:
        raise DataError(f"{path}: {len(infos):,} members; at most {MAX_MEMBERS:,} are read")
    for info in infos:
        if info.flag_bits & 0x1:
            raise DataError(f"{path}:{info.filename}: encrypted; export the recording without a password")
    return zf


def open_member(zf: zipfile.ZipFile, name: str, where: str, max_bytes: int = MAX_CSV_BYTES) -> io.BufferedReader:
    """A bounded binary stream of member ``name``; refused up front when its header already breaks a limit."""
    info = zf.getinfo(name)
    limit = allowed_bytes(info.compress_size, max_bytes)
    if info.file_size > limit:
        why = f"{info.compress_size:,} packed bytes declare {info.file_size:,}"
        raise DataError(f"{where}: {why}, over the limit of {limit:,} (at most {MAX_RATIO}x its packed size and "
                        f"{max_bytes:,} bytes); refused as a likely zip bomb")
    try:
        raw = zf.open(name)
    except ZIP_ERRORS + (RuntimeError, ValueError) as exc:
        raise DataError(f"{where}: cannot be unpacked ({type(exc).__name__}: {str(exc)[:120]})") from None
    why = f"at most {MAX_RATIO}x its {info.compress_size:,} packed bytes and {max_bytes:,} bytes"
    return io.BufferedReader(BoundedReader(raw, limit, where, why), buffer_size=1 << 16)


def open_file(path: Path, max_bytes: int = MAX_CSV_BYTES) -> io.BufferedReader:
    """A plain file, refused when larger than ``max_bytes``."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{path}: {size:,} bytes, over the limit of {max_bytes:,}; refused")
    return open(path, "rb")


def csv_lines(stream, where: str) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without its line end) of a binary stream, each line at most ``MAX_LINE_BYTES``."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    n = 0
    while True:
        line = text.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(("\n", "\r")):
            raise DataError(f"{where}:{n}: a line longer than {MAX_LINE_BYTES} characters; not a sensor CSV")
        yield n, line.rstrip("\r\n")


def check_gzip(path: Path, max_bytes: int = MAX_DEVICE_BYTES) -> None:
    """Unpack a ``.gz`` once without keeping it, refusing it past ``allowed_bytes`` (a bomb would fill the disk)."""
    packed = path.stat().st_size
    limit = allowed_bytes(packed, max_bytes)
    why = f"at most {MAX_RATIO}x its {packed:,} packed bytes and {max_bytes:,} bytes"
    try:
        with gzip.open(path, "rb") as g:
            reader = BoundedReader(g, limit, str(path), why)
            buffer = bytearray(1 << 20)
            while reader.readinto(buffer):
                pass
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: not a readable gzip file ({type(exc).__name__}: {str(exc)[:120]})") from None


def check_time(t_ns: int, where: str) -> int:
    """``t_ns`` if it is a UNIX time in ns between 2000 and 2100; a DataError otherwise."""
    lo, hi = TIME_RANGE_NS
    if not lo <= t_ns < hi:
        hint = " (seconds or milliseconds, not ns?)" if 0 < t_ns < lo else ""
        raise DataError(f"{where}: time {t_ns} is not a UNIX time in ns between 2000 and 2100{hint}")
    return t_ns
