"""Hostile stream bytes and mismatched runs: undecodable and endless lines, clock resets, resumes that do not fit,
damaged checkpoints, an export over its own run.

A stream goes on and counts what it drops; a run refuses with one clear line and keeps what it had.
A kill during the checkpoint write is tested in ``tests/training/test_resume_guard.py``.
"""

import json
import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def stream(ws, raw: bytes, *extra) -> tuple[int, list[dict], str]:
    """``flowfm-edge stream`` over ``raw`` with ``--stats``: exit code, events, stderr on one line."""
    src = ws.folder("stream") / "samples.csv"
    src.write_bytes(raw)
    code, out, err = ws.cli(["stream", ws.bundle, "--input", src, "--stats", *extra])
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], " ".join(err.split())


def with_line(ws, line: bytes, at: int = 40) -> bytes:
    rows = ws.sample_csv(minutes=0.5, devices=1).encode().split(b"\n")
    rows.insert(at, line)
    return b"\n".join(rows)


# ---- the stream ---------------------------------------------------------------------------------

def test_an_undecodable_line_is_counted_and_the_stream_goes_on(ws):
    code, events, err = stream(ws, with_line(ws, b"dev0,1700000001.0,0,\xff,1"))
    assert code == 0 and events and "malformed lines 1" in err and "not UTF-8" in err, err[:300]


def test_a_deeply_nested_json_line_is_counted_and_the_stream_goes_on(ws):
    lines = [json.dumps({"device": "d", "t": 1700000000 + i / 30, "x": 0.0, "y": 0.0, "z": 1.0}) for i in range(900)]
    lines.insert(100, "[" * 200_000)
    src = ws.folder("stream") / "deep.jsonl"
    src.write_text("\n".join(lines) + "\n")
    code, out, err = ws.cli(["stream", ws.bundle, "--input", src, "--stats", "--max-line-bytes", str(1 << 20)])
    err = " ".join(err.split())
    assert code == 0 and out.strip() and "malformed lines 1" in err and "nested too deeply" in err, err[:300]


def test_a_20_mb_line_is_counted_and_the_stream_goes_on(ws):
    code, events, err = stream(ws, with_line(ws, b"9" * (20 << 20)))  # the memory test measures 200 MB
    assert code == 0 and events and "longer than 65536 bytes" in err, err[:300]


def test_a_device_clock_reset_starts_a_new_timeline_without_dropping_samples():
    from flowfm_edge.runtimes.stream import StreamConfig
    from flowfm_edge.runtimes.stream_device import DeviceStream

    ds = DeviceStream("d", StreamConfig(hop_s=5))
    x = np.tile([0.0, 0.0, 1.0], (30, 1))
    windows = []
    for t in (1000.0 + np.arange(1800) / 30, 5.0 + np.arange(3600) / 30):  # 60 s, then the clock restarts near 0
        for i in range(0, len(t), 30):
            windows += ds.push(t[i:i + 30], x)
    windows += ds.finish()
    assert ds.stats.clock_resets == 1 and ds.stats.dropped_late == 0
    assert len([w for w in windows if w.start < 1000]) == 23  # every window of the new timeline's 120 s


def test_an_output_that_is_the_input_is_refused_and_the_input_kept(ws):
    src = ws.folder("stream") / "keep.csv"
    src.write_text(ws.sample_csv(minutes=0.2, devices=1))
    before = src.read_bytes()
    ws.clear_error(["stream", ws.bundle, "--input", src, "--output", src.parent / "." / "keep.csv"], "is the input file")
    assert src.read_bytes() == before


def test_an_escape_sequence_in_a_device_id_is_printed_escaped(ws):
    text = ws.sample_csv(minutes=0.4, devices=1).replace("dev0,", "dev\x1b[2J\x1b[31m,")
    code, events, err = stream(ws, text.encode())
    assert code == 0 and events and "\x1b" not in err and "dev\\x1b[2J" in err, err[:300]


# ---- runs ---------------------------------------------------------------------------------------

TRAIN = ["train", "--preset", "nano", "--batch-size", "8", "--warmup", "1", "--ckpt-every", "100"]


@pytest.fixture(scope="module")
def small(ws):
    """A 4-step nano run on 32 windows, trained through the CLI, and its data."""
    data = ws.folder("small") / "train.npz"
    np.savez(data, X=ws.activity.X[:32], pid=np.zeros(32))
    run = data.parent / "run"
    code, _, err = ws.cli([*TRAIN, "--data", data, "--out", run, "--steps", "4"])
    assert code == 0, err
    return run, data


def copy_run(ws, small):
    return shutil.copytree(small[0], ws.folder("run") / "run")


def test_a_resume_on_other_data_is_refused(ws, small):
    other = ws.folder("other") / "other.npz"
    np.savez(other, X=ws.activity.X[32:64], pid=np.zeros(32))
    ws.clear_error([*TRAIN, "--data", other, "--out", copy_run(ws, small), "--steps", "8", "--resume"], "data hash")


def test_a_resume_with_another_preset_is_refused(ws, small):
    args = [a if a != "nano" else "tiny" for a in TRAIN]
    ws.clear_error([*args, "--data", small[1], "--out", copy_run(ws, small), "--steps", "8", "--resume"],
                   "--preset is 'tiny'")


def test_a_resume_to_fewer_steps_than_the_checkpoint_is_refused(ws, small):
    ws.clear_error([*TRAIN, "--data", small[1], "--out", copy_run(ws, small), "--steps", "2", "--resume"],
                   "--steps 2 is below the checkpoint's step 4")


@pytest.mark.parametrize("content", [b"", b"\x80\x02garbage" * 20], ids=["empty", "garbage"])
def test_a_damaged_training_state_is_named_on_resume(ws, small, content):
    run = copy_run(ws, small)
    (run / "checkpoint" / "train_state.pt").write_bytes(content)
    ws.clear_error([*TRAIN, "--data", small[1], "--out", run, "--steps", "8", "--resume"],
                   "not a readable training state")


def test_damaged_weights_are_named_by_embed(ws, small):
    run = copy_run(ws, small)
    (run / "checkpoint" / "ema.safetensors").write_bytes(b"\x10\x00\x00\x00garbage")
    ws.clear_error(["embed", run, "--data", "synthetic", "--out", run.parent / "e.npz"], "not a readable safetensors file")


def test_an_export_over_its_own_run_is_refused_and_the_run_kept(ws):
    run = ws.fresh("run")
    ws.clear_error(["export", run, "--out", run, "--force", "--precision", "fp32"], "the run")
    assert (run / "checkpoint" / "config.json").is_file()
