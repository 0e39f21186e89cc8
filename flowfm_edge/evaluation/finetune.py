"""Supervised training of a classifier on labelled windows, with early stopping (docs/design.md#probe).

One loop, :func:`fit`, serves the three downstream regimes and the feature network of the
quality metrics: class-weighted cross-entropy, Adam, early stopping on the validation
loss with the best weights restored.

>>> net = nn.Linear(4, 2)
>>> X, y = torch.randn(40, 4), torch.arange(40) % 2
>>> history = fit(net, X, y, X, y, FitConfig(max_epochs=2))
>>> len(history["val_loss"])
2
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

PROTOCOLS = ("linear-probe", "fine-tune", "scratch")
DEFAULT_LR = {"linear-probe": 1e-3, "fine-tune": 1e-4, "scratch": 1e-3}


@dataclass
class FitConfig:
    lr: float | None = None  # None: 1e-3 in fit; the downstream protocols pick their own (DEFAULT_LR)
    batch_size: int = 64
    max_epochs: int = 100  # a cap the best epoch should stay below (downstream flags folds that reach it)
    patience: int = 10  # epochs without a better validation loss before stopping
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"


def mlp_head(d: int, n_classes: int) -> nn.Sequential:
    """The fine-tune / scratch head: Linear(d, d) - ReLU - Linear(d, classes)."""
    return nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, n_classes))


class Standardize(nn.Module):
    """(x - mean) / std with fixed statistics, so a linear probe on raw features trains well."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def linear_probe_head(features: torch.Tensor, n_classes: int) -> nn.Sequential:
    """Standardisation by the training ``features`` (N, d) followed by Linear(d, classes)."""
    return nn.Sequential(Standardize(features.mean(0), features.std(0)), nn.Linear(features.shape[1], n_classes))


def class_weights(y: np.ndarray | torch.Tensor, n_classes: int) -> torch.Tensor:
    """Balanced weights n / (k * count_c) for the k classes present; 0 for absent classes: (n_classes,)."""
    counts = torch.bincount(torch.as_tensor(y).long(), minlength=n_classes).double()
    present = counts > 0
    w = torch.zeros(n_classes, dtype=torch.float64)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w.float()


@torch.no_grad()
def predict_logits(net: nn.Module, X: torch.Tensor, batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """Logits (N, classes) of ``net`` in eval mode over ``X`` (N, ...)."""
    net.eval()
    out = [net(X[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def fit(net: nn.Module, X_train: torch.Tensor, y_train: torch.Tensor, X_val: torch.Tensor, y_val: torch.Tensor,
        cfg: FitConfig, n_classes: int | None = None, on_epoch=None) -> dict:
    """Train ``net`` (x -> logits) in place; restore the weights of the lowest validation loss.

    ``X_*`` are (N, ...) inputs, ``y_*`` (N,) integer labels. Returns the history:
    ``train_loss``, ``val_loss`` per epoch, ``best_epoch`` and ``best_val_loss``.
    """
    if len(X_train) == 0 or len(X_val) == 0:
        raise ValueError(f"fit needs training and validation windows; got {len(X_train)} and {len(X_val)}")
    n_classes = n_classes or int(max(y_train.max(), y_val.max())) + 1
    net.to(cfg.device)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(y_train, n_classes).to(cfg.device))
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr or 1e-3, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    best, best_state, stale = float("inf"), copy.deepcopy(net.state_dict()), 0
    history: dict = {"train_loss": [], "val_loss": [], "best_epoch": 0}
    y_train, y_val = y_train.long(), y_val.long()
    for epoch in range(cfg.max_epochs):
        net.train()
        perm = torch.randperm(len(X_train), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2 and seen > 0:  # batch norm cannot train on one window
                continue
            loss = loss_fn(net(X_train[idx].to(cfg.device)), y_train[idx].to(cfg.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        with torch.no_grad():
            val = loss_fn(predict_logits(net, X_val, device=cfg.device).to(cfg.device), y_val.to(cfg.device)).item()
        history["train_loss"].append(total / max(seen, 1))
        history["val_loss"].append(val)
        if on_epoch is not None:
            on_epoch(epoch, history)
        if val < best - 1e-6:
            best, best_state, stale = val, copy.deepcopy(net.state_dict()), 0
            history["best_epoch"] = epoch
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    net.load_state_dict(best_state)
    history["best_val_loss"] = best
    return history
