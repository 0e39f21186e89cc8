"""Gateway stream on a real (nano) bundle: streamed == offline classify, embeddings, the stream CLI, no torch."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from flowfm_edge import runtimes
from flowfm_edge.runtimes.stream import GatewayStream, softmax

T0 = 1_700_000_000.0  # epoch seconds, as a gateway sees them


@pytest.fixture(scope="session")
def stream_bundle(small_bundle):
    """Encoder + classifier of the nano run, FP32 and static INT8."""
    return small_bundle("nano-stream-bundle", ["fp32", "int8"], ["encoder", "classifier"])


@pytest.fixture(scope="module")
def signals(activity):
    """Three devices, each 60 s at 30 Hz stitched from six activity windows: {device: (1800, 3) g}."""
    X = activity.X
    return {f"wrist-{d}": np.concatenate(list(X[[d, d + 20, d + 40, d + 7, d + 30, d + 50]]), axis=1).T.astype(np.float64)
            for d in range(3)}


def offline(rt, signal, hop=150):
    """The same 30 Hz windows, cut and classified offline: (windows (W, 3, 300), probabilities (W, C))."""
    x = np.stack([signal[s:s + 300].T for s in range(0, len(signal) - 299, hop)]).astype(np.float32)
    return x, softmax(rt.classify(x))


@pytest.mark.parametrize("precision", ["fp32", "int8"])  # int8-dynamic depends on the batch: not comparable
def test_streamed_equals_offline_classify(stream_bundle, signals, precision):
    gw = GatewayStream.from_bundle(stream_bundle, precision=precision, batch_size=5, embed=True)
    rng = np.random.default_rng(0)
    t = T0 + np.arange(1800) / 30
    pos = dict.fromkeys(signals, 0)
    events = []
    while any(p < 1800 for p in pos.values()):  # devices interleaved, chunks of random size
        for d, sig in signals.items():
            n = int(rng.integers(1, 90))
            events += gw.push(d, t[pos[d]:pos[d] + n], sig[pos[d]:pos[d] + n])
            pos[d] = min(pos[d] + n, 1800)
    events += gw.flush()
    assert gw.runtime.precision == precision and len(events) == 3 * 11
    for d, sig in signals.items():
        mine = sorted((e for e in events if e.device == d), key=lambda e: e.index)
        x, probs = offline(gw.runtime, sig)
        np.testing.assert_array_equal(np.stack([e.x for e in mine]), x)  # the very same windows
        np.testing.assert_allclose(np.stack([e.probabilities for e in mine]), probs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.stack([e.embedding for e in mine]), gw.runtime.embed(x), rtol=1e-5, atol=1e-5)
        assert [e.label for e in mine] == [gw.classes[i] for i in probs.argmax(1)]
        assert [e.start for e in mine] == pytest.approx(T0 + np.arange(11) * 5.0, abs=1e-6)
    assert gw.stats()["total"]["dropped"] == 0


def test_precision_auto_and_missing_graphs(stream_bundle, tmp_path):
    gw = GatewayStream.from_bundle(stream_bundle)
    assert gw.runtime.precision == "int8"
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(stream_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["graphs"]["classifier"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="has no classifier graph; fit a head"):
        GatewayStream.from_bundle(copy)
    assert GatewayStream.from_bundle(copy, classify=False, embed=True).cfg.embed


def csv_lines(signals, rate=30, scale=1.0, faults=False):
    """device,timestamp,x,y,z lines, devices interleaved in time order."""
    rows = []
    for d, sig in signals.items():
        t = T0 + np.arange(len(sig)) / 30
        for i in range(len(sig)):
            rows.append((t[i], d, sig[i] * scale))
    rows.sort(key=lambda r: r[0])
    lines = ["device,timestamp,x,y,z"] + [f"{d},{t:.6f},{v[0]:.7f},{v[1]:.7f},{v[2]:.7f}" for t, d, v in rows]
    if faults:
        lines[100] = lines[100].rsplit(",", 1)[0] + ",nan"
        lines.insert(200, lines[150])  # a duplicate
        lines.insert(300, "not,a,sample")
    return "\n".join(lines) + "\n"


runner = CliRunner()


def test_stream_command_csv_file(stream_bundle, signals, tmp_path):
    src = tmp_path / "samples.csv"
    src.write_text(csv_lines(signals, scale=9.80665, faults=True))  # m/s^2: detected and converted
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "--input", str(src), "--hop", "5", "--stats"])
    assert res.exit_code == 0, res.output
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(events) == 33 and {e["device"] for e in events} == set(signals)
    first = events[0]
    assert set(first) == {"device", "window", "start", "end", "label", "probabilities", "latency_ms"}
    assert set(first["probabilities"]) == {"still", "walk", "run"} and first["end"] - first["start"] == pytest.approx(10)
    rt = runtimes.load(stream_bundle, precision="int8")  # what --precision auto picked
    for d, sig in signals.items():  # the same labels as offline, despite units, a NaN and a duplicate
        labels = [e["label"] for e in sorted((e for e in events if e["device"] == d), key=lambda e: e["window"])]
        assert labels == rt.predict(offline(rt, sig)[0])
    err = " ".join(res.stderr.split())
    assert "windows/s" in err and "malformed lines 1" in err and "line 301" in err
    assert "m/s^2" in err and "total" in err
    line = next(ln for ln in res.stderr.splitlines() if ln.startswith("total"))
    assert line.split()[1:3] == ["5401", "1"]  # received, nan


def test_stream_command_jsonl_stdin_with_embeddings(stream_bundle, signals):
    sig = signals["wrist-0"][:450]
    lines = [json.dumps({"device": 7, "t": (T0 + i / 30) * 1000, "x": v[0], "y": v[1], "z": v[2]}) for i, v in enumerate(sig)]
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "--format", "jsonl", "--time-unit", "ms", "--embed",
                                 "--hop", "2.5", "--pipeline"], input="\n".join(lines) + "\n")
    assert res.exit_code == 0, res.output
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["window"] for e in events] == [0, 1, 2] and len(events[0]["embedding"]) == 64
    assert events[1]["start"] == pytest.approx(T0 + 2.5, abs=1e-4)


def test_stream_command_errors(stream_bundle, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("d1,1.0,0,0,1\nd1,2.0,zero,0,1\n")
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "-i", str(bad), "--strict"])
    assert res.exit_code == 1 and "bad.csv, line 2: could not convert string to float" in " ".join(res.output.split())
    res = runner.invoke(_app(), ["stream", str(tmp_path / "nope"), "-i", str(bad)])
    assert res.exit_code == 1 and "not a bundle" in res.output
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "-i", str(tmp_path / "missing.csv")])
    assert res.exit_code == 1 and "no such file" in res.output
    bad.write_text("device,time,x,y\n")
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "-i", str(bad)])
    assert res.exit_code == 1 and "lacks column(s) z" in res.output
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "-i", str(bad), "--hop", "0.01"])
    assert res.exit_code == 1 and "hop 0.01 s is not a positive whole number" in res.output


def _app():
    from flowfm_edge.cli import app

    return app


def test_gateway_runs_without_torch_or_scipy(stream_bundle, tmp_path, signals):
    src = tmp_path / "s.csv"
    src.write_text(csv_lines({"a": signals["wrist-1"][:600]}))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None; sys.modules["scipy"] = None   # importing either now fails
        from flowfm_edge.cli.main import main
        main(["stream", {str(stream_bundle)!r}, "--input", {str(src)!r}])
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["window"] for line in res.stdout.splitlines()] == [0, 1, 2]


def test_stream_stops_quietly_when_its_reader_goes_away(stream_bundle, signals, tmp_path):
    src = tmp_path / "s.csv"
    src.write_text(csv_lines(signals))  # with --embed and --hop 0.5, far more events than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "flowfm_edge", "stream", str(stream_bundle), "--input", str(src),
                             "--embed", "--hop", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert first["window"] == 0 and len(first["embedding"]) > 0
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_stream_command_survives_hostile_bytes(stream_bundle, signals, tmp_path):
    src = tmp_path / "hostile.csv"
    text = csv_lines({"wrist\x1b[2J": signals["wrist-0"][:450]}).encode()
    rows = text.split(b"\n")
    rows.insert(50, b"a,1.0,0,\xff\xfe,1")  # not UTF-8
    rows.insert(60, b"[" * 200_000)  # too long, and too deep for a JSON parser
    src.write_bytes(b"\n".join(rows))
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "--input", str(src), "--stats"])
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["window"] for line in res.stdout.splitlines()] == [0, 1]  # 15 s, hop 5
    err = " ".join(res.stderr.split())
    assert "malformed lines 2" in err and "not UTF-8" in err and "longer than 65536 bytes" in err
    assert "\x1b" not in res.stderr and "wrist\\x1b[2J" in res.stderr


def test_stream_command_refuses_output_equal_to_input(stream_bundle, signals, tmp_path):
    src = tmp_path / "s.csv"
    src.write_text(csv_lines({"a": signals["wrist-1"][:300]}))
    before = src.read_bytes()
    res = runner.invoke(_app(), ["stream", str(stream_bundle), "-i", str(src), "-o", str(tmp_path / "." / "s.csv")])
    assert res.exit_code == 1 and "is the input file" in " ".join(res.output.split())
    assert src.read_bytes() == before
