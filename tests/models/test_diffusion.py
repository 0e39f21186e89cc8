"""The diffusion twin: schedules against their closed forms, sampler updates, training smoke test."""

import math

import numpy as np
import pytest
import torch

from flowfm_edge.models import OBJECTIVES, DiffusionTwin, ModelConfig
from flowfm_edge.models.diffusion import (
    T_STEPS, alpha_bar, cosine_alpha_bar, ddim_step, ddpm_step, make_betas, nfe, sample_loop, timesteps,
)


def test_linear_schedule_matches_closed_form():
    betas = make_betas("linear").numpy()
    assert betas.shape == (1000,)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    np.testing.assert_allclose(np.diff(betas), (0.02 - 1e-4) / 999, rtol=1e-9)
    expected = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    np.testing.assert_allclose(alpha_bar(make_betas("linear")).numpy(), expected, rtol=1e-12)
    assert expected[-1] == pytest.approx(4.0358e-5, rel=1e-3)


def test_cosine_schedule_matches_nichol_dhariwal():
    betas = make_betas("cosine").numpy()
    s, T = 0.008, 1000
    f = lambda t: np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    closed = f(np.arange(1, T + 1)) / f(0)  # abar after steps 1..T
    assert betas.max() == pytest.approx(0.999)  # the clip binds at the very end only
    assert (betas >= 0.999 - 1e-12).sum() == 1
    assert np.all(np.diff(betas) > 0)
    ab = alpha_bar(make_betas("cosine")).numpy()
    np.testing.assert_allclose(ab[:-1], closed[:-1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(cosine_alpha_bar(torch.arange(5.0)).numpy(), f(np.arange(5.0)) / f(0), rtol=1e-12)


def test_unknown_schedule_names_the_field():
    with pytest.raises(ValueError, match="ModelConfig.schedule"):
        make_betas("quadratic")
    with pytest.raises(ValueError, match="schedule"):
        ModelConfig(schedule="quadratic").validate()


def test_timesteps_are_distinct_and_cover_both_ends():
    for steps in (1, 2, 7, 50, 999, 1000):
        seq = timesteps(steps)
        assert len(seq) == len(set(seq)) == steps
        assert seq[0] == T_STEPS - 1 and (steps == 1 or seq[-1] == 0)
        assert all(a > b for a, b in zip(seq, seq[1:]))
    assert timesteps(1000) == list(range(999, -1, -1))
    with pytest.raises(ValueError, match="1..1000"):
        timesteps(1001)


def _reference_ddim(z, eps, ab_t, ab_prev, eta, noise):
    """Song et al. (2021), eq. 12, written out in numpy."""
    z0 = (z - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t)) * math.sqrt(1 - ab_t / ab_prev)
    return math.sqrt(ab_prev) * z0 + math.sqrt(1 - ab_prev - sigma**2) * eps + sigma * noise


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_closed_form(eta):
    g = torch.Generator().manual_seed(0)
    z, eps, noise = (torch.randn(2, 3, 300, generator=g, dtype=torch.float64) for _ in range(3))
    ab = alpha_bar(make_betas("linear"))
    ab_t, ab_prev = ab[700], ab[500]
    got = ddim_step(z, eps, ab_t, ab_prev, eta, noise)
    want = _reference_ddim(z.numpy(), eps.numpy(), float(ab_t), float(ab_prev), eta, noise.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_ddim_with_eta_one_is_the_ddpm_ancestral_step():
    g = torch.Generator().manual_seed(1)
    z, eps, noise = (torch.randn(4, 3, 300, generator=g, dtype=torch.float64) for _ in range(3))
    ab = alpha_bar(make_betas("cosine"))
    for t, prev in ((999, 998), (400, 380), (10, 0)):
        np.testing.assert_allclose(ddpm_step(z, eps, ab[t], ab[prev], noise).numpy(),
                                   ddim_step(z, eps, ab[t], ab[prev], 1.0, noise).numpy(), rtol=1e-9, atol=1e-12)


def _point_mass_eps(target: torch.Tensor, ab: torch.Tensor):
    """The exact noise predictor when the data are one point: eps = (z - sqrt(abar) x*) / sqrt(1 - abar)."""
    calls = []

    def eps(z, step):
        calls.append(int(step[0]))
        a = ab[step].to(z.dtype)[:, None, None]
        return (z - a.sqrt() * target) / (1 - a).sqrt()

    return eps, calls


@pytest.mark.parametrize("sampler,steps", [("ddim", 1), ("ddim", 10), ("ddim", 1000), ("ddpm", 25), ("ddpm", 1000)])
def test_samplers_recover_a_point_mass_exactly(sampler, steps):
    ab = alpha_bar(make_betas("linear"))
    target = torch.randn(1, 3, 300, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    eps, calls = _point_mass_eps(target, ab)
    z = torch.randn(3, 3, 300, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = sample_loop(eps, z, ab, steps, sampler, generator=torch.Generator().manual_seed(4))
    assert len(calls) == steps == nfe(steps)
    np.testing.assert_allclose(out.numpy(), target.expand(3, -1, -1).numpy(), atol=1e-6)


def test_ddim_all_steps_eta_zero_is_deterministic():
    ab = alpha_bar(make_betas("linear"))
    fake = lambda z, step: 0.1 * z + 0.01 * step[:, None, None].to(z.dtype) / 1000  # noqa: E731
    z = torch.randn(2, 3, 300, generator=torch.Generator().manual_seed(0))
    a = sample_loop(fake, z, ab, T_STEPS, "ddim", generator=torch.Generator().manual_seed(1))
    b = sample_loop(fake, z, ab, T_STEPS, "ddim", generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and torch.isfinite(a).all()
    c = sample_loop(fake, z, ab, 50, "ddpm", generator=torch.Generator().manual_seed(1))
    d = sample_loop(fake, z, ab, 50, "ddpm", generator=torch.Generator().manual_seed(2))
    assert not torch.equal(c, d)  # ancestral sampling does draw noise


@pytest.mark.parametrize("steps", [50, pytest.param(T_STEPS, marks=pytest.mark.slow)])  # 2 x T network calls
def test_model_ddim_eta_zero_is_deterministic(steps):
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("nano", objective="diffusion", norm_mean=[0.0, 0.0, 1.0], norm_std=[0.5, 0.5, 0.5])
    model = DiffusionTwin(cfg).eval()
    torch.nn.init.normal_(model.denoiser.final.linear.weight, std=0.02)  # not the zero-init identity
    noise = torch.randn(1, 3, 300, generator=torch.Generator().manual_seed(5))
    r = torch.zeros(1, cfg.r_dim)
    a = model.sample(r, steps=steps, sampler="ddim", noise=noise.clone(), generator=torch.Generator().manual_seed(1))
    b = model.sample(r, steps=steps, sampler="ddim", noise=noise.clone(), generator=torch.Generator().manual_seed(9))
    assert a.shape == (1, 3, 300) and torch.equal(a, b)


def test_model_denoises_in_normalised_units():
    """With the exact point-mass predictor plugged in, sample() returns the point in g."""
    cfg = ModelConfig.from_preset("nano", objective="diffusion", norm_mean=[0.1, -0.2, 1.0], norm_std=[0.3, 0.4, 0.5])
    model = DiffusionTwin(cfg).eval()
    x_star = torch.randn(1, 3, 300, generator=torch.Generator().manual_seed(6))
    eps, _ = _point_mass_eps(model.normalize(x_star), model.alpha_bar)
    model.guided_eps = lambda r, guidance=None, e=None: eps
    out = model.sample(torch.zeros(2, cfg.r_dim), steps=20, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(out.numpy(), x_star.expand(2, -1, -1).numpy(), atol=1e-4)


def test_loss_is_eps_mse_and_registered():
    assert OBJECTIVES["diffusion"] is DiffusionTwin
    cfg = ModelConfig.from_preset("nano", objective="diffusion", p_dgs=1.0)
    model = DiffusionTwin(cfg)
    x = torch.randn(4, 3, 300)
    loss = model(x, torch.Generator().manual_seed(0))
    # zero-init output layer predicts eps = 0, so the loss is E[eps^2] = 1
    assert loss.item() == pytest.approx(1.0, abs=0.05)
    assert model(x, torch.Generator().manual_seed(0)).item() == loss.item()
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.denoiser.parameters())
    assert "alpha_bar" not in model.state_dict()  # derived from cfg.schedule, not stored


def test_training_smoke(tmp_path, tiny_windows):
    from flowfm_edge.training import TrainConfig, load_model, train

    cfg = ModelConfig.from_preset("nano", objective="diffusion", schedule="cosine")
    train(tiny_windows, tmp_path, cfg, TrainConfig(steps=20, batch_size=8, lr=2e-3, warmup=2, log_every=1),
          device="cpu", progress=False)
    rows = np.genfromtxt(tmp_path / "metrics.csv", delimiter=",", names=True)
    assert np.isfinite(rows["loss"]).all()
    assert rows["loss"][-5:].mean() < rows["loss"][:5].mean()
    model, config = load_model(tmp_path)
    assert isinstance(model, DiffusionTwin) and config["model"]["schedule"] == "cosine"
    x = model.sample(torch.zeros(2, cfg.r_dim), steps=4, sampler="ddim", generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 300) and torch.isfinite(x).all()
