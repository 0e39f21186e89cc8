"""The diffusion twin: FlowFM's encoder and DiT backbone trained as an epsilon-predicting DDPM (docs/design.md#diffusion-twin).

Only the objective and the sampler differ from :class:`~flowfm_edge.models.flowfm.FlowFM`:
the same :class:`Encoder` gives ``r``, the same :class:`VelocityNet` (here the *denoiser*)
predicts the noise ``eps`` from ``(z_t, t = timestep / T, r)``, and DGS drops ``r`` with
probability ``p_dgs``. Time runs the other way round from FlowFM: timestep 0 is (almost)
data, timestep T - 1 (almost) pure noise.

The schedule and the sampler steps below are plain functions of tensors; the samplers take
any callable ``eps(z, timestep) -> eps`` and know nothing of the network.

>>> ab = alpha_bar(make_betas("linear"))
>>> ab.shape, round(float(ab[-1]), 5)
(torch.Size([1000]), 4e-05)
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .config import ModelConfig
from .dit import VelocityNet
from .encoder import Encoder
from .layers import check_guidance, guided
from .prior import PriorMixin
from .views import encoder_view, training_window

T_STEPS = 1000
SAMPLERS = ("ddim", "ddpm")
Eps = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (z (B, C, L), timestep (B,) int) -> eps (B, C, L)


# --- noise schedules ---------------------------------------------------------------------------

def cosine_alpha_bar(t: torch.Tensor, T: int = T_STEPS, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's closed form f(t) / f(0), f(t) = cos^2(((t / T + s) / (1 + s)) * pi / 2), float64."""
    f = lambda u: torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return f(t.double()) / f(torch.zeros((), dtype=torch.float64))


def make_betas(schedule: str = "linear", T: int = T_STEPS) -> torch.Tensor:
    """Betas (T,) float64 for ``schedule``.

    linear: ``linspace(1e-4, 0.02, T)`` (Ho et al.); cosine: ``beta_t = 1 - abar(t+1) / abar(t)``
    from :func:`cosine_alpha_bar`, clipped at 0.999 (Nichol & Dhariwal, 2021).
    """
    if schedule == "linear":
        return torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    if schedule == "cosine":
        ab = cosine_alpha_bar(torch.arange(T + 1, dtype=torch.float64), T)  # (T+1,)
        return torch.clamp(1 - ab[1:] / ab[:-1], max=0.999)
    raise ValueError(f"unknown noise schedule {schedule!r}; choose linear or cosine (ModelConfig.schedule)")


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """Cumulative signal fraction abar_t = prod_{s <= t} (1 - beta_s): (T,) -> (T,)."""
    return torch.cumprod(1 - betas, dim=0)


def timesteps(steps: int, T: int = T_STEPS) -> list[int]:
    """``steps`` distinct timesteps from T - 1 down to 0, evenly spaced; ``steps = T`` gives every one."""
    if not 1 <= steps <= T:
        raise ValueError(f"diffusion sampler steps must lie in 1..{T}, got {steps}")
    if steps == 1:
        return [T - 1]
    return [round((T - 1) * (1 - i / (steps - 1))) for i in range(steps)]


# --- sampler steps (closed forms) --------------------------------------------------------------

def predict_z0(z_t: torch.Tensor, eps: torch.Tensor, ab_t: torch.Tensor) -> torch.Tensor:
    """z0_hat = (z_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
    return (z_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()


def ddim_step(z_t, eps, ab_t, ab_prev, eta: float = 0.0, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One DDIM update (Song et al., eq. 12) from abar_t to abar_prev.

    z_prev = sqrt(abar_prev) z0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma noise, with
    sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev). eta = 0 is
    deterministic; eta = 1 is DDPM's ancestral step on the same timesteps.
    """
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).sqrt()
    z_prev = ab_prev.sqrt() * predict_z0(z_t, eps, ab_t) + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
    if eta > 0:
        z_prev = z_prev + sigma * noise
    return z_prev


def ddpm_step(z_t, eps, ab_t, ab_prev, noise: torch.Tensor) -> torch.Tensor:
    """One DDPM ancestral update (Ho et al., Alg. 2) with beta_t = 1 - abar_t / abar_prev (respaced when skipping).

    z_prev = (z_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sigma_t noise, with the
    posterior variance sigma_t^2 = beta_t (1 - abar_prev) / (1 - abar_t).
    """
    beta = 1 - ab_t / ab_prev
    mean = (z_t - beta / (1 - ab_t).sqrt() * eps) / (1 - beta).sqrt()
    return mean + (beta * (1 - ab_prev) / (1 - ab_t)).sqrt() * noise


def sample_loop(eps_fn: Eps, z: torch.Tensor, ab: torch.Tensor, steps: int, sampler: str = "ddim", eta: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise ``z`` (B, C, L) from timestep T - 1 to data with ``steps`` calls of ``eps_fn``.

    ``ab`` (T,) is abar of the schedule. ``sampler="ddpm"`` is ancestral sampling (``steps = T``
    is the original 1000-step DDPM); ``"ddim"`` uses ``eta`` (0: deterministic).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown diffusion sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    ab = ab.to(device=z.device, dtype=torch.float64)
    seq = timesteps(steps, len(ab))
    one = torch.ones((), dtype=torch.float64, device=z.device)
    for i, t in enumerate(seq):
        ab_t = ab[t]
        ab_prev = ab[seq[i + 1]] if i + 1 < len(seq) else one  # abar_{-1} = 1: the last step lands on data
        eps = eps_fn(z, torch.full((z.shape[0],), t, device=z.device, dtype=torch.long))
        stochastic = sampler == "ddpm" or eta > 0
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype) if stochastic else None
        if sampler == "ddpm":
            z_new = ddpm_step(z.double(), eps.double(), ab_t, ab_prev, noise.double())
        else:
            z_new = ddim_step(z.double(), eps.double(), ab_t, ab_prev, eta, None if noise is None else noise.double())
        z = z_new.to(z.dtype)
    return z


def nfe(steps: int, guidance: float | None = None) -> int:
    """Denoiser evaluations for ``steps`` sampler steps (twice as many with guidance)."""
    return steps * (1 if guidance is None else 2)


# --- the model ---------------------------------------------------------------------------------

class DiffusionTwin(PriorMixin, nn.Module):
    """Encoder + epsilon-predicting DiT denoiser, trained jointly with the DDPM loss; raw windows in g in and out."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.T = T_STEPS
        self.register_buffer("mean", torch.tensor(cfg.norm_mean, dtype=torch.float32).view(1, -1, 1))
        self.register_buffer("std", torch.tensor(cfg.norm_std, dtype=torch.float32).view(1, -1, 1))
        # Derived from cfg.schedule, so kept out of the checkpoint.
        self.register_buffer("alpha_bar", alpha_bar(make_betas(cfg.schedule, self.T)).float(), persistent=False)
        self.encoder = Encoder(cfg)
        self.denoiser = VelocityNet(cfg)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw windows (B, 3, 300) in g -> r (B, r_dim)."""
        return self.encoder(self.normalize(x))

    def forward(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The joint epsilon-prediction loss on raw windows x0 (B, 3, 300); a scalar.

        z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps with timestep ~ U{0..T-1};
        L = ||eps_theta(z_t, timestep / T, r) - eps||^2, r = f_phi(x0) dropped to 0 with p_dgs.
        """
        x0 = training_window(x0, self.cfg, generator)  # as FlowFM's
        z0 = self.normalize(x0)
        B = z0.shape[0]
        view = encoder_view(x0, self.cfg, generator)  # the same training view as FlowFM's
        r = self.encoder(self.normalize(view), self.cfg.view_mask, generator)  # (B, r_dim)
        keep = (torch.rand(B, generator=generator, device=z0.device) >= self.cfg.p_dgs).to(r.dtype)
        r = r * keep[:, None]  # DGS
        step = torch.randint(0, self.T, (B,), generator=generator, device=z0.device)
        eps = torch.randn(z0.shape, generator=generator, device=z0.device)
        ab = self.alpha_bar[step][:, None, None]  # (B, 1, 1)
        zt = ab.sqrt() * z0 + (1 - ab).sqrt() * eps
        return ((self.denoiser(zt, step.float() / self.T, r) - eps) ** 2).mean()

    def guided_eps(self, r: torch.Tensor, guidance: float | None = None, e: torch.Tensor | None = None) -> Eps:
        """Noise predictor (z, timestep) -> eps for the samplers; guidance w gives eps0 + w (eps_r - eps0)."""
        if e is None:
            check_guidance(self.cfg, guidance)
        eps = guided(self.denoiser, r, guidance, e)
        return lambda z, step: eps(z, step.float() / self.T)

    @torch.no_grad()
    def sample(
        self,
        r: torch.Tensor,
        steps: int = 50,
        sampler: str = "ddim",
        guidance: float | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        eta: float = 0.0,
        e: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate windows (B, 3, 300) in g from r (B, r_dim); r = 0 is unconditional.

        ``sampler="ddpm", steps=1000`` is DDPM ancestral sampling; ``"ddim"`` takes any step count.
        """
        shape = (r.shape[0], self.cfg.channels, self.cfg.window)
        z = torch.randn(shape, generator=generator, device=r.device) if noise is None else noise
        z = sample_loop(self.guided_eps(r, guidance, e), z, self.alpha_bar, steps, sampler, eta, generator)
        return self.denormalize(z)
