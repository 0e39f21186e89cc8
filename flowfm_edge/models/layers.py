"""Building blocks shared by the encoder and the velocity network."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    """Conv1d with kernel = stride = patch: (B, C, L) -> (B, L/patch, D)."""

    def __init__(self, channels: int, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv1d(channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).transpose(1, 2)  # (B, T, D)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, D/H)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, D/H)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def sinusoidal(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal features of ``t`` (B,) in [0, 1] -> (B, dim), as in DiT's TimestepEmbedder."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * scale)[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimeEmbed(nn.Module):
    """Sinusoidal features + MLP: (B,) -> (B, D)."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal(t, self.freq_dim))


def check_guidance(cfg, guidance) -> None:
    """Refuse guidance over r for a model that never learned the r = 0 (unconditional) velocity."""
    if guidance is not None and cfg.p_dgs == 0:
        raise ValueError("guidance mixes the velocity at r with the one at r = 0, but this run was trained with "
                         "p_dgs = 0 and never saw r = 0; sample without guidance (unconditional r comes from the "
                         "run's prior), or train with --p-dgs > 0")


def guide(out0: torch.Tensor, out: torch.Tensor, w) -> torch.Tensor:
    """Guidance: out0 + w (out - out0), out0 the unconditional output; w a float or broadcasting tensor."""
    return out0 + w * (out - out0)


def guided(net, r: torch.Tensor, guidance=None, e: torch.Tensor | None = None):
    """(z, t) -> net(z, t, r, e), or with guidance w: out0 + w (out_r - out0), out0 taken at r = 0.

    Serves any conditional network with the VelocityNet signature: the flow velocity and the
    diffusion twin's noise predictor alike.
    """

    def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = net(z, t, r, e)
        if guidance is None:
            return out
        base = net(z, t, torch.zeros_like(r), e)
        return guide(base, out, guidance)

    return f
