"""The encoder's training view: what the encoder sees differs from the window the generator rebuilds.

With the identical window on both sides, the generator can rebuild it from its own noisy
input and barely needs ``r``. As in SODA and masked / denoising autoencoders, the encoder
sees an altered view of the window during training (never at inference):

- ``rotate_deg``: rotation of the three axes by a random angle in [0, rotate_deg] about a
  random axis (|a| unchanged, so gravity and intensity survive; small angles keep posture);
- ``scale``: per-axis gain drawn from N(1, scale^2);
- ``shift``: a circular time shift of up to ``shift`` samples either way;
- ``mask``: that fraction of the encoder's patch tokens dropped (:class:`~.encoder.Encoder`).

``augment_rotate_deg`` instead rotates the training window itself, before both views: the
encoder sees and the generator rebuilds the same rotated window, as SSL-Wearables pretrains
with rotation. Either rotation draws its angle uniformly in [0, deg] about a uniformly random
axis; at 180 degrees that reaches every rotation, though not with the uniform (Haar) measure,
which weighs large angles more.

All randomness comes from the caller's generator, so training stays exactly resumable.

>>> import torch
>>> x = torch.randn(4, 3, 300)
>>> v = rotate(x, 90.0, torch.Generator().manual_seed(0))
>>> bool(torch.allclose(v.norm(dim=1), x.norm(dim=1), atol=1e-5))
True
"""

from __future__ import annotations

import math

import torch


def rotation_matrices(n: int, max_deg: float, generator: torch.Generator | None, device=None) -> torch.Tensor:
    """Rotations (n, 3, 3) about uniformly random axes by angles uniform in [0, max_deg] (Rodrigues)."""
    axis = torch.randn(n, 3, generator=generator, device=device)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp(min=1e-8)
    angle = torch.rand(n, generator=generator, device=device) * math.radians(max_deg)
    kx, ky, kz = axis.unbind(1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=1).view(n, 3, 3)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3, device=device).expand(n, 3, 3) + s * K + (1 - c) * (K @ K)


def rotate(x: torch.Tensor, max_deg: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Windows x (B, 3, L) in g, each rotated by its own random rotation: (B, 3, L)."""
    return rotation_matrices(x.shape[0], max_deg, generator, x.device).to(x.dtype) @ x


def scale_axes(x: torch.Tensor, sd: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-window, per-axis gains from N(1, sd^2): (B, 3, L)."""
    gain = 1 + sd * torch.randn(x.shape[0], x.shape[1], 1, generator=generator, device=x.device, dtype=x.dtype)
    return x * gain


def shift_time(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each window circularly shifted by its own integer in [-max_shift, max_shift]: (B, C, L)."""
    B, _, L = x.shape
    s = torch.randint(-max_shift, max_shift + 1, (B,), generator=generator, device=x.device)
    idx = (torch.arange(L, device=x.device)[None] - s[:, None]) % L  # (B, L)
    return x.gather(2, idx[:, None].expand_as(x))


def training_window(x: torch.Tensor, cfg, generator: torch.Generator | None = None) -> torch.Tensor:
    """The window both views start from: raw windows x (B, 3, L) in g, rotated when ``cfg.augment_rotate_deg`` > 0."""
    return rotate(x, cfg.augment_rotate_deg, generator) if cfg.augment_rotate_deg > 0 else x


def encoder_view(x: torch.Tensor, cfg, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training view of raw windows x (B, 3, L) in g under ``cfg`` (a ModelConfig); x itself when none is set."""
    if cfg.view_rotate_deg > 0:
        x = rotate(x, cfg.view_rotate_deg, generator)
    if cfg.view_scale > 0:
        x = scale_axes(x, cfg.view_scale, generator)
    if cfg.view_shift > 0:
        x = shift_time(x, cfg.view_shift, generator)
    return x
