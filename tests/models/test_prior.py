"""The Gaussian-mixture prior over r: deterministic sampling, moments, the BIC fit, FlowFM.unconditional_r."""

import numpy as np
import pytest
import torch

from flowfm_edge.models import FlowFM, ModelConfig
from flowfm_edge.models.prior import GaussianMixturePrior, fit_prior


def two_component_prior(d=3):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(2, d, d, generator=g)
    cov = A @ A.transpose(1, 2) + 0.5 * torch.eye(d)
    return GaussianMixturePrior(torch.tensor([0.3, 0.7]), torch.tensor([[-3.0] * d, [2.0] * d]),
                                torch.linalg.cholesky(cov))


def test_sample_is_a_function_of_u_and_eps():
    prior = two_component_prior()
    u = torch.tensor([0.0, 0.29, 0.31, 0.999999])
    eps = torch.zeros(4, 3)
    r = prior.sample(u, eps)
    assert r.shape == (4, 3) and r.dtype == torch.float32
    torch.testing.assert_close(r, prior.means[[0, 0, 1, 1]])  # u below 0.3 picks component 0
    eps = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(prior.sample(u, eps), prior.sample(u, eps), rtol=0, atol=0)
    torch.testing.assert_close(prior.sample(u, eps)[2], prior.means[1] + prior.chol[1] @ eps[2])
    with pytest.raises(ValueError, match=r"expected \(B,\) and \(B, 3\)"):
        prior.sample(u, eps[:, :2])


def test_empirical_moments_approach_the_mixture():
    prior = two_component_prior()
    r = prior.draw(40_000, generator=torch.Generator().manual_seed(0)).double()
    assert r.shape == (40_000, 3)
    torch.testing.assert_close(r.mean(0), prior.mixture_mean(), atol=0.06, rtol=0)
    cov = torch.cov(r.T)
    torch.testing.assert_close(cov, prior.mixture_covariance(), atol=0.15 * prior.mixture_covariance().abs().max().item(),
                               rtol=0)


def test_bic_fit_finds_clusters_and_regularises():
    rng = np.random.default_rng(0)
    centres = np.array([[-6.0] * 8, [0.0] * 8, [6.0] * 8])
    r = (centres[rng.integers(0, 3, 600)] + rng.standard_normal((600, 8))).astype(np.float32)
    prior, info = fit_prior(r)
    assert prior.components >= 3 and info["components"] == prior.components and info["r_dim"] == 8
    assert info["n_windows"] == 600 and np.isfinite(info["log_likelihood"]) and info["grid"]
    assert min(g["bic"] for g in info["grid"]) == info["bic"]
    torch.testing.assert_close(prior.mixture_mean(), torch.from_numpy(r.mean(0)).double(), atol=0.05, rtol=0)
    # fewer windows than dimensions: the regularised full covariance stays positive definite
    few = rng.standard_normal((10, 32)).astype(np.float32)
    prior, _ = fit_prior(few, components=(1,), covariance_types=("full",))
    assert torch.isfinite(prior.chol).all() and (torch.diagonal(prior.chol, dim1=1, dim2=2) > 0).all()
    with pytest.raises(ValueError, match="finite"):
        fit_prior(np.full((5, 4), np.nan))


def test_unconditional_r_with_and_without_prior():
    model = FlowFM(ModelConfig.from_preset("nano"))
    assert model.prior is None
    assert torch.equal(model.unconditional_r(4), torch.zeros(4, 64))
    prior = GaussianMixturePrior(torch.ones(1), torch.full((1, 64), 2.0), 0.1 * torch.eye(64)[None])
    model.attach_prior(prior)
    a = model.unconditional_r(5, generator=torch.Generator().manual_seed(3))
    b = model.unconditional_r(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 64) and torch.equal(a, b) and abs(a.mean().item() - 2.0) < 0.05
    assert not any(k.startswith("prior") or "_prior" in k for k in model.state_dict())  # saved beside the weights
    with pytest.raises(ValueError, match="r of dim 3, the model's r_dim is 64"):
        model.attach_prior(two_component_prior())
