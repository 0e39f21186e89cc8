"""Hostile inputs to the stream and to training runs: undecodable and endless lines, clock resets, resume mismatches, torn checkpoints.

One function per input; each returns (outcome, what happened). See ``hostile_workspace.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from hostile_workspace import ROOT, Outcome, cli, cli_error


# ---- stream -------------------------------------------------------------------------------------

def _stream(ws, raw: bytes, *extra):
    src = ws.tmp / f"stream-{ws.n}.csv"
    ws.n += 1
    src.write_bytes(raw)
    code, out, err = cli(["stream", ws.bundle, "--input", src, "--stats", *extra])
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, events, " ".join(err.split())


def stream_invalid_utf8(ws):
    rows = ws.sample_csv(minutes=0.5, devices=1).encode().split(b"\n")
    rows.insert(40, b"dev0,1700000001.0,0,\xff,1")
    code, events, err = _stream(ws, b"\n".join(rows))
    if code == 0 and events and "malformed lines 1" in err and "not UTF-8" in err:
        return Outcome.DROP, f"{len(events)} events, 1 malformed line counted"
    return Outcome.WRONG if code == 0 else Outcome.CRASH, err[:160]


def stream_deep_json(ws):
    lines = [json.dumps({"device": "d", "t": 1700000000 + i / 30, "x": 0.0, "y": 0.0, "z": 1.0}) for i in range(900)]
    lines.insert(100, "[" * 200_000)
    src = ws.tmp / "deep.jsonl"
    src.write_text("\n".join(lines) + "\n")
    code, out, err = cli(["stream", ws.bundle, "--input", src, "--stats", "--max-line-bytes", str(1 << 20)])
    err = " ".join(err.split())
    if code == 0 and out.strip() and "malformed lines 1" in err and "nested too deeply" in err:
        return Outcome.DROP, f"{len(out.splitlines())} events, 1 malformed line counted"
    return Outcome.WRONG if code == 0 else Outcome.CRASH, err[:160]


def stream_long_line(ws):
    rows = ws.sample_csv(minutes=0.5, devices=1).encode().split(b"\n")
    rows.insert(40, b"9" * (20 << 20))  # 20 MB here; the memory part measures 200 MB
    code, events, err = _stream(ws, b"\n".join(rows))
    if code == 0 and events and "longer than 65536 bytes" in err:
        return Outcome.DROP, f"{len(events)} events, the long line counted as malformed"
    return Outcome.WRONG if code == 0 else Outcome.CRASH, err[:160]


def stream_clock_reset(ws):
    from flowfm_edge.runtimes.stream import StreamConfig
    from flowfm_edge.runtimes.stream_device import DeviceStream

    ds = DeviceStream("d", StreamConfig(hop_s=5))
    x = np.tile([0.0, 0.0, 1.0], (30, 1))
    windows = []
    for t in (1000.0 + np.arange(1800) / 30, 5.0 + np.arange(3600) / 30):  # 60 s, then the clock restarts near 0
        for i in range(0, len(t), 30):
            windows += ds.push(t[i:i + 30], x)
    windows += ds.finish()
    s = ds.stats
    late = [w for w in windows if w.start < 1000]
    if s.clock_resets == 1 and s.dropped_late == 0 and len(late) == 23:
        return Outcome.DROP, f"clock_resets 1; {len(late)} windows on the new timeline, 0 samples dropped as late"
    return Outcome.WRONG, f"clock_resets {s.clock_resets}, late {s.dropped_late}, windows after reset {len(late)}"


def stream_output_is_input(ws):
    src = ws.tmp / "keep.csv"
    src.write_text(ws.sample_csv(minutes=0.2, devices=1))
    before = src.read_bytes()
    outcome, detail = cli_error(["stream", ws.bundle, "--input", src, "--output", ws.tmp / "." / "keep.csv"],
                                "is the input file")
    return (outcome, detail) if src.read_bytes() == before else (Outcome.WRONG, "the input was overwritten")


def stream_escape_ids(ws):
    text = ws.sample_csv(minutes=0.4, devices=1).replace("dev0,", "dev\x1b[2J\x1b[31m,")
    code, events, err = _stream(ws, text.encode())
    if code == 0 and events and "\x1b" not in err and "dev\\x1b[2J" in err:
        return Outcome.DROP, "device id printed escaped in --stats"
    return Outcome.WRONG, "raw escape sequence in --stats"


# ---- runs ---------------------------------------------------------------------------------------

TRAIN = ["train", "--preset", "nano", "--batch-size", "8", "--warmup", "1", "--ckpt-every", "100"]


def _small_run(ws) -> Path:
    if not hasattr(ws, "small_run"):
        data = ws.tmp / "train.npz"
        np.savez(data, X=ws.activity.X[:32], pid=np.zeros(32))
        ws.small_data = data
        ws.small_run = ws.tmp / "small-run"
        code, _, err = cli([*TRAIN, "--data", data, "--out", ws.small_run, "--steps", "4"])
        assert code == 0, err
    return ws.small_run


def _copy_run(ws) -> Path:
    ws.n += 1
    return shutil.copytree(_small_run(ws), ws.tmp / f"run-{ws.n}")


def resume_other_data(ws):
    run = _copy_run(ws)
    other = ws.tmp / "other.npz"
    np.savez(other, X=ws.activity.X[32:64], pid=np.zeros(32))
    return cli_error([*TRAIN, "--data", other, "--out", run, "--steps", "8", "--resume"], "data hash")


def resume_other_preset(ws):
    run = _copy_run(ws)
    args = [a if a != "nano" else "tiny" for a in TRAIN]
    return cli_error([*args, "--data", ws.small_data, "--out", run, "--steps", "8", "--resume"], "--preset is 'tiny'")


def resume_steps_below(ws):
    run = _copy_run(ws)
    return cli_error([*TRAIN, "--data", ws.small_data, "--out", run, "--steps", "2", "--resume"],
                     "--steps 2 is below the checkpoint's step 4")


KILL = textwrap.dedent("""
    import os, sys
    from flowfm_edge.training import checkpoint
    real, calls = checkpoint._fsync, []
    def dying(path):
        calls.append(path)
        if len(calls) == 2:
            os._exit(9)
        real(path)
    checkpoint._fsync = dying
    model, config = checkpoint.load_model(sys.argv[1])
    state = checkpoint.load_train_state(sys.argv[1])
    checkpoint.save_checkpoint(sys.argv[1], model, state["ema"], {**config, "step": 99}, {**state, "step": 99})
""")


def kill_during_checkpoint(ws):
    from flowfm_edge.training.checkpoint import load_train_state, read_config

    run = _copy_run(ws)
    before = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    res = subprocess.run([sys.executable, "-c", KILL, str(run)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    after = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    if res.returncode == 9 and after == before and load_train_state(run)["step"] == read_config(run)["step"] == 4:
        return Outcome.ERROR, "killed mid-write: the step-4 checkpoint is whole (the torn one stays in .checkpoint.tmp)"
    return Outcome.WRONG, f"exit {res.returncode}; files changed: {sorted(set(after) ^ set(before))}"


def _damaged(ws, name: str, content: bytes, args, expect):
    run = _copy_run(ws)
    (run / "checkpoint" / name).write_bytes(content)
    return cli_error([a if a != "RUN" else run for a in args], expect)


def empty_train_state(ws):
    return _damaged(ws, "train_state.pt", b"", [*TRAIN, "--data", str(ws.tmp / "train.npz"), "--out", "RUN",
                                                 "--steps", "8", "--resume"], "not a readable training state")


def garbage_train_state(ws):
    return _damaged(ws, "train_state.pt", b"\x80\x02garbage" * 20, [*TRAIN, "--data", str(ws.tmp / "train.npz"),
                                                                   "--out", "RUN", "--steps", "8", "--resume"],
                    "not a readable training state")


def garbage_safetensors(ws):
    return _damaged(ws, "ema.safetensors", b"\x10\x00\x00\x00garbage", ["embed", "RUN", "--data", "synthetic",
                                                                       "--out", str(ws.tmp / "e.npz")],
                    "not a readable safetensors file")


def export_over_the_run(ws):
    run = ws.fresh("run")
    outcome, detail = cli_error(["export", run, "--out", run, "--force", "--precision", "fp32"], "the run")
    return (outcome, detail) if (run / "checkpoint" / "config.json").is_file() else (Outcome.WRONG, "run deleted")

CASES = [(fn.__name__.replace("_", " "), fn) for fn in (
    stream_invalid_utf8, stream_deep_json, stream_long_line, stream_clock_reset,
    stream_output_is_input, stream_escape_ids, resume_other_data, resume_other_preset,
    resume_steps_below, kill_during_checkpoint, empty_train_state, garbage_train_state,
    garbage_safetensors, export_over_the_run,
)]
