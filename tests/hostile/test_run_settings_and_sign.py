"""Careless and hostile settings of a training run, and keys given to ``sign``: a run directory reused, run files
and options out of range, MLflow URIs nothing answers, encrypted, wrong and unsuitable keys.

Each ends in one clear line before anything is written, or (a valid key and password, ``--force``) in the
right result.
"""

import json
import socket
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SMALL = ["--preset", "nano", "--steps", "2", "--batch-size", "8", "--warmup", "0"]


@pytest.fixture(scope="module")
def data(ws):
    path = ws.folder("cohort") / "train.npz"
    np.savez(path, X=ws.activity.X[:32], pid=np.repeat(np.arange(4), 8))
    return path


def old_run(ws, data):
    """A finished run with a probe that says macro-F1 1.000, a head and a model card."""
    from flowfm_edge.training.model_card import write_model_card

    run = ws.folder("run") / "r"
    code, _, err = ws.cli(["train", "--data", data, *SMALL, "--out", run])
    assert code == 0, err
    (run / "checkpoint" / "head.json").write_text(json.dumps({"classes": ["a"], "r_dim": 64}))
    (run / "probe.json").write_text(json.dumps({"step": 2, "data": "old", "summary": [], "protocol": {
        "split": {"kind": "old", "n_folds": 5}}, "head": {"split": "old", "macro_f1": 1.0, "n_test": 9}}))
    write_model_card(run)
    return run


# ---- a run directory reused ---------------------------------------------------------------------

def test_a_run_reused_without_flags_is_refused_and_kept(ws, data):
    run = old_run(ws, data)
    before = {str(p): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    ws.clear_error(["train", "--data", data, *SMALL, "--out", run], "already holds a checkpoint")
    assert {str(p): p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_a_run_reused_with_force_keeps_nothing_of_the_old_run(ws, data):
    run = old_run(ws, data)
    code, _, err = ws.cli(["train", "--data", data, *SMALL, "--seed", "3", "--out", run, "--force"])
    assert code == 0, err
    assert not (run / "checkpoint" / "head.json").exists() and not (run / "probe.json").exists()
    assert "1.000" not in (run / "checkpoint" / "README.md").read_text()  # the old probe's F1 is not in the card


def test_resume_and_force_together_are_refused(ws, data):
    ws.clear_error(["train", "--data", data, *SMALL, "--out", old_run(ws, data), "--resume", "--force"],
                   "pass one of them")


# ---- run files and options out of range ---------------------------------------------------------

@pytest.mark.parametrize("text, expect", [
    ("[train]\nbatch_size = 0\n", "field 'batch_size' must be greater than or equal to 1"),
    ("[train]\nsteps = -5\n", "field 'steps'"),
    ("[train]\nema_decay = 2.0\n", "field 'ema_decay' must be less than 1"),
    ("[train]\nwarmup = -1\n", "field 'warmup'"),
    ("[train]\ngrad_clip = nan\n", "field 'grad_clip' must be a finite number"),
    ("[train]\nlog_every = 0\n", "field 'log_every'"),
    ("[train]\nckpt_every = 0\n", "field 'ckpt_every'"),
    ("[model]\ndepth = -1\n", "field 'depth'"),
    ("[model]\npatch = 0\n", "field 'patch'"),
    ("[model]\nheads = 0\n", "field 'heads'"),
    ("[model]\ndim = 0\n", "field 'dim'"),
], ids=["batch 0", "steps -5", "ema_decay 2", "warmup -1", "grad_clip nan", "log_every 0", "ckpt_every 0",
        "depth -1", "patch 0", "heads 0", "dim 0"])
def test_a_run_file_out_of_range_is_refused_before_the_run_is_written(ws, data, text, expect):
    folder = ws.folder("runfile")
    (folder / "run.toml").write_text(text)
    ws.clear_error(["train", "--config", folder / "run.toml", "--data", data, "--out", folder / "r"], expect)
    assert not (folder / "r").exists()


@pytest.mark.parametrize("option, value, expect", [("--seed", "-1", "field 'seed'"), ("--lr", "inf", "field 'lr'")])
def test_an_option_out_of_range_is_refused(ws, data, option, value, expect):
    ws.clear_error(["train", "--data", data, *SMALL, option, value, "--out", ws.folder("r") / "r"], expect)


# ---- MLflow -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri", ["bogus://nowhere", "http://127.0.0.1:{port}", "http://[::1"],
                         ids=["unknown scheme", "nobody listening", "malformed"])
def test_an_mlflow_uri_nothing_answers_is_refused_at_once(ws, data, monkeypatch, uri):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.format(port=free_port()))
    t0 = time.perf_counter()
    ws.clear_error(["train", "--data", data, *SMALL, "--logger", "mlflow", "--out", ws.folder("r") / "r"],
                   "cannot log to MLFLOW_TRACKING_URI")
    print(f"refused in {time.perf_counter() - t0:.1f} s")  # a figure for the log, not a test of speed


# ---- sign ---------------------------------------------------------------------------------------

def test_sign_takes_an_encrypted_key_with_its_password(ws):
    b = ws.fresh()
    key, _ = ws.key_pair("sign", password="s3cret")
    code, _, err = ws.cli(["sign", b, "--key", key, "--password", "s3cret"])
    assert code == 0 and (b / "bundle.sig").is_file(), err


@pytest.mark.parametrize("kind, password, given, expect", [
    ("ec", "s3cret", ["--password", "guess"], "cannot open the private key"),
    ("ec", "s3cret", [], "pass its --password"),
    ("rsa", None, [], "bundles are signed with an elliptic-curve key"),
    ("ed25519", None, [], "bundles are signed with an elliptic-curve key"),
], ids=["wrong password", "missing password", "rsa key", "ed25519 key"])
def test_sign_refuses_a_key_it_cannot_use(ws, kind, password, given, expect):
    b = ws.fresh()
    key, _ = ws.key_pair("sign", kind=kind, password=password)
    ws.clear_error(["sign", b, "--key", key, *given], expect)
    assert not (b / "bundle.sig").exists()
