"""Resume refuses other data, presets, model configs and passed steps; a checkpoint is swapped in whole."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from flowfm_edge.data.contract import WindowSet
from flowfm_edge.models import ModelConfig
from flowfm_edge.training import RunError, TrainConfig, load_model, train
from flowfm_edge.training.checkpoint import OLD_NAME, TMP_NAME, checkpoint_dir, load_train_state


def cfg(**kw):
    return TrainConfig(**{"steps": 6, "batch_size": 8, "warmup": 1, "log_every": 2, "ckpt_every": 3, **kw})


@pytest.fixture
def run(tmp_path, sine_windows):
    ws = WindowSet(sine_windows(16), None, np.zeros(16), source="sines")
    train(ws, tmp_path / "run", ModelConfig.from_preset("nano"), cfg(), progress=False, until=4)
    return tmp_path / "run", ws


def test_resume_on_other_data_names_both_hashes(run, sine_windows):
    out, ws = run
    other = WindowSet(sine_windows(16, seed=1), None, np.zeros(16), source="other")
    saved = json.loads((out / "checkpoint" / "config.json").read_text())["data"]["hash"]
    with pytest.raises(RunError, match=f"data hash {saved}.*hashes to [0-9a-f]{{16}}"):
        train(other, out, ModelConfig.from_preset("nano"), cfg(), progress=False, resume=True)


def test_resume_with_other_preset_or_config_names_both_values(run):
    out, ws = run
    with pytest.raises(RunError, match="checkpoint is 'nano', --preset is 'tiny'"):
        train(ws, out, ModelConfig.from_preset("tiny"), cfg(), progress=False, resume=True)
    with pytest.raises(RunError, match=r"p_dgs: checkpoint 0\.5, now 0\.2"):
        train(ws, out, ModelConfig.from_preset("nano", p_dgs=0.2), cfg(), progress=False, resume=True)


def test_resume_below_the_checkpoint_step_is_refused(run):
    out, ws = run
    with pytest.raises(RunError, match="--steps 3 is below the checkpoint's step 4"):
        train(ws, out, ModelConfig.from_preset("nano"), cfg(steps=3), progress=False, resume=True)
    with pytest.raises(RunError, match="--until 2 is below the checkpoint's step 4"):
        train(ws, out, ModelConfig.from_preset("nano"), cfg(), progress=False, resume=True, until=2)
    assert load_train_state(out)["step"] == 4  # nothing was written


def test_checkpoint_is_swapped_in_whole_and_recovered_between_renames(run):
    out, ws = run
    (out / "checkpoint" / "head.json").write_text("{}")  # a head fitted on the older weights
    train(ws, out, ModelConfig.from_preset("nano"), cfg(), progress=False, resume=True)
    ckpt = out / "checkpoint"
    assert not (ckpt / "head.json").exists()  # describes weights this checkpoint no longer holds
    assert not (out / TMP_NAME).exists() and not (out / OLD_NAME).exists()
    assert json.loads((ckpt / "config.json").read_text())["step"] == 6 == load_train_state(out)["step"]
    # a save cut between its two renames leaves only the previous checkpoint under .checkpoint.old
    ckpt.replace(out / OLD_NAME)
    assert checkpoint_dir(out) == ckpt and load_train_state(out)["step"] == 6
    _, config = load_model(out)
    assert config["step"] == 6


KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    from flowfm_edge.training import checkpoint

    real = checkpoint._fsync
    calls = []
    def dying_fsync(path):  # the process dies after the new files are written, before the swap
        calls.append(path)
        if len(calls) == 2:
            os._exit(9)
        real(path)
    checkpoint._fsync = dying_fsync
    model, config = checkpoint.load_model(sys.argv[1])
    state = checkpoint.load_train_state(sys.argv[1])
    checkpoint.save_checkpoint(sys.argv[1], model, state["ema"], {**config, "step": 99}, {**state, "step": 99})
    """
)


def test_a_kill_during_the_write_leaves_the_previous_checkpoint(run, tmp_path):
    out, _ = run
    before = {p.name: p.read_bytes() for p in (out / "checkpoint").iterdir()}
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert (out / TMP_NAME).is_dir()  # the torn write is there, but aside
    after = {p.name: p.read_bytes() for p in (out / "checkpoint").iterdir()}
    assert after == before
    assert load_train_state(out)["step"] == 4


@pytest.mark.parametrize("content, problem", [(b"", "train_state.pt: not a readable training state"),
                                              (b"garbage" * 10, "train_state.pt: not a readable training state")])
def test_damaged_train_state_is_a_run_error(run, content, problem):
    out, ws = run
    (out / "checkpoint" / "train_state.pt").write_bytes(content)
    with pytest.raises(RunError, match=problem):
        train(ws, out, ModelConfig.from_preset("nano"), cfg(), progress=False, resume=True)


def test_damaged_weights_and_config_are_run_errors(run):
    out, _ = run
    (out / "checkpoint" / "ema.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(RunError, match="ema.safetensors: not a readable safetensors file"):
        load_model(out)
    (out / "checkpoint" / "config.json").write_text("[1, 2]")
    with pytest.raises(RunError, match="field 'model' is missing"):
        load_model(out)


def test_cli_resume_mismatches_are_one_red_line(tmp_path, sine_windows):
    from typer.testing import CliRunner

    from flowfm_edge.cli import app

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, X=sine_windows(16), pid=np.zeros(16))
    np.savez(b, X=sine_windows(16, seed=3), pid=np.zeros(16))
    base = ["train", "--preset", "nano", "--batch-size", "8", "--warmup", "1", "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(app, [*base, "--data", str(a), "--steps", "3"])
    assert res.exit_code == 0, res.output
    for args, expect in (([*base, "--data", str(b), "--steps", "6", "--resume"], "--resume on other data"),
                         ([*base, "--data", str(a), "--steps", "2", "--resume"], "--steps 2 is below the checkpoint's step 3")):
        res = CliRunner().invoke(app, args)
        text = " ".join(res.stderr.split())
        assert res.exit_code == 1 and text.startswith("error:") and expect in text, res.output
    (tmp_path / "run" / "checkpoint" / "train_state.pt").write_bytes(b"")
    res = CliRunner().invoke(app, [*base, "--data", str(a), "--steps", "6", "--resume"])
    assert res.exit_code == 1 and "not a readable training state" in " ".join(res.stderr.split())
