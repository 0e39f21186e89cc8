"""FlowFM: encoder + conditional flow-matching generator, trained jointly (docs/design.md#model).

Both networks work in normalised units ``z = (x - mean) / std``; :meth:`FlowFM.embed` and
:meth:`FlowFM.sample` take and return raw windows in g, so every exported graph does too.
"""

from __future__ import annotations

import torch
from torch import nn

from ..solvers import integrate
from .config import ModelConfig
from .dit import VelocityNet
from .encoder import Encoder
from .layers import check_guidance, guided
from .prior import PriorMixin
from .views import encoder_view, training_window

NOISE_SHIFT = 3.0  # noise-heavy times: t = u / (s - (s - 1) u), s = 3 halves the median t to 0.25


def sample_time(cfg: ModelConfig, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """Training times t (n,) in [0, 1] (t = 0 noise, 1 data) drawn as ``cfg.time_sampling`` says."""
    if cfg.time_sampling == "logit-normal":
        return torch.sigmoid(cfg.time_mu + torch.randn(n, generator=generator, device=device))
    u = torch.rand(n, generator=generator, device=device)
    if cfg.time_sampling == "noise-heavy":
        return u / (NOISE_SHIFT - (NOISE_SHIFT - 1) * u)
    return u


class FlowFM(PriorMixin, nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.register_buffer("mean", torch.tensor(cfg.norm_mean, dtype=torch.float32).view(1, -1, 1))
        self.register_buffer("std", torch.tensor(cfg.norm_std, dtype=torch.float32).view(1, -1, 1))
        self.encoder = Encoder(cfg)
        self.velocity = VelocityNet(cfg)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw windows (B, 3, 300) in g -> r (B, r_dim)."""
        return self.encoder(self.normalize(x))

    def sample_time(self, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
        return sample_time(self.cfg, n, generator, device)

    def encode_view(self, x1: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """r (B, r_dim) of the encoder's training view of raw windows x1 (models/views.py)."""
        view = encoder_view(x1, self.cfg, generator)
        return self.encoder(self.normalize(view), self.cfg.view_mask, generator)

    def forward(self, x1: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The joint conditional flow-matching loss on raw windows x1 (B, 3, 300); a scalar.

        Gradients reach the encoder through ``r`` and the generator through ``v``.
        """
        x1 = training_window(x1, self.cfg, generator)  # both views rotate together when asked
        z1 = self.normalize(x1)
        B = z1.shape[0]
        r = self.encode_view(x1, generator)  # (B, r_dim), of the encoder's view
        keep = (torch.rand(B, generator=generator, device=z1.device) >= self.cfg.p_dgs).to(r.dtype)
        r = r * keep[:, None]  # DGS: r -> 0 with probability p_dgs per sample
        z0 = torch.randn(z1.shape, generator=generator, device=z1.device)
        t = self.sample_time(B, generator, z1.device)
        zt = (1 - t[:, None, None]) * z0 + t[:, None, None] * z1
        v = self.velocity(zt, t, r)
        return ((v - (z1 - z0)) ** 2).mean()

    def guided_velocity(self, r: torch.Tensor, guidance: float | torch.Tensor | None = None, e: torch.Tensor | None = None):
        """Velocity callable (z, t) -> v for the solvers; guidance w gives v0 + w (v_r - v0)."""
        if e is None:
            check_guidance(self.cfg, guidance)
        return guided(self.velocity, r, guidance, e)

    @torch.no_grad()
    def sample(
        self,
        r: torch.Tensor,
        steps: int = 8,
        solver: str = "euler",
        guidance: float | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        e: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate windows (B, 3, 300) in g from r (B, r_dim); r = 0 is unconditional."""
        shape = (r.shape[0], self.cfg.channels, self.cfg.window)
        z0 = torch.randn(shape, generator=generator, device=r.device) if noise is None else noise
        z1 = integrate(self.guided_velocity(r, guidance, e), z0, steps, solver, generator=generator)
        return self.denormalize(z1)
