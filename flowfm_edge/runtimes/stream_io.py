"""Reading ``device,timestamp,x,y,z`` sample lines (CSV or JSON lines) in blocks, for ``flowfm-edge stream``.

Timestamps are numbers in ``time_unit`` (s, ms, us, ns) or ISO-8601 strings. A CSV may
start with a header naming its columns (``device``/``id``, ``timestamp``/``time``/``t``/
``ts``, ``x``, ``y``, ``z``, any order); without one, columns are taken in that order.
Empty or ``nan`` values become NaN (the stream drops and counts them). Lines that cannot be
read at all are counted, or with ``strict`` raise an error naming the line.

Input is read as bytes and decoded line by line: a line that is not UTF-8, longer than
``max_line_bytes`` (only that many bytes of it are ever held), or that breaks the parser
(nesting deep enough to overflow the recursion limit, a number too large for a float) is
one malformed line, never the end of the stream.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

import numpy as np

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_ALIASES = {"device": ("device", "id", "device_id", "dev"), "timestamp": ("timestamp", "time", "t", "ts"),
            "x": ("x",), "y": ("y",), "z": ("z",)}
COLUMNS = tuple(_ALIASES)
MAX_LINE_BYTES = 1 << 16  # a sample line is ~100 bytes; 64 KiB leaves room for long device ids
PARSE_ERRORS = (ValueError, TypeError, KeyError, RecursionError, OverflowError, UnicodeDecodeError)


def byte_lines(f: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of a binary file; a line longer than ``max_bytes`` comes out as its first ``max_bytes + 1``
    bytes (so the reader can tell), the rest is skipped in chunks: memory stays bounded whatever the input."""
    while True:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # skip the rest of the long line
                rest = f.readline(max_bytes + 1)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


class InputError(ValueError):
    """A sample line that cannot be read: the message names the source, the line and how to fix it."""


@dataclass
class Block:
    """Parsed rows: ``devices`` (n,) str, ``t`` (n,) seconds, ``xyz`` (n, 3) float64."""

    devices: np.ndarray
    t: np.ndarray
    xyz: np.ndarray


@dataclass
class ReadStats:
    lines: int = 0
    rows: int = 0
    malformed: int = 0
    first_malformed: list = field(default_factory=list)  # [(line number, reason)] of the first few


def parse_time(value, scale: float) -> float:
    """A number in the unit given by ``scale`` -> seconds; an ISO-8601 string -> seconds since the epoch."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) * scale
    text = str(value).strip()
    try:
        return float(text) * scale
    except ValueError:
        pass
    try:
        return (np.datetime64(text.rstrip("Z"), "ns") - np.datetime64(0, "ns")) / np.timedelta64(1, "ns") * 1e-9
    except ValueError:
        raise ValueError(f"timestamp {text!r} is neither a number nor an ISO-8601 time") from None


def _number(value) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return float("nan")
    return float(value)


class SampleReader:
    """Iterates :class:`Block` s of at most ``block`` rows, or fewer when ``max_wait_s`` passed (live input)."""

    def __init__(self, lines: Iterable[str], fmt: str = "csv", time_unit: str = "s", source: str = "<stdin>",
                 block: int = 2048, max_wait_s: float = 0.2, strict: bool = False,
                 max_line_bytes: int = MAX_LINE_BYTES):
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"--format {fmt!r}: choose csv or jsonl")
        if time_unit not in TIME_UNITS:
            raise ValueError(f"--time-unit {time_unit!r}: choose {', '.join(TIME_UNITS)}")
        self.lines, self.fmt, self.scale, self.source = lines, fmt, TIME_UNITS[time_unit], source
        self.block, self.max_wait_s, self.strict = block, max_wait_s, strict
        if max_line_bytes < 16:
            raise ValueError(f"--max-line-bytes {max_line_bytes}: must be >= 16")
        self.max_line_bytes = max_line_bytes
        self.stats = ReadStats()
        self.order = list(range(5))  # CSV column index of device, timestamp, x, y, z

    def __iter__(self) -> Iterator[Block]:
        rows: list[tuple] = []
        started = time.monotonic()
        for number, line in enumerate(self.lines, 1):
            self.stats.lines += 1
            try:
                line = self._decode(line)
                if not line.strip():
                    continue
                row = self._csv(line, number) if self.fmt == "csv" else self._json(line)
            except InputError:
                raise
            except PARSE_ERRORS as exc:
                self._malformed(number, line, exc)
                continue
            if row is None:
                continue
            rows.append(row)
            if len(rows) >= self.block or time.monotonic() - started > self.max_wait_s:
                yield self._block(rows)
                rows, started = [], time.monotonic()
        if rows:
            yield self._block(rows)

    def _decode(self, line: str | bytes) -> str:
        if len(line) > self.max_line_bytes:
            raise ValueError(f"line longer than {self.max_line_bytes} bytes (--max-line-bytes)")
        if isinstance(line, bytes):
            try:
                return line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"not UTF-8 (byte {line[exc.start]:#04x} at offset {exc.start})") from None
        return line

    def _block(self, rows: list[tuple]) -> Block:
        self.stats.rows += len(rows)
        devices = np.array([r[0] for r in rows], dtype=object).astype(str)
        t = np.array([r[1] for r in rows], np.float64)
        return Block(devices, t, np.array([r[2:] for r in rows], np.float64).reshape(-1, 3))

    def _malformed(self, number: int, line: str | bytes, exc: Exception) -> None:
        what = str(exc) if not isinstance(exc, RecursionError) else "nested too deeply to parse"
        reason = f"{self.source}, line {number}: {_short(what)} in {line.strip()[:80]!r}"
        if self.strict:
            raise InputError(f"{reason}; expected device,timestamp,x,y,z (or drop --strict to skip such lines)")
        self.stats.malformed += 1
        if len(self.stats.first_malformed) < 5:
            self.stats.first_malformed.append(reason)

    def _csv(self, line: str, number: int) -> tuple | None:
        fields = [f.strip() for f in line.rstrip("\r\n").split(",")]
        if number == 1 and self._header(fields):
            return None
        if len(fields) < 5:
            raise ValueError(f"{len(fields)} fields, expected 5")
        d, ts, x, y, z = (fields[i] for i in self.order)
        if not d:
            raise ValueError("empty device id")
        return d, parse_time(ts, self.scale), _number(x), _number(y), _number(z)

    def _header(self, fields: list[str]) -> bool:
        names = [f.lower() for f in fields]
        found = {}
        for col, aliases in _ALIASES.items():
            hits = [i for i, n in enumerate(names) if n in aliases]
            if hits:
                found[col] = hits[0]
        if not found:
            return False
        missing = [c for c in COLUMNS if c not in found]
        if missing:
            raise InputError(f"{self.source}: header {','.join(fields)!r} lacks column(s) {', '.join(missing)}; "
                             "expected device,timestamp,x,y,z")
        self.order = [found[c] for c in COLUMNS]
        return True

    def _json(self, line: str) -> tuple:
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        key = {c: next((a for a in aliases if a in obj), None) for c, aliases in _ALIASES.items()}
        missing = [c for c, k in key.items() if k is None]
        if missing:
            raise ValueError(f"missing key(s) {', '.join(missing)}")
        return (str(obj[key["device"]]), parse_time(obj[key["timestamp"]], self.scale),
                *(_number(obj[key[c]]) for c in ("x", "y", "z")))


def _short(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
