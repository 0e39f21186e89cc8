import csv
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from flowfm_edge.data.contract import WindowSet
from flowfm_edge.models import ModelConfig
from flowfm_edge.training import TrainConfig, load_model, train
from flowfm_edge.training.batches import BatchPlan
from flowfm_edge.training.optim import lr_factor


@pytest.fixture
def windows(sine_windows):
    return WindowSet(sine_windows(48), None, np.repeat(np.arange(4), 12), source="sines")


def cfg(**kw):
    return TrainConfig(**{"steps": 12, "batch_size": 16, "warmup": 3, "log_every": 2, "ckpt_every": 6, **kw})


def test_train_writes_checkpoint_metrics_and_learns(tmp_path, windows):
    model = train(windows, tmp_path / "run", ModelConfig.from_preset("nano"), cfg(steps=40, lr=2e-3), progress=False)
    ckpt = tmp_path / "run" / "checkpoint"
    assert {"config.json", "model.safetensors", "ema.safetensors", "train_state.pt"} <= {p.name for p in ckpt.iterdir()}
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(2, 41, 2))
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    assert last < 0.8 * first, (first, last)  # flow matching on sines learns quickly
    loaded, config = load_model(tmp_path / "run")
    assert config["data"]["n_windows"] == 48 and config["step"] == 40
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    # normalisation statistics come from the training data
    assert abs(loaded.cfg.norm_mean[2] - 1.0) < 0.01


def test_resume_matches_uninterrupted_run(tmp_path, windows):
    train(windows, tmp_path / "full", ModelConfig.from_preset("nano"), cfg(), progress=False)
    # interrupted after step 7 of the same 12-step plan (last checkpoint: step 7), then resumed
    train(windows, tmp_path / "part", ModelConfig.from_preset("nano"), cfg(), progress=False, until=7)
    state = torch.load(tmp_path / "part" / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["step"] == 7
    train(windows, tmp_path / "part", ModelConfig.from_preset("nano"), cfg(), progress=False, resume=True)
    a = load_file(str(tmp_path / "full" / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "checkpoint" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    rows = list(csv.DictReader(open(tmp_path / "part" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(2, 13, 2))  # no duplicated rows after resume


def test_schedule_and_batch_plan():
    c = TrainConfig(steps=100, warmup=10, min_lr_ratio=0.1)
    assert lr_factor(0, c) == pytest.approx(0.1) and lr_factor(9, c) == pytest.approx(1.0)
    assert lr_factor(99, c) == pytest.approx(0.1, abs=0.01)
    plan = BatchPlan(10, 4, seed=0)
    epoch0 = torch.cat([plan.indices(0), plan.indices(1)])
    assert len(set(epoch0.tolist())) == 8  # no repeats within an epoch
    assert torch.equal(BatchPlan(10, 4, seed=0).indices(3), plan.indices(3))  # any step, any order


DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np, torch
    from safetensors.torch import save_file
    from flowfm_edge.data.contract import WindowSet
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, train

    out = sys.argv[1]
    X = np.load(os.path.join(out, "X.npy"))
    ws = WindowSet(X, None, np.zeros(len(X)), source="ddp-test")
    model = train(ws, os.path.join(out, "run"), ModelConfig.from_preset("nano"),
                  TrainConfig(steps=2, batch_size=8, warmup=1), progress=False, device="cpu")
    rank = os.environ["RANK"]
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, f"rank{rank}.safetensors"))
    """
)


def test_ddp_two_cpu_ranks_hold_identical_weights(tmp_path, sine_windows):
    np.save(tmp_path / "X.npy", sine_windows(32))
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port, so concurrent test runs never collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", str(script), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    for k in r0:
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=0, msg=k)
    # and the step really changed the weights (the adaLN-Zero layers start at exactly zero)
    assert any(float(r0[k].abs().sum()) > 0 for k in r0 if k.endswith("ada.1.weight"))


def test_weight_decay_reaches_matrices_only():
    from flowfm_edge.models import ModelConfig, build_model
    from flowfm_edge.training.optim import param_groups

    model = build_model(ModelConfig.from_preset("nano"))
    decay, rest = param_groups(model, TrainConfig())
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in rest["params"]}
    assert "encoder.blocks.0.attn.qkv.weight" in decayed and "velocity.patch.proj.weight" in decayed
    assert {"encoder.pos", "encoder.cls", "velocity.pos", "encoder.norm.weight", "encoder.blocks.0.attn.qkv.bias"} <= kept
    assert rest["weight_decay"] == 0.0 and decay["weight_decay"] == 0.05
    everything = param_groups(model, TrainConfig(decay="all"))
    assert len(everything[0]["params"]) == len(list(model.parameters()))


def test_autocast_choice_follows_the_device_and_cpu(monkeypatch):
    from flowfm_edge.training import precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision, "cpu_bf16_pays", lambda threads: True)
    assert precision.autocast_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(precision, "cpu_bf16_pays", lambda threads: False)
    assert precision.autocast_dtype("auto", cpu) is None  # native bf16 measured slower than fp32 (one Intel Xeon)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(precision, "cpu_bf16_pays", lambda threads: pytest.fail("measured without native bf16"))
    assert precision.autocast_dtype("auto", cpu) is None  # emulated bf16 is slower than fp32
    assert precision.autocast_dtype("bf16", cpu) is torch.bfloat16 and precision.autocast_dtype("off", cuda) is None
    with pytest.raises(ValueError, match="amp must be auto, bf16, fp16 or off, got 'fp8'"):
        precision.autocast_dtype("fp8", cpu)


def test_bf16_choice_is_measured_once_per_thread_count(monkeypatch):
    from flowfm_edge.training import precision

    calls = []
    monkeypatch.setattr(precision, "matmul_rate", lambda dtype: calls.append(dtype) or (300.0 if dtype is torch.bfloat16 else 200.0))
    precision.cpu_bf16_pays.cache_clear()
    try:
        assert precision.cpu_bf16_pays(2) and precision.cpu_bf16_pays(2)  # 1.5x >= 1.25x
        assert len(calls) == 2
        monkeypatch.setattr(precision, "matmul_rate", lambda dtype: 220.0 if dtype is torch.bfloat16 else 200.0)
        assert not precision.cpu_bf16_pays(1)  # 1.1x: not worth the rounding
    finally:
        precision.cpu_bf16_pays.cache_clear()


def test_fp16_trains_with_a_scaler_that_resume_restores(tmp_path, windows):
    full = cfg(amp="fp16")
    train(windows, tmp_path / "full", ModelConfig.from_preset("nano"), full, progress=False, device="cpu")
    state = torch.load(tmp_path / "full" / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["scaler"]["scale"] > 0 and state["scaler"]["_growth_tracker"] > 0  # the loop stepped through it
    train(windows, tmp_path / "part", ModelConfig.from_preset("nano"), full, progress=False, device="cpu", until=7)
    train(windows, tmp_path / "part", ModelConfig.from_preset("nano"), full, progress=False, device="cpu", resume=True)
    a = load_file(str(tmp_path / "full" / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "checkpoint" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "full" / "metrics.csv"))]
    assert np.isfinite(losses).all()


def test_a_fine_tune_trains_only_what_its_filter_accepts_with_its_own_loss(tmp_path, windows):
    base = train(windows, tmp_path / "base", ModelConfig.from_preset("nano"), cfg(steps=4), progress=False)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    seen = []

    def loss_fn(model, x, idx, generator):
        seen.append(idx.clone())
        return model(x, generator)

    tuned = train(windows, tmp_path / "tuned", base.cfg, cfg(steps=4), progress=False, init=base, loss_fn=loss_fn,
                  trainable=lambda name: name.startswith("velocity."), record={"base": {"run": "base"}})
    after = tuned.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(after[k], before[k]) for k in before if k.startswith("velocity."))
    assert len(seen) == 4 and all(len(i) == 16 for i in seen)
    _, config = load_model(tmp_path / "tuned")
    assert config["base"] == {"run": "base"} and config["model"]["norm_mean"] == base.cfg.norm_mean
    assert not (tmp_path / "tuned" / "checkpoint" / "prior.json").exists()  # the prior belongs to the model's own loss


def test_unknown_attention_kernel_is_refused_before_training(tmp_path, windows):
    with pytest.raises(ValueError, match=r"attention\n  Input should be 'auto', 'math' or 'default'"):
        train(windows, tmp_path / "run", ModelConfig.from_preset("nano"), cfg(attention="flash"), progress=False)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_bf16_math_attention_follows_the_fp32_loss_curve(tmp_path, windows):
    """The fast CPU path (bf16 autocast, math attention) learns what fp32 with PyTorch's kernel learns."""
    losses = {}
    for name, kw in {"fp32": {"amp": "off", "attention": "default"}, "bf16": {"amp": "bf16", "attention": "math"}}.items():
        train(windows, tmp_path / name, ModelConfig.from_preset("nano"), cfg(steps=40, lr=2e-3, **kw), progress=False)
        losses[name] = np.array([float(r["loss"]) for r in csv.DictReader(open(tmp_path / name / "metrics.csv"))])
    np.testing.assert_allclose(losses["bf16"], losses["fp32"], rtol=0.05)
    assert losses["bf16"][-1] < 0.8 * losses["bf16"][0]
