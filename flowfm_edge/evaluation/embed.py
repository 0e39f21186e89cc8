"""Batched, gradient-free embedding of windows, and a dataset's embeddings by a run saved as .npz (``flowfm-edge embed``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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


def _finite_rows(a, what: str, where: str, fix: str) -> None:
    """Refuse ``a`` (N, ...) when any row holds NaN or Inf, naming the first row indices."""
    bad = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10]) + (f", ... ({len(bad)} in all)" if len(bad) > 10 else "")
        raise ValueError(f"{where}: {what} {shown} of {len(a)} hold NaN or Inf; nothing was written ({fix})")


def embed_run(run: Path, data: str, out: Path, rate: Optional[float] = None) -> np.ndarray:
    """Embed every window of ``data`` with the frozen encoder of ``run``; save r (N, r_dim), pid, y and classes to
    ``out`` (.npz) and return r. Windows or embeddings holding NaN or Inf are refused before anything is written."""
    from ..data import load_source
    from ..training import load_model

    model, _ = load_model(run)
    ws = load_source(data, split="labelled", rate=rate)
    _finite_rows(ws.X, "windows", ws.source, "drop or repair those windows")
    r = embed_windows(model, ws.X)
    _finite_rows(r, "the embeddings of windows", ws.source, "values too large for the model? windows must be in g")
    arrays = {"r": r, "pid": ws.pid}
    if ws.y is not None:
        arrays["y"] = ws.y
    if ws.classes is not None:
        arrays["classes"] = np.array(ws.classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return r
