"""The FD protocol: bootstrap intervals, the real-vs-real floor, static windows, matched quality, the reference split."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from flowfm_edge.evaluation.feature_net import FeatureNet
from flowfm_edge.evaluation.frechet import _resampled_moments, bootstrap_frechet, frechet_distance, matches
from flowfm_edge.evaluation.quality import N_WINDOWS, quality_sweep, real_draws, reference_windows, static_fraction
from flowfm_edge.models import DiffusionTwin, FlowFM, ModelConfig
from flowfm_edge.data.hashing import data_hash

D = 64  # the feature network's width


def gaussian(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Rows of one fixed correlated 64-d Gaussian (the mixing matrix does not depend on ``seed``)."""
    mix = np.random.default_rng(123).standard_normal((D, D)) / np.sqrt(D)
    return np.random.default_rng(seed).standard_normal((n, D)) @ mix + shift


def test_the_vectorised_bootstrap_is_fd_of_the_resampled_rows():
    a, b = gaussian(300, 0), gaussian(300, 1, shift=0.2)
    counts = np.random.default_rng(5).multinomial(300, np.full(300, 1 / 300), size=3)
    ma, ca = _resampled_moments(a, counts)
    mb, cb = _resampled_moments(b, counts[::-1])
    from flowfm_edge.evaluation.frechet import _frechet_from_moments

    got = _frechet_from_moments(ma, ca, mb, cb)
    want = [frechet_distance(np.repeat(a, counts[i], 0), np.repeat(b, counts[2 - i], 0)) for i in range(3)]
    assert got == pytest.approx(want, rel=1e-9)


def test_the_floor_lies_inside_its_interval_and_a_shifted_set_outside():
    n = N_WINDOWS
    pool = gaussian(2 * n, 0)
    floor = bootstrap_frechet(pool[:n], pool[n:], resamples=200, seed=0)
    assert floor["ci_low"] <= floor["fd"] <= floor["ci_high"]
    assert (floor["resamples"], floor["seed"], floor["level"], floor["n_a"], floor["n_b"]) == (200, 0, 0.95, n, n)
    shifted = bootstrap_frechet(pool[:n], gaussian(n, 1, shift=0.15), resamples=200, seed=0)  # |shift|^2 = 1.44
    assert shifted["ci_low"] > floor["ci_high"]
    assert not matches(shifted, floor) and matches(floor, shifted)


def test_the_interval_covers_fresh_draws_of_a_perfect_generator():
    """What the interval is for: the FD of new samples of the same distribution at the same n falls below its upper end."""
    n = 500
    floor = bootstrap_frechet(gaussian(n, 0), gaussian(n, 1), resamples=200, seed=0)
    fresh = [{"fd": frechet_distance(gaussian(n, 10 + 2 * i), gaussian(n, 11 + 2 * i))} for i in range(20)]
    assert sum(matches(f, floor) for f in fresh) >= 18


def test_the_bootstrap_is_seeded():
    a, b = gaussian(200, 0), gaussian(200, 1)
    assert bootstrap_frechet(a, b, 50, seed=3) == bootstrap_frechet(a, b, 50, seed=3)
    assert bootstrap_frechet(a, b, 50, seed=3)["ci_high"] != bootstrap_frechet(a, b, 50, seed=4)["ci_high"]
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_frechet(a, b, resamples=1)


def test_matches_compares_a_point_with_the_upper_end_of_the_other_interval():
    b = {"fd": 1.0, "ci_low": 0.8, "ci_high": 1.2}
    assert matches({"fd": 1.2, "ci_low": 1.0, "ci_high": 1.4}, b)  # at the upper end: matched
    assert matches({"fd": 0.5, "ci_low": 0.4, "ci_high": 0.6}, b)  # better: matched
    assert not matches({"fd": 1.21, "ci_low": 1.1, "ci_high": 1.3}, b)
    assert not matches(b, {"fd": 0.5, "ci_low": 0.4, "ci_high": 0.6})  # not symmetric


def test_static_fraction_is_the_mean_of_per_axis_std_below_0_02_g():
    t = np.arange(300) / 30
    rng = np.random.default_rng(0)
    still = np.stack([np.zeros(300), np.zeros(300), np.ones(300)]) + 0.005 * rng.standard_normal((3, 300))
    walk = still + np.stack([0.3 * np.sin(2 * np.pi * 1.8 * t), 0.15 * np.cos(2 * np.pi * 1.8 * t), np.zeros(300)])
    sway = 0.04 * np.sqrt(2) * np.sin(2 * np.pi * 2.0 * t)  # std 0.04 g
    # x sways (std 0.04 g): static by the mean of per-axis std (0.017), not by their max (0.04)
    one_axis = still + np.stack([sway, np.zeros(300), np.zeros(300)])
    # the gravity axis bounces (std 0.025 g): static by the mean (0.012), not by the std of |a| (0.025)
    bounce = still + np.stack([np.zeros(300), np.zeros(300), 0.025 / 0.04 * sway])
    jitter = still + 0.03 * rng.standard_normal((3, 300))  # 0.03 g on every axis: not static by any definition
    X = np.stack([still, walk, one_axis, bounce, jitter])
    assert static_fraction(X) == pytest.approx(0.6)
    assert static_fraction(X[[0, 2, 3]]) == 1.0 and static_fraction(X[[1, 4]]) == 0.0
    assert static_fraction(X, threshold=0.01) == pytest.approx(0.2)


def test_the_floor_uses_halves_of_half_the_windows_when_there_are_too_few():
    ref, a, b, note = real_draws(1500, 1000, seed=0)
    assert (len(ref), len(a), len(b)) == (1000, 750, 750) and "750" in note
    assert set(a) <= set(ref) and not set(a) & set(b)
    ref, a, b, note = real_draws(5000, 1000, seed=0)
    assert len(a) == len(b) == 1000 and note is None and list(a) == list(ref) and not set(a) & set(b)


@pytest.fixture
def npz_run_config(tmp_path, activity_windows):
    from flowfm_edge.data import save_npz

    path = save_npz(tmp_path / "act.npz", activity_windows)
    return path, {"data": {"spec": str(path), "source": "activity", "hash": data_hash(activity_windows.X)}}


def test_the_reference_defaults_to_the_runs_training_data_and_split(npz_run_config, activity_windows, tmp_path):
    path, config = npz_run_config
    ws, ref = reference_windows(config)
    assert ref["split"] == "pretrain" and ref["from"] == "run config" and ref["is_training_data"] is True
    assert ref["data"] == str(path) and ref["n_available"] == len(activity_windows)
    np.testing.assert_array_equal(ws.X, activity_windows.X)
    _, ref = reference_windows(config, data="synthetic")  # --data overrides, and is checked against the hash
    assert ref["data"] == "synthetic" and ref["from"] == "--data" and ref["is_training_data"] is False
    with pytest.raises(ValueError, match="--data"):
        reference_windows({"data": {}})


def test_a_run_trained_on_the_labelled_split_is_scored_on_it(monkeypatch, activity_windows):
    """Where the splits differ (HAPT), the hash picks the split the run was trained on."""
    import flowfm_edge.data as data
    from flowfm_edge.data import WindowSet

    w = activity_windows
    splits = {"pretrain": w, "labelled": WindowSet(w.X[:30], w.y[:30], w.pid[:30], w.classes, w.source)}
    monkeypatch.setattr(data, "load_source", lambda spec, split="labelled", rate=None: splits[split])
    _, ref = reference_windows({"data": {"spec": "fake", "hash": data_hash(splits["labelled"].X)}})
    assert ref["split"] == "labelled" and ref["is_training_data"] is True and ref["n_available"] == 30
    _, ref = reference_windows({"data": {"spec": "fake", "hash": data_hash(splits["pretrain"].X)}})
    assert ref["split"] == "pretrain" and ref["n_available"] == len(activity_windows)


class PriorFlowFM(FlowFM):
    """FlowFM with a stand-in prior over r (unit Gaussian)."""

    def unconditional_r(self, n, generator=None):
        return torch.randn(n, self.cfg.r_dim, generator=generator)


@pytest.mark.parametrize("cls,objective,kind", [(PriorFlowFM, "flow", "prior"), (DiffusionTwin, "diffusion", "zero")])
def test_the_sweep_records_where_unconditional_r_came_from(cls, objective, kind, npz_run_config):
    _, config = npz_run_config
    torch.manual_seed(0)
    model = cls(ModelConfig.from_preset("nano", objective=objective)).eval()
    res = quality_sweep(model, objective, config, FeatureNet(3).eval(), [1], ("unconditional",), n=60, ddpm_steps=0,
                        resamples=20)
    assert [r["r"] for r in res["results"]] == [kind]
    assert res["reference"]["split"] == "pretrain" and res["reference"]["is_training_data"] is True
    assert res["bootstrap"] == {"resamples": 20, "seed": 0, "level": 0.95}
    floor = res["real_vs_real"]
    assert floor["n_per_half"] == 45 and "45" in res["floor_note"]  # 90 windows < 2 x 60
    assert floor["frechet"]["ci_low"] <= floor["frechet"]["fd"] <= floor["frechet"]["ci_high"]
    assert set(floor["static_fraction"]) == {"half_a", "half_b"}
    row = res["results"][0]
    assert set(row["static_fraction"]) == {"real", "generated"} and "mean_db" in row["psd"]


def test_quality_command_defaults_to_the_training_split(tmp_path, npz_run_config):
    from flowfm_edge.cli import app
    from flowfm_edge.evaluation.feature_net import save_feature_net

    path, _ = npz_run_config
    invoke = lambda *a: CliRunner().invoke(app, [str(v) for v in a], catch_exceptions=False)  # noqa: E731
    res = invoke("train", "--data", path, "--steps", 2, "--batch-size", 8, "--warmup", 1, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    torch.manual_seed(0)
    save_feature_net(FeatureNet(3).eval(), tmp_path / "feat")
    res = invoke("quality", tmp_path / "run", "--feature-net", tmp_path / "feat", "--steps", 1, "--mode",
                 "unconditional", "--n", 40, "--resamples", 20, "--json", tmp_path / "q.json")
    assert res.exit_code == 0, res.output
    assert "split pretrain (from run config; the run's training data)" in res.output
    assert "real vs real (floor, two halves of 40)" in res.output and "[" in res.output
    out = json.loads((tmp_path / "q.json").read_text())
    assert out["reference"]["split"] == "pretrain" and out["reference"]["data"] == str(path)
    assert out["n_windows"] == 40 and out["results"][0]["frechet"]["resamples"] == 20
    help_text = CliRunner().invoke(app, ["quality", "--help"], env={"COLUMNS": "300"}).output
    assert "the run's own training data and split" in help_text and "[default: 1000]" in help_text
    assert "95% bootstrap interval" in help_text
