"""What `train` refuses before it writes: values out of range (run files and options), a run already in --out,
a logger that cannot log; and what --force leaves behind of an old run (nothing)."""

import json
import socket

import pytest
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import make_synthetic, save_npz
from flowfm_edge.models import ModelConfig
from flowfm_edge.training import RunError, TrainConfig, train

runner = CliRunner()
SMALL = ["--preset", "nano", "--steps", "2", "--batch-size", "8", "--warmup", "0"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synth.npz"
    save_npz(path, make_synthetic(n_subjects=2, windows_per_activity=2, seed=0))
    return path


def one_error_line(res, *expected):
    """Exit 1 and one red line holding every ``expected`` text (soft-wrapped by rich; no traceback)."""
    text = " ".join(res.output.split())
    assert res.exit_code == 1, res.output
    assert text.startswith("error:") and text.count("error:") == 1 and "Traceback" not in res.output, res.output
    for e in expected:
        assert e in text, res.output


@pytest.mark.parametrize("text, message", [
    ("[train]\nbatch_size = 0\n", "[train] field 'batch_size' must be greater than or equal to 1, got 0"),
    ("[train]\nsteps = -5\n", "[train] field 'steps' must be greater than or equal to 1, got -5"),
    ("[train]\nema_decay = 2.0\n", "[train] field 'ema_decay' must be less than 1, got 2.0"),
    ("[train]\nwarmup = -1\n", "[train] field 'warmup' must be greater than or equal to 0"),
    ("[train]\nlr = inf\n", "[train] field 'lr' must be a finite number, got inf"),
    ("[train]\nlr = -1e-3\n", "[train] field 'lr' must be greater than 0"),
    ("[train]\ngrad_clip = nan\n", "[train] field 'grad_clip' must be a finite number, got nan"),
    ("[train]\nseed = -1\n", "[train] field 'seed' must be greater than or equal to 0"),
    ("[train]\nlog_every = 0\n", "[train] field 'log_every' must be greater than or equal to 1"),
    ("[train]\nckpt_every = 0\n", "[train] field 'ckpt_every' must be greater than or equal to 1"),
    ("[train]\namp = \"fp8\"\n", "[train] field 'amp' must be 'auto', 'bf16', 'fp16' or 'off', got 'fp8'"),
    ("[model]\ndepth = -1\n", "[model] field 'depth' must be greater than or equal to 1, got -1"),
    ("[model]\ndim = 0\n", "[model] field 'dim' must be greater than or equal to 1, got 0"),
    ("[model]\nheads = 0\n", "[model] field 'heads' must be greater than or equal to 1, got 0"),
    ("[model]\npatch = 0\n", "[model] field 'patch' must be greater than or equal to 1, got 0"),
    ("[model]\nheads = 3\n", "[model] dim 64 is not divisible by heads 3"),
    ("[model]\nmlp_ratio = 0.0\n", "[model] field 'mlp_ratio' must be greater than 0"),
    ("[model]\nview_mask = 1.0\n", "[model] field 'view_mask' must be less than 1"),
    ("[model]\npreset = \"huge\"\n", "[model] unknown preset 'huge'"),
    ("[data]\nrate = -5.0\n", "[data] rate must be a positive number"),
])
def test_a_run_file_out_of_range_is_refused_before_training(synth, tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    res = runner.invoke(app, ["train", "--config", str(path), "--data", str(synth), "--out", str(tmp_path / "r")])
    one_error_line(res, str(path), message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option, message", [
    (["--lr", "inf"], "TrainConfig: field 'lr' must be a finite number, got inf"),
    (["--lr", "nan"], "TrainConfig: field 'lr' must be a finite number, got nan"),
    (["--seed", "-1"], "TrainConfig: field 'seed' must be greater than or equal to 0, got -1"),
    (["--time-mu", "nan"], "ModelConfig: field 'time_mu' must be a finite number, got nan"),
])
def test_options_out_of_range_are_refused_before_training(synth, tmp_path, option, message):
    res = runner.invoke(app, ["train", "--data", str(synth), *SMALL, *option, "--out", str(tmp_path / "r")])
    one_error_line(res, message)
    assert not (tmp_path / "r").exists()


def test_the_typed_configs_check_values_set_later():
    cfg, model = TrainConfig(), ModelConfig.from_preset("nano")
    with pytest.raises(ValueError, match="batch_size"):
        cfg.batch_size = 0
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="dim 64 is not divisible by heads 5"):
        ModelConfig.from_preset("nano", heads=5)
    with pytest.raises(ValueError, match="norm_std"):
        model.norm_std = [0.0, 1.0, 1.0]


@pytest.fixture
def old_run(synth, tmp_path):
    """A finished run whose probe says macro-F1 1.000, with the head it saved."""
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(synth), *SMALL, "--out", str(out)])
    assert res.exit_code == 0, res.output
    ckpt = out / "checkpoint"
    (ckpt / "head.json").write_text(json.dumps({"classes": ["a", "b"], "r_dim": 64}))
    (ckpt / "head.safetensors").write_bytes(b"old head")
    (out / "probe.json").write_text(json.dumps({"step": 2, "data": "old", "summary": [],
                                                "protocol": {"split": {"kind": "old", "n_folds": 5}},
                                                "head": {"split": "old", "macro_f1": 1.0, "n_test": 9}}))
    from flowfm_edge.training.model_card import write_model_card

    write_model_card(out)
    assert "1.000" in (ckpt / "README.md").read_text()
    return out


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_training_into_a_run_needs_resume_or_force(synth, old_run):
    before = snapshot(old_run)
    res = runner.invoke(app, ["train", "--data", str(synth), *SMALL, "--out", str(old_run)])
    one_error_line(res, "already holds a checkpoint at step 2; pass --resume to continue it, --force to start over")
    res = runner.invoke(app, ["train", "--data", str(synth), *SMALL, "--out", str(old_run), "--resume", "--force"])
    one_error_line(res, "--resume continues the run and --force deletes it; pass one of them")
    with pytest.raises(RunError, match="already holds"):
        train(make_synthetic(n_subjects=2, windows_per_activity=2, seed=0), old_run, ModelConfig.from_preset("nano"),
              TrainConfig(steps=2, batch_size=8, warmup=0), progress=False, device="cpu")
    assert snapshot(old_run) == before  # not a byte changed


def test_force_starts_clean(synth, old_run):
    res = runner.invoke(app, ["train", "--data", str(synth), *SMALL, "--seed", "3", "--out", str(old_run), "--force"])
    assert res.exit_code == 0, res.output
    ckpt = old_run / "checkpoint"
    assert not (ckpt / "head.json").exists() and not (ckpt / "head.safetensors").exists()
    assert not (old_run / "probe.json").exists()
    card = (ckpt / "README.md").read_text()
    assert "1.000" not in card and "Not probed yet" in card
    assert json.loads((ckpt / "prior.json").read_text())  # refitted on the new weights
    assert json.loads((ckpt / "config.json").read_text())["train"]["seed"] == 3
    assert "seed = 3" in (old_run / "run.toml").read_text()


def test_a_resumed_run_drops_the_head_and_card_of_older_weights(synth, old_run):
    res = runner.invoke(app, ["train", "--data", str(synth), "--preset", "nano", "--steps", "4", "--batch-size", "8",
                              "--warmup", "0", "--out", str(old_run), "--resume"])
    assert res.exit_code == 0, res.output
    ckpt = old_run / "checkpoint"
    assert not (ckpt / "head.json").exists()
    card = (ckpt / "README.md").read_text()
    assert "1.000" not in card and "Probed at step 2, but these weights are from step 4" in card


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri", ["bogus://nowhere", "http://127.0.0.1:{port}", "http://[::1"])
def test_an_mlflow_uri_that_cannot_log_is_one_line_before_training(synth, tmp_path, monkeypatch, uri):
    pytest.importorskip("mlflow", reason="needs the [track] extra (mlflow-skinny): pip install 'flowfm-edge[track]'")
    uri = uri.format(port=free_port())  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    res = runner.invoke(app, ["train", "--data", str(synth), *SMALL, "--logger", "mlflow", "--out", str(tmp_path / "r")])
    one_error_line(res, f"--logger mlflow: cannot log to MLFLOW_TRACKING_URI={uri!r}")
    assert not (tmp_path / "r").exists()
