"""One optimiser step: AdamW over decay groups, warmup + cosine LR, clipping, fp16 loss scaling, the EMA.

>>> opt = Optimiser(model, TrainConfig(), scaler=None)   # doctest: +SKIP
>>> grad_norm = opt.step(loss, step)                     # doctest: +SKIP
>>> model.load_state_dict(opt.ema)                       # the weights a run samples with  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Callable

import torch

NO_DECAY_NAMES = ("pos", "cls")  # positional and CLS embeddings: parameters of >= 2 dims that are not weights


def lr_factor(step: int, cfg) -> float:
    """The LR multiplier at ``step``: linear warm-up over ``cfg.warmup`` steps, then cosine to ``cfg.min_lr_ratio``."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def param_groups(model: torch.nn.Module, cfg) -> list[dict]:
    """AdamW groups of the trainable parameters: decay on weight matrices (Linear, Conv) only, or all of them."""
    if cfg.decay not in ("matrices", "all"):
        raise ValueError(f"decay must be matrices or all, got {cfg.decay!r}")
    decay, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_matrix = p.ndim >= 2 and name.rsplit(".", 1)[-1] not in NO_DECAY_NAMES
        (decay if is_matrix or cfg.decay == "all" else rest).append(p)
    return [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]


def freeze(model: torch.nn.Module, trainable: Callable[[str], bool] | None) -> None:
    """Train only the parameters whose name ``trainable(name)`` accepts; None leaves every parameter as it is."""
    if trainable is None:
        return
    for name, p in model.named_parameters():
        p.requires_grad_(bool(trainable(name)))
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the parameter filter freezes every parameter; nothing would train")


def ema_decay(step: int, cfg) -> float:
    """The EMA decay after ``step``: warms up as (1 + step) / (10 + step) to ``cfg.ema_decay``."""
    return min(cfg.ema_decay, (1 + step) / (10 + step))


def update_ema(ema: dict, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * weights, over the whole state dict (integer buffers are copied)."""
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.dtype.is_floating_point:
                ema[name].lerp_(p, 1 - decay)
            else:
                ema[name].copy_(p)


class Optimiser:
    """AdamW, its LR schedule, gradient clipping, the fp16 loss scaler (when given) and the EMA of the weights.

    ``cfg`` needs ``lr``, ``weight_decay``, ``decay``, ``warmup``, ``min_lr_ratio``, ``steps``,
    ``grad_clip`` and ``ema_decay`` (a :class:`~flowfm_edge.training.TrainConfig`).
    """

    def __init__(self, model: torch.nn.Module, cfg, scaler: torch.amp.GradScaler | None = None):
        self.model, self.cfg, self.scaler = model, cfg, scaler
        self.optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, betas=(0.9, 0.99))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, cfg))
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @property
    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def step(self, loss: torch.Tensor, step: int) -> torch.Tensor:
        """Backward ``loss``, clip, step the weights, the LR and the EMA; returns the gradient norm before clipping."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)  # clip the true gradients
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        self.scheduler.step()
        update_ema(self.ema, self.model, ema_decay(step, self.cfg))
        return grad_norm

    def state_dict(self) -> dict:
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "ema": self.ema}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ema = {k: v.to(device) for k, v in state["ema"].items()}
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
