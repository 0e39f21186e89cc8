"""Cutting continuous recordings into contract windows (docs/design.md#data-contract).

Windows are cut at the recording's native rate (10 s = ``10 * rate`` samples) and then
resampled to 300 samples, so a 50 Hz recording cut with a 5 s hop gives exactly the
windows SSL-Wearables and the HAPT literature count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .contract import DataError, WINDOW_S
from .resample import resample_windows

UNLABELLED = -1


@dataclass
class Windows:
    """Windows cut from one recording: ``X`` (N, 3, 300), ``y`` (N,) or None, ``start`` (N,) native indices."""

    X: np.ndarray
    y: np.ndarray | None
    start: np.ndarray
    dropped_nan: int = 0
    dropped_mixed: int = 0


def window_stream(
    acc: np.ndarray,
    rate: float,
    labels: np.ndarray | None = None,
    hop_s: float = 5.0,
    label_policy: str = "pure",
    method: str = "poly",
    where: str = "<stream>",
) -> Windows:
    """Cut ``acc`` (T, 3) in g at ``rate`` Hz into 10 s windows every ``hop_s`` seconds.

    ``labels`` (T,) integer codes (``-1`` = unlabelled). With ``label_policy="pure"`` a window
    is kept only when every sample carries the same label; ``"majority"`` keeps the most
    frequent label; ``"any"`` keeps every window and labels it by majority. Windows holding
    NaN are dropped and counted, never filled in.
    """
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise DataError(f"{where}: acceleration has shape {acc.shape}; expected (T, 3) x/y/z in g")
    if rate <= 0:
        raise DataError(f"{where}: sample rate must be positive, got {rate}")
    if labels is not None and len(labels) != len(acc):
        raise DataError(f"{where}: {len(labels)} labels for {len(acc)} samples")
    if label_policy not in ("pure", "majority", "any"):
        raise DataError(f"unknown label policy {label_policy!r}; choose pure, majority or any")
    win = int(round(WINDOW_S * rate))
    hop = max(1, int(round(hop_s * rate)))
    if len(acc) < win:
        return Windows(np.zeros((0, 3, 300), np.float32), None if labels is None else np.zeros(0, int), np.zeros(0, int))
    starts = np.arange(0, len(acc) - win + 1, hop)
    idx = starts[:, None] + np.arange(win)[None, :]  # (N, win)
    segs = acc[idx]  # (N, win, 3)
    finite = np.isfinite(segs).all(axis=(1, 2))
    keep = finite.copy()
    y = None
    dropped_mixed = 0
    if labels is not None:
        lab = np.asarray(labels)[idx]  # (N, win)
        pure = (lab == lab[:, :1]).all(axis=1)
        y = np.array([np.bincount(row - row.min()).argmax() + row.min() for row in lab]) if len(lab) else lab[:, 0]
        if label_policy == "pure":
            dropped_mixed = int((finite & ~pure).sum())
            keep &= pure
    X = resample_windows(segs[keep].transpose(0, 2, 1), method=method) if keep.any() else np.zeros((0, 3, 300), np.float32)
    return Windows(
        X=X,
        y=None if y is None else y[keep],
        start=starts[keep],
        dropped_nan=int((~finite).sum()),
        dropped_mixed=dropped_mixed,
    )
