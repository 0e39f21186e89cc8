"""A density model over representations r: the Gaussian mixture that unconditional generation draws r from.

Unconditional generation as in RCG (Li et al., "Return of Unconditional Generation"): draw a
representation from a model of the training set's r, then generate conditioned on it,
instead of generating from r = 0. The density model here is a Gaussian mixture fitted with
scikit-learn; :class:`GaussianMixturePrior` holds it as torch buffers and samples it as a
deterministic function of uniforms ``u`` and standard normals ``eps``, so the same
``(u, eps)`` give the same r in PyTorch and in the bundle's numpy runtime
(:mod:`flowfm_edge.bundle.prior`).

>>> import numpy as np, torch
>>> r = np.random.default_rng(0).standard_normal((400, 8)).astype(np.float32)
>>> prior, info = fit_prior(r, components=(1, 2))
>>> prior.draw(5, generator=torch.Generator().manual_seed(0)).shape
torch.Size([5, 8])
>>> info["components"], info["covariance_type"]
(1, 'diag')
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

# The grid BIC chooses from: components x covariance types. Each covariance type's sweep
# stops at the first K whose BIC is worse than the previous one's (BIC's parameter penalty
# grows linearly in K), which keeps a fit on 4,400 x 192 to a few seconds on one core.
COMPONENTS = (1, 2, 4, 8, 16)
COVARIANCE_TYPES = ("full", "diag")
# Added to every covariance diagonal, relative to the mean per-dimension variance of r, so
# the regularisation does not depend on the encoder's output scale and full covariances stay
# positive definite when there are fewer windows than dimensions.
REG_COVAR = 1e-3


class GaussianMixturePrior(nn.Module):
    """p(r) = sum_k weights[k] N(r; means[k], chol[k] chol[k]^T).

    Buffers: ``weights`` (K,), ``means`` (K, r_dim), ``chol`` (K, r_dim, r_dim) lower
    triangular Cholesky factors (diagonal for a diagonal-covariance fit).

    >>> prior = GaussianMixturePrior(torch.tensor([0.25, 0.75]), torch.tensor([[0.0, 0.0], [10.0, 10.0]]),
    ...                              2 * torch.eye(2).repeat(2, 1, 1))
    >>> prior.sample(torch.tensor([0.1, 0.9]), torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    tensor([[ 2.,  0.],
            [10.,  8.]])
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, chol: torch.Tensor):
        super().__init__()
        K, d = means.shape
        if weights.shape != (K,) or chol.shape != (K, d, d):
            raise ValueError(f"prior shapes disagree: weights {tuple(weights.shape)}, means {tuple(means.shape)}, "
                             f"chol {tuple(chol.shape)}; expected (K,), (K, r_dim), (K, r_dim, r_dim)")
        self.register_buffer("weights", weights.detach().float().contiguous())
        self.register_buffer("means", means.detach().float().contiguous())
        self.register_buffer("chol", chol.detach().float().contiguous())

    def extra_repr(self) -> str:
        return f"components={self.components}, r_dim={self.r_dim}"

    @property
    def components(self) -> int:
        return self.means.shape[0]

    @property
    def r_dim(self) -> int:
        return self.means.shape[1]

    def sample(self, u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """u (B,) in [0, 1), eps (B, r_dim) standard normal -> r (B, r_dim) float32.

        k = searchsorted(cumsum(weights), u) picks the component; r = means[k] + chol[k] @ eps.
        Computed in float64 so that numpy (:func:`flowfm_edge.bundle.prior.sample_prior`) agrees to
        the last float32 bit.
        """
        if u.ndim != 1 or eps.shape != (len(u), self.r_dim):
            raise ValueError(f"u has shape {tuple(u.shape)} and eps {tuple(eps.shape)}; expected (B,) and (B, {self.r_dim})")
        cdf = torch.cumsum(self.weights.double(), 0)
        cdf = (cdf / cdf[-1]).to(u.device)
        k = torch.searchsorted(cdf, u.double().contiguous(), right=True).clamp_(max=self.components - 1)  # (B,)
        eps = eps.double()
        means, chol = self.means.double().to(u.device), self.chol.double().to(u.device)
        r = torch.empty_like(eps)  # (B, r_dim)
        for j in torch.unique(k).tolist():  # one matmul per component, not a (B, r_dim, r_dim) gather
            rows = k == j
            r[rows] = means[j] + eps[rows] @ chol[j].T
        return r.float()

    def draw(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """n draws r (n, r_dim): u then eps from ``generator`` (on its device, else ``device``)."""
        device = generator.device if generator is not None else device
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        eps = torch.randn(n, self.r_dim, generator=generator, device=device)
        return self.sample(u, eps)

    def mixture_mean(self) -> torch.Tensor:
        """E[r] (r_dim,) float64."""
        w = self.weights.double() / self.weights.double().sum()
        return w @ self.means.double()

    def mixture_covariance(self) -> torch.Tensor:
        """Cov[r] (r_dim, r_dim) float64: sum_k w_k (L_k L_k^T + mu_k mu_k^T) - E[r] E[r]^T."""
        w = self.weights.double() / self.weights.double().sum()
        L, mu = self.chol.double(), self.means.double()
        second = torch.einsum("k,kij,klj->il", w, L, L) + torch.einsum("k,ki,kj->ij", w, mu, mu)
        m = self.mixture_mean()
        return second - torch.outer(m, m)

    def arrays(self) -> dict[str, np.ndarray]:
        """weights (K,), means (K, r_dim), chol (K, r_dim, r_dim) as float32 numpy arrays."""
        return {name: getattr(self, name).detach().cpu().numpy().astype(np.float32) for name in ("weights", "means", "chol")}


def _cholesky(gmm) -> np.ndarray:
    """Cholesky factors (K, d, d) of a fitted sklearn GaussianMixture's covariances."""
    if gmm.covariance_type == "full":
        return np.linalg.cholesky(gmm.covariances_)
    if gmm.covariance_type == "diag":
        return np.stack([np.diag(np.sqrt(v)) for v in gmm.covariances_])
    raise ValueError(f"covariance type {gmm.covariance_type!r} is not supported; use full or diag")


def fit_prior(r: np.ndarray, components=COMPONENTS, covariance_types=COVARIANCE_TYPES, reg_covar: float = REG_COVAR,
              seed: int = 0) -> tuple[GaussianMixturePrior, dict]:
    """Fit Gaussian mixtures to r (N, r_dim) over the grid and keep the one of lowest BIC.

    ``components`` are tried in increasing order for each covariance type, stopping at the
    first K that does not lower that type's BIC.

    Returns the prior and its description: components, covariance_type, reg_covar (relative
    and absolute), log_likelihood (mean per window, nats), bic, the grid's BIC table and the
    fitting time.
    """
    from sklearn.mixture import GaussianMixture

    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2 or len(r) < 2 or not np.isfinite(r).all():
        raise ValueError(f"r has shape {r.shape} (or holds NaN/inf); a prior needs finite (N >= 2, r_dim) representations")
    reg = reg_covar * max(float(r.var(axis=0).mean()), 1e-12)
    t0 = time.perf_counter()
    grid, best = [], None
    for cov in covariance_types:
        previous = np.inf
        for K in sorted(components):
            if K > len(r):
                break
            t = time.perf_counter()
            gmm = GaussianMixture(K, covariance_type=cov, reg_covar=reg, max_iter=200, tol=1e-3, random_state=seed).fit(r)
            row = {"components": K, "covariance_type": cov, "bic": float(gmm.bic(r)),
                   "log_likelihood": float(gmm.score(r)), "converged": bool(gmm.converged_),
                   "iterations": int(gmm.n_iter_), "seconds": round(time.perf_counter() - t, 3)}
            grid.append(row)
            if best is None or row["bic"] < best[0]["bic"]:
                best = (row, gmm)
            if row["bic"] >= previous:
                break
            previous = row["bic"]
    if best is None:
        raise ValueError(f"no candidate of components={components} fits {len(r)} windows")
    row, gmm = best
    prior = GaussianMixturePrior(torch.from_numpy(gmm.weights_), torch.from_numpy(gmm.means_),
                                 torch.from_numpy(_cholesky(gmm)))
    info = {"kind": "gaussian-mixture", "components": row["components"], "covariance_type": row["covariance_type"],
            "r_dim": int(r.shape[1]), "n_windows": int(len(r)), "reg_covar": reg_covar, "reg_covar_absolute": reg,
            "log_likelihood": row["log_likelihood"], "bic": row["bic"], "selection": "lowest BIC; each covariance type's sweep over K stops when BIC rises",
            "grid": grid,
            "fit_seconds": round(time.perf_counter() - t0, 3)}
    return prior, info


class PriorMixin:
    """The run's prior over r on a generative model (FlowFM and its diffusion twin alike).

    The model needs ``cfg.r_dim`` and a ``mean`` buffer (for the device).
    """

    # The representation prior is kept out of the module tree: it is saved beside the weights
    # (prior.safetensors), so state_dict, the exported graphs and DDP never see it.
    @property
    def prior(self) -> GaussianMixturePrior | None:
        """The run's density model over r (from ``prior.safetensors``), or None."""
        return self.__dict__.get("_prior")

    def attach_prior(self, prior: GaussianMixturePrior | None) -> "PriorMixin":
        """Use ``prior`` for :meth:`unconditional_r` (None detaches it); returns self."""
        if prior is not None and prior.r_dim != self.cfg.r_dim:
            raise ValueError(f"the prior models r of dim {prior.r_dim}, the model's r_dim is {self.cfg.r_dim}")
        self.__dict__["_prior"] = prior
        return self

    @torch.no_grad()
    def unconditional_r(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """r (n, r_dim) for unconditional generation: drawn from the prior when the run has one, zeros otherwise.

        >>> from flowfm_edge.models import ModelConfig
        >>> from flowfm_edge.models import FlowFM
        >>> FlowFM(ModelConfig.from_preset("nano")).unconditional_r(3).abs().sum().item()  # no prior: r = 0
        0.0
        """
        if self.prior is None:
            return torch.zeros(n, self.cfg.r_dim, device=self.mean.device)
        return self.prior.draw(n, generator, device=self.mean.device).to(self.mean.device)
