"""Model configuration and the size presets, named in one place (SPEC 3)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ..data.contract import WINDOW_LEN

# name: (dim, depth, heads). nano is for tests and CI, tiny is the edge default,
# small is the paper-scale model.
PRESETS: dict[str, tuple[int, int, int]] = {
    "nano": (64, 2, 2),
    "tiny": (192, 4, 3),
    "small": (384, 12, 6),
}

TIME_SAMPLINGS = ("uniform", "logit-normal", "noise-heavy")
R_NORMS = ("none", "layernorm", "l2")
# What the encoder's patch embedding reads (models/encoder.py): the normalised axes; plus |a| - 1 g;
# or the axes less their window mean (gravity and any offset removed).
ENCODER_INPUTS = ("xyz", "xyz+mag", "xyz-mean")

MTL_FEATURE_DIM = 1024  # the SSL-Wearables ResNet's feature width (models/resnet.py)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a FlowFM (or a twin) exactly; saved next to every checkpoint."""

    preset: str = "nano"
    dim: int = 64
    depth: int = 2
    heads: int = 2
    patch: int = 10
    window: int = WINDOW_LEN
    channels: int = 3
    r_dim: int = 64
    mlp_ratio: float = 4.0
    p_dgs: float = 0.5  # probability of replacing r by zeros per sample during training
    time_sampling: str = "uniform"  # uniform, logit-normal (mean time_mu, sd 1) or noise-heavy
    time_mu: float = 0.0  # logit-normal mean: < 0 puts more training times near the noise (t = 0)
    r_norm: str = "none"  # none, layernorm or l2 (scaled to norm sqrt(r_dim)): a bottleneck on r
    # The encoder's training view (models/views.py); all 0 = it sees the window the generator rebuilds.
    view_mask: float = 0.0  # fraction of the encoder's patch tokens dropped
    view_rotate_deg: float = 0.0
    view_scale: float = 0.0
    view_shift: int = 0
    # Rotation of the training window itself, before both views (what the encoder sees and what the
    # generator rebuilds): a random angle in [0, augment_rotate_deg] about a random axis (models/views.py).
    augment_rotate_deg: float = 0.0
    encoder_input: str = "xyz"  # one of ENCODER_INPUTS
    objective: str = "flow"  # "flow" (FlowFM); other objectives belong to the baselines
    text_dim: int = 0  # > 0 adds TextProj for text-conditioned generation
    schedule: str = "linear"  # noise schedule of the diffusion twin: linear or cosine
    # Per-channel normalisation, applied inside the model so every graph takes raw g.
    norm_mean: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    norm_std: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "ModelConfig":
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        dim, depth, heads = PRESETS[preset]
        r_dim = MTL_FEATURE_DIM if overrides.get("objective") == "mtl" else dim  # the ResNet's width is fixed
        return cls(preset=preset, **({"dim": dim, "depth": depth, "heads": heads, "r_dim": r_dim} | overrides))

    @property
    def tokens(self) -> int:
        return self.window // self.patch

    @property
    def encoder_channels(self) -> int:
        """Channels the encoder's patch embedding reads: the axes, plus |a| under ``xyz+mag``."""
        return self.channels + (self.encoder_input == "xyz+mag")

    def validate(self) -> None:
        if self.window % self.patch:
            raise ValueError(f"window {self.window} is not a multiple of patch {self.patch}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if not 0.0 <= self.p_dgs <= 1.0:
            raise ValueError(f"p_dgs must be in [0, 1], got {self.p_dgs}")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"time_sampling must be one of {', '.join(TIME_SAMPLINGS)}, got {self.time_sampling!r}")
        if self.r_norm not in R_NORMS:
            raise ValueError(f"r_norm must be one of {', '.join(R_NORMS)}, got {self.r_norm!r}")
        if not 0.0 <= self.view_mask < 1.0:
            raise ValueError(f"view_mask must be in [0, 1), got {self.view_mask}")
        if self.view_rotate_deg < 0 or self.view_scale < 0 or self.view_shift < 0 or self.augment_rotate_deg < 0:
            raise ValueError("view_rotate_deg, view_scale, view_shift and augment_rotate_deg must be >= 0")
        if self.encoder_input not in ENCODER_INPUTS:
            raise ValueError(f"encoder_input must be one of {', '.join(ENCODER_INPUTS)}, got {self.encoder_input!r}")
        if self.r_dim < 1:
            raise ValueError(f"r_dim must be >= 1, got {self.r_dim}")
        if self.schedule not in ("linear", "cosine"):
            raise ValueError(f"schedule must be linear or cosine, got {self.schedule!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"model config has unknown field(s) {sorted(unknown)}")
        return cls(**d)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
