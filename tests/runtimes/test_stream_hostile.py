"""The stream survives any byte: undecodable, over-long and unparsable lines are counted; clock resets start a new timeline."""

import io
import json

import numpy as np
import pytest

from flowfm_edge.cli.device import escape_id
from flowfm_edge.runtimes.stream import StreamConfig
from flowfm_edge.runtimes.stream_device import RESET_CONFIRM, DeviceStream
from flowfm_edge.runtimes.stream_files import check_output
from flowfm_edge.runtimes.stream_io import SampleReader, byte_lines


def motion(t):
    return np.stack([0.3 * np.sin(2 * np.pi * 1.8 * t), 0.1 * np.cos(2 * np.pi * 3.6 * t), 1 + 0 * t], axis=1)


def feed(ds, t, chunk=30):
    windows = []
    for i in range(0, len(t), chunk):
        windows += ds.push(t[i:i + chunk], motion(t[i:i + chunk]))
    return windows


def test_a_clock_reset_starts_a_new_timeline():
    ds = DeviceStream("d", StreamConfig(hop_s=5))
    t1 = 1000.0 + np.arange(1800) / 30  # 60 s
    t2 = 5.0 + np.arange(3600) / 30  # the device rebooted: its clock restarts near 0, for 120 s
    windows = feed(ds, t1) + feed(ds, t2) + ds.finish()
    s = ds.stats
    assert s.clock_resets == 1 and s.dropped_late == 0
    starts = [w.start for w in windows]
    assert sum(st >= 1000 for st in starts) == 11 and sum(st < 1000 for st in starts) == 23
    assert s.accepted == 1800 + 3600 and s.segments == 2


def test_stragglers_far_behind_are_late_not_a_reset():
    ds = DeviceStream("d", StreamConfig(hop_s=5))
    t = 1000.0 + np.arange(900) / 30
    feed(ds, t[:600])
    ds.push(t[:RESET_CONFIRM - 1] + 0.01, motion(t[:RESET_CONFIRM - 1]))  # 20 s old, fewer than a reset needs
    feed(ds, t[600:])
    ds.finish()
    assert ds.stats.clock_resets == 0 and ds.stats.dropped_late == RESET_CONFIRM - 1


def test_held_samples_at_the_end_of_input_are_counted():
    ds = DeviceStream("d", StreamConfig(hop_s=5))
    feed(ds, 1000.0 + np.arange(600) / 30)
    ds.push(np.array([1.0, 1.1, 1.2]), motion(np.array([1.0, 1.1, 1.2])))
    ds.finish()
    assert ds.stats.dropped_late == 3 and ds.stats.clock_resets == 0


def lines(*rows: bytes) -> list[bytes]:
    return [r + b"\n" for r in rows]


def read(raw: list[bytes], fmt="csv", **kw):
    reader = SampleReader(byte_lines(io.BytesIO(b"".join(raw)), kw.pop("max_bytes", 1 << 16)), fmt, **kw)
    blocks = list(reader)
    n = sum(len(b.t) for b in blocks)
    return n, reader.stats


def test_undecodable_bytes_are_one_malformed_line():
    n, stats = read(lines(b"a,1.0,0,0,1", b"a,2.0,0,\xff\xfe,1", b"a,3.0,0,0,1"))
    assert n == 2 and stats.malformed == 1 and "not UTF-8 (byte 0xff" in stats.first_malformed[0]


def test_an_over_long_line_is_skipped_in_bounded_memory():
    long = b"a,1.0," + b"9" * 10_000
    it = byte_lines(io.BytesIO(b"".join(lines(b"a,0.5,0,0,1", long, b"a,2.0,0,0,1"))), 100)
    got = list(it)
    assert [len(g) for g in got] == [12, 101, 12]  # never more than max + 1 bytes of the long line
    n, stats = read(lines(b"a,0.5,0,0,1", long, b"a,2.0,0,0,1"), max_bytes=100, max_line_bytes=100)
    assert n == 2 and stats.malformed == 1 and "longer than 100 bytes" in stats.first_malformed[0]


@pytest.mark.parametrize("line, reason", [
    (b"[" * 200_000, "nested too deeply"),
    (json.dumps({"device": "a", "t": int("9" * 400), "x": 0, "y": 0, "z": 1}).encode(), "too large"),
    (b'{"device": "a", "t": 1, "x": 1e999999, "y": 0, "z": 1}', None),  # inf: a row, dropped later as nan
    (b'{"device": {"nested": [1]}, "t": "1970-13-45", "x": 0, "y": 0, "z": 1}', "neither a number nor"),
])
def test_parser_failures_are_counted(line, reason):
    good = json.dumps({"device": "a", "t": 1.0, "x": 0, "y": 0, "z": 1}).encode()
    n, stats = read(lines(good, line, good), fmt="jsonl", max_bytes=1 << 20, max_line_bytes=1 << 20)
    if reason is None:
        assert n == 3 and stats.malformed == 0
    else:
        assert n == 2 and stats.malformed == 1 and reason in stats.first_malformed[0]


def test_output_that_is_the_input_is_refused(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a,1,0,0,1\n")
    (tmp_path / "link.csv").symlink_to(src)
    for out in (str(src), str(tmp_path / "." / "in.csv"), str(tmp_path / "link.csv")):
        with pytest.raises(ValueError, match="is the input file"):
            check_output(out, str(src))
    check_output(str(tmp_path / "out.jsonl"), str(src))
    check_output("-", str(src))
    assert src.read_text() == "a,1,0,0,1\n"


def test_device_ids_are_escaped_for_the_terminal():
    assert escape_id("wrist\x1b[2J\nfake total 0") == "wrist\\x1b[2J\\nfake total 0"
    assert escape_id("a\\b") == "a\\\\b" and escape_id("\u200bzero") == "\\u200bzero"
    assert len(escape_id("x" * 500)) == 64
