"""Batched, gradient-free embedding of windows."""

from __future__ import annotations

import numpy as np
import torch

from ..models import FlowFM


@torch.no_grad()
def embed_windows(model: FlowFM, X: np.ndarray, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Raw windows ``X`` (N, 3, 300) in g -> r (N, r_dim) float32."""
    model.eval()
    out = []
    for i in range(0, len(X), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(X[i : i + batch_size], dtype=np.float32)).to(device)
        out.append(model.embed(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.cfg.r_dim), np.float32)
