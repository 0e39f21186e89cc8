"""Encoder + head = a classifier that export can turn into one graph (x -> logits)."""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    """Linear layer on r; a probe's standardisation is folded into its weights."""

    def __init__(self, r_dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(r_dim, n_classes)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.linear(r)


class Classifier(nn.Module):
    """Raw windows (B, 3, 300) in g -> logits (B, classes)."""

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.model.embed(x))
