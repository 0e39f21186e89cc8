"""Fine-tune a trained FlowFM into a text-conditioned generator (docs/design.md#text-to-signal).

From a base run: the encoder is frozen, ``TextProj`` (``Linear(text_dim, dim)``) is added to
the velocity network's conditioning, ``c = TimeEmbed(t) + RepProj(r) + TextProj(e)``, and
the velocity network is fine-tuned with the flow-matching loss on (description, window)
pairs. Each window's description is drawn per step from its class's training phrasings.

Choices, and why:

- **TextProj starts at zero and keeps no bias.** The fine-tuned model starts as the base
  model's unconditional generator, and ``e = 0`` contributes nothing, so the zero
  embedding is exactly "no text" (in PyTorch and in exported graphs alike).
- **Text dropout** (``p_text_drop``, default 0.2): a dropped sample trains with ``e = 0``,
  so the unconditional field stays available for guidance
  ``v0 + w (v_text - v0)``.
- **r is zero** (``r_mode="zero"``, the default): text-to-signal generation never has a
  real window, so training matches generation exactly, and the frozen encoder is not even
  run. ``r_mode="dgs"`` instead feeds the frozen encoder's ``r`` with probability
  ``1 - p_dgs`` (as in base training), so the fine-tuned run keeps reconstruction working
  at the cost of an encoder pass per step; text-only generation still uses ``r = 0``.

The result is an ordinary run directory (``checkpoint/`` with ``text_dim > 0`` in the
model config, ``metrics.csv``) plus ``text_embeddings.npz``; ``load_model`` reads it.
:func:`train_text_run` (``flowfm-edge train-text``) reads the data and the prompt file first.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

import numpy as np
import torch
from pydantic import Field
from pydantic.dataclasses import dataclass

from ..data.contract import WindowSet
from ..models import FlowFM, ModelConfig
from ..models.config import CHECKED, Positive
from ..training.checkpoint import load_model
from ..training.config import Amp, Attention, Count, Decay, DecayOn, Rate, Steps, TrainConfig, cut_warmup
from ..training.loop import train
from ..training.run_config import options_given
from .embeddings import CACHE_NAME, EmbeddingCache
from .prompts import all_texts, prompt_table

R_MODES = ("zero", "dgs")


@dataclass(config=CHECKED)
class TextTrainConfig(TrainConfig):
    """The training loop's settings with a fine-tune's defaults, and what text fine-tuning adds to them.

    A fine-tune trains fewer steps at a lower rate with a shorter EMA than base training, puts weight decay
    on every trained parameter, runs in fp32 with PyTorch's attention kernel, and writes one checkpoint, at
    the end (``ckpt_every`` None: the last step).
    """

    steps: Steps = 300
    lr: Rate = 5e-4
    warmup: Count = 30
    ema_decay: Decay = 0.995
    decay: DecayOn = "all"
    amp: Amp = "off"
    attention: Attention = "default"
    ckpt_every: Optional[Positive] = None
    p_text_drop: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2  # probability of training a sample with e = 0
    r_mode: Literal[R_MODES] = "zero"  # zero: r = 0 always; dgs: frozen encoder's r, dropped with the base run's p_dgs

    def __post_init__(self) -> None:
        if self.ckpt_every is None:
            self.ckpt_every = self.steps


def resolve_text_config(options: Mapping[str, Any]) -> TextTrainConfig:
    """What ``train-text`` trains with: the defaults, then ``options`` (fields by name; None: not given; other
    names are not configuration), the warm-up cut to the steps."""
    return cut_warmup(TextTrainConfig(**options_given(options, TextTrainConfig)))


def text_trainable(name: str) -> bool:
    """Whether fine-tuning trains parameter ``name``: not the encoder, nor TextProj's bias (e = 0 stays "no text")."""
    return not name.startswith("encoder.") and name != "velocity.text.bias"


def text_model_from_base(base: FlowFM, text_dim: int) -> FlowFM:
    """A copy of ``base`` with a zero, bias-free TextProj of input ``text_dim``; what does not train is frozen."""
    if base.cfg.objective != "flow":
        raise ValueError(f"text conditioning fine-tunes a FlowFM run; this run's objective is {base.cfg.objective!r}")
    if base.cfg.text_dim > 0:
        raise ValueError("the base run is already text-conditioned; fine-tune from its unconditional base run")
    cfg = ModelConfig.from_dict({**base.cfg.to_dict(), "text_dim": int(text_dim)})
    model = FlowFM(cfg)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    if unexpected or set(missing) != {"velocity.text.weight", "velocity.text.bias"}:
        raise RuntimeError(f"base weights do not fit the text model (missing {missing}, unexpected {unexpected})")
    torch.nn.init.zeros_(model.velocity.text.weight)
    torch.nn.init.zeros_(model.velocity.text.bias)
    for name, p in model.named_parameters():
        p.requires_grad_(text_trainable(name))
    return model


def text_flow_loss(model: FlowFM, x1: torch.Tensor, e: torch.Tensor, cfg: TextTrainConfig,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Flow-matching loss of raw windows x1 (B, 3, 300) conditioned on e (B, text_dim); a scalar."""
    z1 = model.normalize(x1)
    B = z1.shape[0]
    keep_text = (torch.rand(B, generator=generator, device=z1.device) >= cfg.p_text_drop).to(e.dtype)
    e = e * keep_text[:, None]  # dropped text -> e = 0, the unconditional field
    if cfg.r_mode == "zero":
        r = torch.zeros(B, model.cfg.r_dim, device=z1.device)
    else:
        with torch.no_grad():
            r = model.encoder(z1)  # (B, r_dim), frozen
        keep_r = (torch.rand(B, generator=generator, device=z1.device) >= model.cfg.p_dgs).to(r.dtype)
        r = r * keep_r[:, None]
    z0 = torch.randn(z1.shape, generator=generator, device=z1.device)
    t = model.sample_time(B, generator, z1.device)
    zt = (1 - t[:, None, None]) * z0 + t[:, None, None] * z1
    v = model.velocity(zt, t, r, e)
    return ((v - (z1 - z0)) ** 2).mean()


class PhrasePicker:
    """Per window, a random training phrasing of its class: labels (B,) -> embeddings (B, text_dim)."""

    def __init__(self, table: dict, classes: list[str], cache: EmbeddingCache):
        texts = [t for c in classes for t in table[c]["train"]]
        self.E = torch.from_numpy(cache.get(texts))  # (P, text_dim)
        counts = [len(table[c]["train"]) for c in classes]
        self.count = torch.tensor(counts)
        self.offset = torch.tensor(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))

    def __call__(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(len(y), generator=generator, device=generator.device).cpu()  # (B,) in [0, 1)
        return self.E[self.offset[y] + (u * self.count[y]).long()]


def finetune_text(base_run: str | Path, data: WindowSet, out: str | Path, embedder, cfg: TextTrainConfig | None = None,
                  prompts: dict | None = None, device: str = "cpu", progress: bool = True) -> FlowFM:
    """Fine-tune ``base_run`` on labelled ``data`` with text; writes the run ``out``; returns the EMA model.

    ``embedder``: texts -> (N, dim) (see :mod:`.embeddings`); ``prompts``: descriptions per
    class (default: HAPT's built-in ones). The training loop is the base runs' own
    (:func:`flowfm_edge.training.train`) with :func:`text_flow_loss` and :func:`text_trainable`.
    """
    cfg = cfg or TextTrainConfig()
    out = Path(out)
    if data.y is None or not data.classes:
        raise ValueError(f"{data.source}: text fine-tuning needs labelled windows with class names (y and classes)")
    table = prompt_table(list(data.classes), prompts, where=f"descriptions for {data.source}")
    base, base_config = load_model(base_run, device="cpu")
    cache = EmbeddingCache(out / CACHE_NAME, embedder)
    cache.get(all_texts(table))  # embed every description, held-out ones too, once
    model = text_model_from_base(base, cache.dim)
    picker = PhrasePicker(table, list(data.classes), cache)
    y = torch.from_numpy(np.asarray(data.y)).long()

    def loss_fn(model: FlowFM, x: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        e = picker(y[idx], generator)  # (B, text_dim), a training phrasing of each window's class
        return text_flow_loss(model, x, e.to(x.device), cfg, generator)

    record = {
        "train": {"kind": "text-finetune", **asdict(cfg)},
        "base": {"run": str(base_run), "model_hash": ModelConfig.from_dict(base_config["model"]).hash(),
                 "train": base_config.get("train"), "data": base_config.get("data")},
        "text": {"embedder": cache.model, "text_dim": cache.dim, "cache": CACHE_NAME, "prompts": table,
                 "null_text": "zero embedding (TextProj has no bias)", "r_mode": cfg.r_mode,
                 "p_text_drop": cfg.p_text_drop, "frozen": ["encoder"]},
    }
    model = train(data, out, model.cfg, cfg, device=device, progress=progress, init=model,
                  loss_fn=loss_fn, trainable=text_trainable, record=record)
    return model.cpu().eval()


def train_text_run(run: Path, data: str, out: Path, cfg: TextTrainConfig, prompts: Path | None = None,
                   device: str = "cpu") -> None:
    """Fine-tune the FlowFM run ``run`` on the labelled windows of ``data`` with text (``prompts``, a JSON file:
    default the built-in HAPT descriptions) into the text run ``out``."""
    from ..progress import console
    from .embeddings import MiniLMEmbedder
    from .generate import labelled_windows
    from .prompts import load_prompt_file

    table = load_prompt_file(prompts) if prompts is not None else None
    ws = labelled_windows(data)
    console.print(f"fine-tuning {run} on {len(ws)} windows of {ws.source} with text for {cfg.steps} steps")
    finetune_text(run, ws, out, MiniLMEmbedder(), cfg, prompts=table, device=device)
    console.print(f"wrote {out}/checkpoint, {out}/metrics.csv and {out}/text_embeddings.npz")
