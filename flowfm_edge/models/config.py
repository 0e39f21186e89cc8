"""Model configuration and the size presets, named in one place (docs/design.md#model)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, field, fields
from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

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
ENCODER_INPUTS = ("xyz", "xyz+mag", "xyz-mean", "gravity-frame")

MTL_FEATURE_DIM = 1024  # the SSL-Wearables ResNet's feature width (models/resnet.py)


Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0.0)]
# A config is checked when it is built and when a field is set: ranges below, combinations in validate().
CHECKED = ConfigDict(validate_assignment=True, allow_inf_nan=False)


@dataclass(config=CHECKED)
class ModelConfig:
    """Everything needed to rebuild a FlowFM (or a twin) exactly; saved next to every checkpoint."""

    preset: str = "nano"
    dim: Positive = 64
    depth: Positive = 2
    heads: Positive = 2
    patch: Positive = 10
    window: Positive = WINDOW_LEN
    channels: Positive = 3
    r_dim: Positive = 64
    mlp_ratio: Annotated[float, Field(gt=0.0)] = 4.0
    p_dgs: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5  # probability of replacing r by zeros per sample in training
    time_sampling: Literal[TIME_SAMPLINGS] = "uniform"  # uniform, logit-normal (mean time_mu, sd 1) or noise-heavy
    time_mu: float = 0.0  # logit-normal mean: < 0 puts more training times near the noise (t = 0)
    r_norm: Literal[R_NORMS] = "none"  # none, layernorm or l2 (scaled to norm sqrt(r_dim)): a bottleneck on r
    # The encoder's training view (models/views.py); all 0 = it sees the window the generator rebuilds.
    view_mask: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0  # fraction of the encoder's patch tokens dropped
    view_rotate_deg: NonNegative = 0.0
    view_scale: NonNegative = 0.0
    view_shift: Annotated[int, Field(ge=0)] = 0
    # Rotation of the training window itself, before both views (what the encoder sees and what the
    # generator rebuilds): a random angle in [0, augment_rotate_deg] about a random axis (models/views.py).
    augment_rotate_deg: NonNegative = 0.0
    # What the encoder reads (models/encoder.py): the axes; plus |a| - 1 g (xyz+mag); each axis less
    # its window mean (xyz-mean); or vertical, horizontal and total acceleration in the window's own
    # gravity frame (gravity-frame: the same for the window under any rotation of the device).
    encoder_input: Literal[ENCODER_INPUTS] = "xyz"
    objective: str = "flow"  # "flow" (FlowFM); other objectives belong to the baselines
    text_dim: Annotated[int, Field(ge=0)] = 0  # > 0 adds TextProj for text-conditioned generation
    schedule: Literal["linear", "cosine"] = "linear"  # noise schedule of the diffusion twin
    # Per-channel normalisation, applied inside the model so every graph takes raw g.
    norm_mean: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    norm_std: list[Annotated[float, Field(gt=0.0)]] = field(default_factory=lambda: [1.0, 1.0, 1.0])

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "ModelConfig":
        if not isinstance(preset, str) or preset not in PRESETS:
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
        """Refuse combinations of fields that cannot build a model (each field's range is checked on its own)."""
        if self.window % self.patch:
            raise ValueError(f"window {self.window} is not a multiple of patch {self.patch}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")

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
