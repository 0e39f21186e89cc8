import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from flowfm_edge.evaluation.feature_net import FeatureNet
from flowfm_edge.evaluation.frechet import frechet_distance
from flowfm_edge.evaluation.quality import (
    beyond_real_range, marginal_stats, psd_distance, quality_metrics, quality_sweep, sampling_plan,
)
from flowfm_edge.models import DiffusionTwin, FlowFM, ModelConfig


def test_frechet_of_a_set_to_itself_is_zero_and_a_shift_adds_its_square():
    a = np.random.default_rng(0).standard_normal((400, 6))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([0.5, 0, 0, 0, 0, -1.0])
    assert frechet_distance(a, a + shift) == pytest.approx(1.25, rel=1e-9)  # same covariance: exactly |shift|^2
    assert frechet_distance(a, 2 * a) > frechet_distance(a, 1.1 * a) > 0


def test_frechet_matches_the_sqrtm_formula():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + 0.3
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * sqrtm(sa @ sb).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="equal d"):
        frechet_distance(a, b[:, :3])


def test_psd_distance_is_zero_to_itself_and_6db_for_double_amplitude(activity_windows):
    X = activity_windows.X
    assert psd_distance(X, X)["mean_db"] == pytest.approx(0.0, abs=1e-9)
    d = psd_distance(X, 2 * X)  # power x 4 in every bin: 10 log10(4) dB
    assert d["per_channel_db"] == pytest.approx([10 * np.log10(4)] * 3, rel=1e-6)


def test_marginal_stats_of_gravity_only():
    X = np.zeros((4, 3, 300), np.float32)
    X[:, 2] = 1.0
    m = marginal_stats(X)
    assert m["mean_abs_a"] == pytest.approx(1.0) and m["mean"] == pytest.approx([0, 0, 1]) and m["std"] == pytest.approx([0, 0, 0])


def test_quality_metrics_rank_a_shifted_set_further(activity_windows):
    torch.manual_seed(0)
    net = FeatureNet(3).eval()
    X = activity_windows.X
    same = quality_metrics(X, X, net)
    near = quality_metrics(X, X + np.array([0.3, 0.0, 0.0], np.float32)[:, None], net)
    far = quality_metrics(X, X + np.array([1.0, 0.0, 0.0], np.float32)[:, None], net)
    assert same["frechet"]["fd"] == pytest.approx(0.0, abs=1e-6)
    assert far["frechet"]["fd"] > near["frechet"]["fd"] > 1e3 * max(same["frechet"]["fd"], 1e-9)
    assert near["frechet"]["ci_low"] > same["frechet"]["ci_high"]  # a 0.3 g offset is far outside the noise
    assert near["marginals"]["abs_diff"]["mean"] == pytest.approx([0.3, 0, 0], abs=1e-5)
    assert same["static_fraction"]["real"] == same["static_fraction"]["generated"] == far["static_fraction"]["real"]


def test_sampling_plans_report_nfe():
    flow = sampling_plan("flow", [1, 4], solver="heun")
    assert [(p["label"], p["nfe"]) for p in flow] == [("heun-1", 2), ("heun-4", 8)]
    diff = sampling_plan("diffusion", [10, 50], guidance=1.5)
    assert [(p["label"], p["nfe"]) for p in diff] == [("ddim-10", 20), ("ddim-50", 100), ("ddpm-1000", 2000)]
    with pytest.raises(ValueError, match="no generator"):
        sampling_plan("mtl", [1])


@pytest.mark.parametrize("cls,objective", [(FlowFM, "flow"), (DiffusionTwin, "diffusion")])
def test_sweep_covers_every_mode_and_setting(cls, objective, activity_windows):
    torch.manual_seed(0)
    model = cls(ModelConfig.from_preset("nano", objective=objective)).eval()
    net = FeatureNet(3).eval()
    res = quality_sweep(model, objective, activity_windows.X, net, [1, 2], n=8, ddpm_steps=3)
    labels = {"flow": ["euler-1", "euler-2"], "diffusion": ["ddim-1", "ddim-2", "ddpm-3"]}[objective]
    assert [r["sampler"] for r in res["results"]] == labels * 2
    assert {r["mode"] for r in res["results"]} == {"reconstruction", "unconditional"}
    assert all(r["frechet"]["ci_low"] <= r["frechet"]["fd"] <= r["frechet"]["ci_high"] and r["nfe"] >= 1
               for r in res["results"])
    assert "recon_rmse_g" in res["results"][0] and "real_vs_real" in res
    assert res["real_vs_real"]["n_per_half"] == 8 and "floor_note" not in res
    assert {r["r"] for r in res["results"] if r["mode"] == "reconstruction"} == {"embed"}
    assert {r["r"] for r in res["results"] if r["mode"] == "unconditional"} == {"zero"}  # no prior fitted


def test_one_window_far_beyond_the_real_range_is_counted_and_swamps_the_fd(activity_windows):
    torch.manual_seed(0)
    net = FeatureNet(3).eval()
    X = activity_windows.X
    assert beyond_real_range(X, X)["count"] == 0
    fake = X.copy()
    fake[3] *= 60.0  # one window at tens of g, as a sampler that diverged would give
    b = beyond_real_range(X, fake)
    assert b["count"] == 1 and b["fraction"] == pytest.approx(1 / len(X))
    assert b["generated_peak_g"] == pytest.approx(60.0 * np.abs(X[3]).max(), rel=1e-6)
    assert b["generated_peak_g"] > b["real_peak_g"]
    q = quality_metrics(X, fake, net)
    assert q["beyond_real_range"] == b and q["frechet"]["fd"] > 100 * quality_metrics(X, X[::-1], net)["frechet"]["fd"]
