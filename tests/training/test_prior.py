"""The run's prior over r: fitted at the end of training, refitted by `fit-prior`, attached by load_model."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import save_npz
from flowfm_edge.training import load_model
from flowfm_edge.training.checkpoint import RunError, load_prior

runner = CliRunner()


def test_training_fits_the_prior_on_the_ema_weights(nano_run):
    ckpt = nano_run / "checkpoint"
    info = json.loads((ckpt / "prior.json").read_text())
    config = json.loads((ckpt / "config.json").read_text())
    assert info["kind"] == "gaussian-mixture" and info["covariance_type"] in ("full", "diag")
    assert info["r_dim"] == 64 and info["n_windows"] == config["data"]["n_windows"] == 108
    assert info["data_hash"] == config["data"]["hash"] and info["train_step"] == config["step"]
    assert info["weights"] == "ema" and info["components"] >= 1 and "log_likelihood" in info
    tensors = load_file(str(ckpt / "prior.safetensors"))
    K = info["components"]
    assert tensors["weights"].shape == (K,) and tensors["means"].shape == (K, 64) and tensors["chol"].shape == (K, 64, 64)


def test_load_model_attaches_the_prior(nano_run):
    model, _ = load_model(nano_run)
    saved = load_file(str(nano_run / "checkpoint" / "prior.safetensors"))
    for name in ("weights", "means", "chol"):
        torch.testing.assert_close(getattr(model.prior, name), saved[name], rtol=0, atol=0)
    r = model.unconditional_r(6, generator=torch.Generator().manual_seed(0))
    assert r.shape == (6, 64) and r.abs().sum() > 0
    # the prior's r sit where the encoder's r of real windows do
    from flowfm_edge.training.prior import embed_all

    real = torch.from_numpy(embed_all(model, _activity().X)).double()
    torch.testing.assert_close(model.prior.mixture_mean(), real.mean(0), atol=1e-3 * real.abs().max().item(), rtol=0)


def _activity():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("fx", Path(__file__).parents[1] / "export" / "fixtures.py")
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)
    return fx.activity_windows()


def test_fit_prior_command_on_an_existing_run(nano_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(nano_run, run)
    for name in ("prior.safetensors", "prior.json"):
        (run / "checkpoint" / name).unlink()
    assert load_prior(run) is None and load_model(run)[0].prior is None
    # the run's training data ('activity', made by code) cannot be read back by name
    res = runner.invoke(app, ["fit-prior", str(run)])
    assert res.exit_code == 1 and "pass --data DATA" in res.output
    data = tmp_path / "activity.npz"
    save_npz(data, _activity())
    res = runner.invoke(app, ["fit-prior", str(run), "--data", str(data)])
    assert res.exit_code == 0, res.output
    assert "Gaussian mixture over r (dim 64) of 108 windows" in " ".join(res.output.split())
    info = json.loads((run / "checkpoint" / "prior.json").read_text())
    assert info["data"] == str(data) and info["n_windows"] == 108 and info["fit_seconds"] < 30
    assert load_model(run)[0].prior.r_dim == 64


def test_a_broken_prior_file_is_an_actionable_error(nano_run, tmp_path):
    from safetensors.torch import save_file

    run = tmp_path / "run"
    shutil.copytree(nano_run, run)
    save_file({"weights": torch.ones(2)}, str(run / "checkpoint" / "prior.safetensors"))
    with pytest.raises(RunError, match="not a valid prior.*fit-prior"):
        load_model(run)
