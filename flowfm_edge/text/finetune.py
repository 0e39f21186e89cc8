"""Fine-tune a trained FlowFM into a text-conditioned generator (SPEC 3, text-to-signal).

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
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.contract import WindowSet
from ..models import FlowFM, ModelConfig
from ..training.checkpoint import load_model, save_checkpoint
from ..training.loop import BatchPlan, data_hash, lr_factor, step_generator
from ..training.progress import progress_bar
from .embeddings import CACHE_NAME, EmbeddingCache
from .prompts import all_texts, prompt_table

R_MODES = ("zero", "dgs")


@dataclass
class TextTrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup: int = 30
    min_lr_ratio: float = 0.05
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    p_text_drop: float = 0.2  # probability of training a sample with e = 0 (unconditional)
    r_mode: str = "zero"  # zero: r = 0 always; dgs: frozen encoder's r, dropped with the base run's p_dgs
    seed: int = 0
    log_every: int = 10

    def validate(self) -> None:
        if self.r_mode not in R_MODES:
            raise ValueError(f"r_mode must be one of {', '.join(R_MODES)}; got {self.r_mode!r}")
        if not 0.0 <= self.p_text_drop < 1.0:
            raise ValueError(f"p_text_drop must be in [0, 1) (1 would never show the text); got {self.p_text_drop}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1; got {self.steps} and {self.batch_size}")


def text_model_from_base(base: FlowFM, text_dim: int) -> FlowFM:
    """A copy of ``base`` with a zero, bias-free TextProj of input ``text_dim``; encoder frozen."""
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
    model.velocity.text.bias.requires_grad_(False)  # e = 0 must stay exactly "no text"
    for p in model.encoder.parameters():
        p.requires_grad_(False)
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
        pick = (torch.rand(len(y), generator=generator) * self.count[y]).long()
        return self.E[self.offset[y] + pick]


def finetune_text(base_run: str | Path, data: WindowSet, out: str | Path, embedder, cfg: TextTrainConfig | None = None,
                  prompts: dict | None = None, device: str = "cpu", progress: bool = True) -> FlowFM:
    """Fine-tune ``base_run`` on labelled ``data`` with text; writes the run ``out``; returns the EMA model.

    ``embedder``: texts -> (N, dim) (see :mod:`.embeddings`); ``prompts``: descriptions per
    class (default: HAPT's built-in ones).
    """
    cfg = cfg or TextTrainConfig()
    cfg.validate()
    out = Path(out)
    if data.y is None or not data.classes:
        raise ValueError(f"{data.source}: text fine-tuning needs labelled windows with class names (y and classes)")
    table = prompt_table(list(data.classes), prompts, where=f"descriptions for {data.source}")
    base, base_config = load_model(base_run, device="cpu")
    cache = EmbeddingCache(out / CACHE_NAME, embedder)
    cache.get(all_texts(table))  # embed every description, held-out ones too, once
    dev = torch.device(device)
    torch.manual_seed(cfg.seed)
    model = text_model_from_base(base, cache.dim).to(dev)
    model.train()
    model.encoder.eval()
    picker = PhrasePicker(table, list(data.classes), cache)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    schedule = _Schedule(cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    X = torch.from_numpy(np.ascontiguousarray(data.X, dtype=np.float32))
    y = torch.from_numpy(np.asarray(data.y)).long()
    plan = BatchPlan(len(X), cfg.batch_size, cfg.seed)
    log = _Log(out / "metrics.csv")
    t0 = time.perf_counter()
    with progress_bar(cfg.steps, 0, "train-text", enabled=progress) as advance:
        for step in range(cfg.steps):
            idx = plan.indices(step)
            gen = step_generator(cfg.seed, step, 0, torch.device("cpu"))
            e = picker(y[idx], gen)  # (B, text_dim)
            loss = text_flow_loss(model, X[idx].to(dev), e.to(dev), cfg, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            _update_ema(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                log.row(step + 1, loss.item(), scheduler.get_last_lr()[0], grad_norm.item(), time.perf_counter() - t0)
            advance(loss=loss.item())
    log.close()
    config = {
        "model": model.cfg.to_dict(),
        "train": {"kind": "text-finetune", **asdict(cfg)},
        "data": {"source": data.source, "spec": data.meta.get("spec", data.source), "n_windows": len(X),
                 "hash": data_hash(data.X), "classes": list(data.classes)},
        "base": {"run": str(base_run), "model_hash": ModelConfig.from_dict(base_config["model"]).hash(),
                 "train": base_config.get("train"), "data": base_config.get("data")},
        "text": {"embedder": cache.model, "text_dim": cache.dim, "cache": CACHE_NAME, "prompts": table,
                 "null_text": "zero embedding (TextProj has no bias)", "r_mode": cfg.r_mode,
                 "p_text_drop": cfg.p_text_drop, "frozen": ["encoder"]},
        "step": cfg.steps,
    }
    save_checkpoint(out, model, ema, config, None)
    model.load_state_dict(ema)
    return model.cpu().eval()


class _Schedule:
    """Warmup + cosine (the base training's schedule), picklable for the LR scheduler."""

    def __init__(self, cfg: TextTrainConfig):
        self.cfg = cfg

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.cfg)


def _update_ema(ema: dict, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.dtype.is_floating_point:
                ema[name].lerp_(p, 1 - decay)
            else:
                ema[name].copy_(p)


class _Log:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = path.open("w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(["step", "loss", "lr", "grad_norm", "elapsed_s"])

    def row(self, step: int, loss: float, lr: float, grad_norm: float, elapsed: float) -> None:
        self.w.writerow([step, f"{loss:.6f}", f"{lr:.3e}", f"{grad_norm:.4f}", f"{elapsed:.2f}"])
        self.f.flush()

    def close(self) -> None:
        self.f.close()
