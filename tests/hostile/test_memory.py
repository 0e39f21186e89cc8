"""Memory under hostile input, in a fresh process each: a stream line of 200 MB costs the stream no memory, and a zip
bomb is refused before a byte is unpacked. ``benchmarks.perf.hostile_memory`` measures the same, and eviction times."""

import os

import pytest

from benchmarks.kit import recordings
from benchmarks.kit.program import peak_rss

pytestmark = pytest.mark.slow


def test_a_200_mb_stream_line_costs_no_memory(ws):
    base = ws.folder("memory") / "samples.csv"
    base.write_text(ws.sample_csv(minutes=2))
    hostile = recordings.with_long_line(base, base.parent / "long-line.csv", 200)
    peaks = {}
    for name, path in (("baseline", base), ("long line", hostile)):
        mb, res = peak_rss("flowfm_edge", ["stream", ws.bundle, "--input", path, "--output", os.devnull, "--stats"])
        assert res.returncode == 0 and mb, res.stderr[-1000:]
        peaks[name] = mb
    assert "malformed lines 1" in " ".join(res.stderr.split())
    assert peaks["long line"] <= 1.10 * peaks["baseline"], peaks  # the reader holds at most --max-line-bytes of a line


def test_a_zip_bomb_is_refused_at_the_memory_of_a_small_recording(ws):
    root = ws.folder("memory")
    small = recordings.recording(root / "small" / "rec", recordings.csv_text(21)).parent
    (root / "bomb").mkdir()
    recordings.bomb(root / "bomb" / "rec.zip", 150)
    peaks = {}
    for name, folder in (("small", small), ("bomb", root / "bomb")):
        mb, res = peak_rss("flowfm_edge.data.readers:convert", ["sensor-logger", folder])
        peaks[name] = mb
    assert res.returncode == 1 and "refused as a likely zip bomb" in res.stdout, res.stdout[-500:]
    assert peaks["bomb"] <= 1.10 * peaks["small"], peaks  # refused from its header: nothing unpacked
