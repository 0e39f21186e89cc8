"""SSL-Wearables-style baseline: a 1-D ResNet-V2 trained by multi-task self-supervision (docs/design.md#baselines).

Re-implemented from the paper's description (Yuan et al., "Self-supervised learning for
human activity recognition using 700,000 person-days of wearable data"): five stages of
``Conv - [pre-activation ResBlock]^m - BN - ReLU - anti-aliased downsampling``, kernel 5,
circular padding, which shrink a 10 s window (300 samples) to one 1024-d feature
(300 / 2 / 2 / 5 / 5 / 3 = 1). Self-supervision: each window is time-reversed (arrow of
time), cut into 4 segments and shuffled (permutation) and time-warped, each independently
with p = 0.5; one binary head per task says whether it was applied.

>>> from flowfm_edge.models import ModelConfig
>>> m = MTLResNet(ModelConfig(objective="mtl"))
>>> m.embed(torch.zeros(2, 3, 300)).shape
torch.Size([2, 1024])
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import MTL_FEATURE_DIM, ModelConfig

FEATURE_DIM = MTL_FEATURE_DIM
TASKS = ("arrow_of_time", "permutation", "time_warp")
# Stages for 10 s at 30 Hz: (channels, residual blocks, downsampling factor, blur order).
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (64, 2, 2, 2),
    (128, 2, 2, 2),
    (256, 2, 5, 1),
    (512, 2, 5, 1),
    (FEATURE_DIM, 0, 3, 1),
)
KERNEL = 5


def _conv(c_in: int, c_out: int) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, KERNEL, padding=KERNEL // 2, bias=False, padding_mode="circular")


class BlurPool(nn.Module):
    """Anti-aliased downsampling by ``factor``: a depthwise B-spline low-pass filter with stride.

    The filter is a box of width ``factor`` convolved with itself ``order`` times (order 0 is
    average pooling, 1 a triangle), normalised to unit gain: (B, C, L) -> (B, C, L / factor).
    """

    def __init__(self, channels: int, factor: int, order: int):
        super().__init__()
        if order * (factor - 1) % 2:
            raise ValueError(f"blur pool: order {order} x (factor {factor} - 1) must be even for symmetric padding")
        box = np.ones(factor)
        kernel = box
        for _ in range(order):
            kernel = np.convolve(kernel, box)
        kernel = torch.from_numpy(kernel / kernel.sum()).float()  # (order * (factor - 1) + factor,)
        self.factor, self.pad = factor, order * (factor - 1) // 2
        self.register_buffer("kernel", kernel.view(1, 1, -1).repeat(channels, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.kernel, stride=self.factor, padding=self.pad, groups=x.shape[1])


class ResBlockV2(nn.Module):
    """Pre-activation residual block (He et al., 2016): x + Conv(ReLU(BN(Conv(ReLU(BN(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm1d(channels), _conv(channels, channels)
        self.bn2, self.conv2 = nn.BatchNorm1d(channels), _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.bn1(x)))
        return x + self.conv2(F.relu(self.bn2(h)))


class ResNet1D(nn.Module):
    """Normalised window (B, 3, 300) -> feature (B, 1024); about 10.46M parameters."""

    def __init__(self, channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for c_out, blocks, factor, order in STAGES:
            layers += [_conv(c_in, c_out), *(ResBlockV2(c_out) for _ in range(blocks)),
                       nn.BatchNorm1d(c_out), nn.ReLU(inplace=True), BlurPool(c_out, factor, order)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).flatten(1)  # (B, 1024, 1) -> (B, 1024)


# --- the three pretext transforms, batched; each returns (x (B, C, L), applied (B,) bool) ---------

def _coin(B: int, p: float, generator, device) -> torch.Tensor:
    return torch.rand(B, generator=generator, device=device) < p


def arrow_of_time(x: torch.Tensor, p: float = 0.5, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Reverse time in a random half of the windows."""
    flip = _coin(x.shape[0], p, generator, x.device)
    return torch.where(flip[:, None, None], x.flip(-1), x), flip


def permute_segments(x: torch.Tensor, p: float = 0.5, segments: int = 4, min_len: int = 10,
                     generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut windows at random points into ``segments`` pieces (each >= ``min_len``) and shuffle them (never in order)."""
    B, _, L = x.shape
    apply = _coin(B, p, generator, x.device)
    out = x.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        # cut points: sorted draws from the free length, then shifted so every piece keeps min_len
        free = torch.randint(0, L - segments * min_len + 1, (segments - 1,), generator=generator, device=x.device)
        cuts = [0, *(free.sort().values + min_len * torch.arange(1, segments, device=x.device)).tolist(), L]
        pieces = [x[i, :, cuts[k] : cuts[k + 1]] for k in range(segments)]
        order = torch.randperm(segments, generator=generator, device=x.device)
        if bool((order == torch.arange(segments, device=x.device)).all()):
            order = order.roll(1)
        out[i] = torch.cat([pieces[k] for k in order.tolist()], dim=-1)
    return out, apply


def time_warp(x: torch.Tensor, p: float = 0.5, sigma: float = 0.2, knots: int = 4,
              generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample windows along a smooth random time map: local speed 1 + sigma * noise at ``knots`` + 2 points.

    The speed curve is interpolated linearly between knots, integrated to a monotone map
    from [0, L - 1] onto itself, and the signal is read along it by linear interpolation.
    """
    B, C, L = x.shape
    apply = _coin(B, p, generator, x.device)
    speed_knots = (1 + sigma * torch.randn(B, 1, knots + 2, generator=generator, device=x.device)).clamp(min=0.1)
    speed = F.interpolate(speed_knots, size=L, mode="linear", align_corners=True)[:, 0]  # (B, L)
    pos = torch.cumsum(speed, dim=-1) - speed[:, :1]
    pos = pos / pos[:, -1:] * (L - 1)  # (B, L) monotone, 0 -> L - 1
    lo = pos.floor().long().clamp(max=L - 2)
    frac = (pos - lo)[:, None]  # (B, 1, L)
    take = lambda idx: torch.gather(x, 2, idx[:, None].expand(B, C, L))  # noqa: E731
    warped = take(lo) * (1 - frac) + take(lo + 1) * frac
    return torch.where(apply[:, None, None], warped, x), apply


class MTLResNet(nn.Module):
    """ResNet-V2 encoder + one binary head per pretext task; raw windows in g in, 1024-d features out.

    ``cfg.r_dim`` is set to 1024 (the feature width is fixed by the architecture) so the saved
    config describes the model; ``preset``, ``dim``, ``depth`` and ``heads`` are not used.
    """

    def __init__(self, cfg: ModelConfig, p: float = 0.5):
        super().__init__()
        if cfg.window != 300 or cfg.channels != 3:
            raise ValueError(f"the SSL-Wearables ResNet is built for (3, 300) windows (10 s at 30 Hz), "
                             f"got ({cfg.channels}, {cfg.window}); resample the data to the window contract")
        cfg.r_dim = FEATURE_DIM
        self.cfg, self.p = cfg, p
        self.register_buffer("mean", torch.tensor(cfg.norm_mean, dtype=torch.float32).view(1, -1, 1))
        self.register_buffer("std", torch.tensor(cfg.norm_std, dtype=torch.float32).view(1, -1, 1))
        self.encoder = ResNet1D(cfg.channels)
        self.heads = nn.ModuleDict({task: nn.Linear(FEATURE_DIM, 1) for task in TASKS})

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw windows (B, 3, 300) in g -> feature (B, 1024)."""
        return self.encoder(self.normalize(x))

    def augment(self, z: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the pretext transforms: z (B, C, L) -> (transformed z, labels (B, 3) float, 1 = applied)."""
        z, warp = time_warp(z, self.p, generator=generator)
        z, perm = permute_segments(z, self.p, generator=generator)
        z, flip = arrow_of_time(z, self.p, generator=generator)
        labels = {"arrow_of_time": flip, "permutation": perm, "time_warp": warp}
        return z, torch.stack([labels[task] for task in TASKS], dim=1).float()

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The summed binary cross-entropy of the three pretext heads on raw windows x (B, 3, 300); a scalar."""
        z, labels = self.augment(self.normalize(x), generator)
        h = self.encoder(z)  # (B, 1024)
        logits = torch.cat([self.heads[task](h) for task in TASKS], dim=1)  # (B, 3)
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(0).sum()
