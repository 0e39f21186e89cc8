"""The typed configuration of a run: :class:`RunConfig` = what to read (:class:`DataConfig`), what to build
(:class:`~flowfm_edge.models.ModelConfig`) and how to train it (:class:`TrainConfig`).

Each field is named and given its default once, here or in ``ModelConfig``; every value is
range-checked when it is set. :func:`~.run_config.resolve_run_config` layers the recipe, a run
file and the command line over these defaults; the run saves what it resolved to.

>>> RunConfig(DataConfig("synthetic"), ModelConfig.from_preset("nano"), TrainConfig(steps=10)).train.steps
10
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Annotated, Literal, Union

from pydantic import Field
from pydantic.dataclasses import dataclass

from ..models import ModelConfig
from ..models.config import CHECKED, Positive
from .batches import STEP_STRIDE

# Field types, shared with the configurations that build on TrainConfig (text fine-tuning).
Steps = Annotated[int, Field(ge=1, lt=STEP_STRIDE)]  # (seed, step) pairs name the step generators
Count = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(gt=0.0)]
Decay = Annotated[float, Field(ge=0.0, lt=1.0)]
DecayOn = Literal["matrices", "all"]  # matrices: on weight matrices only (not norms, biases, embeddings)
Amp = Literal["auto", "bf16", "fp16", "off"]  # training/precision.py; fp16 trains with a GradScaler
Attention = Literal["auto", "math", "default"]  # auto: math kernel on CPU, PyTorch's choice on CUDA


@dataclass(config=CHECKED)
class TrainConfig:
    """How a run trains; every field is range-checked when set, before anything is built or written."""

    steps: Steps = 1000
    batch_size: Positive = 64  # global: split across DDP ranks
    lr: Rate = 1e-3  # peak learning rate (AdamW, linear warm-up, then cosine)
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.05
    decay: DecayOn = "matrices"
    warmup: Count = 100
    min_lr_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    ema_decay: Decay = 0.999
    grad_clip: Rate = 1.0
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # weights, batches, noise and DGS
    amp: Amp = "auto"
    attention: Attention = "auto"
    compile: bool = False  # torch.compile (inductor): 1.06-1.17x in fp32 on a 2-core Xeon after ~54 s; slower under bf16
    log_every: Positive = 10
    ckpt_every: Positive = 500


def cut_warmup(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its warm-up cut to its steps, as the commands resolve it; returns ``cfg``."""
    cfg.warmup = min(cfg.warmup, cfg.steps)
    return cfg


@dataclass(config=CHECKED)
class DataConfig:
    """What a run trains on: a source as ``--data`` takes it, and the native rate of an SSL-Wearables directory."""

    source: str = "hapt"
    rate: float | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and not 0 < self.rate < float("inf"):
            raise ValueError(f"rate must be a positive number of samples per second, got {self.rate!r}")


@dataclasses.dataclass
class RunConfig:
    """One run's whole configuration; ``RUN/run.toml`` holds its :meth:`tables`."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    def tables(self) -> dict[str, dict]:
        """The run file's tables: every field but those computed from the data; None values left out (TOML has
        no null)."""
        return {section: {k: v for k, v in dataclasses.asdict(getattr(self, section)).items()
                          if v is not None and k not in COMPUTED}
                for section in SECTIONS}


COMPUTED = ("norm_mean", "norm_std")  # from the data at the start of training, never from a file or an option


def _kind(annotation) -> type:
    """The plain type of a field's annotation: ``int`` of a ranged int, ``str`` of a Literal, ``float`` of an
    optional float."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return _kind(next(a for a in typing.get_args(annotation) if a is not type(None)))
    return origin or annotation


def _fields(cls) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: _kind(hints[f.name]) for f in dataclasses.fields(cls) if f.name not in COMPUTED}


# section of a run -> {field: its plain type}: the keys a run file and the command line may set
SECTIONS: dict[str, dict[str, type]] = {"data": _fields(DataConfig), "model": _fields(ModelConfig),
                                        "train": _fields(TrainConfig)}
