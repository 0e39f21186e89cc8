"""Calibration and validation windows drawn by class and subject (docs/design.md#int8-calibration).

INT8 ranges are only as good as the windows they are measured on: a calibration set that
is all walking from two subjects quantises sleep badly. :func:`stratified_indices` fills
the set round-robin over (class, subject) cells, so every class and subject that exists is
represented before any cell gets a second window.

>>> import numpy as np
>>> y = np.array([0, 0, 0, 1, 1, 1]); pid = np.array([0, 0, 1, 1, 2, 2])
>>> sorted(y[stratified_indices(y, pid, 3, seed=0)])
[0, 1, 1]
"""

from __future__ import annotations

import numpy as np

from ..data.contract import WindowSet


def stratified_indices(y: np.ndarray | None, pid: np.ndarray, n: int, seed: int = 0,
                       exclude: np.ndarray | None = None) -> np.ndarray:
    """Up to ``n`` window indices, round-robin over (class, subject) cells (subjects alone when ``y`` is None)."""
    rng = np.random.default_rng(seed)
    keys = pid.astype(str) if y is None else np.char.add(np.asarray(y).astype(str), np.char.add("|", pid.astype(str)))
    allowed = np.ones(len(pid), bool)
    if exclude is not None:
        allowed[exclude] = False
    cells = [rng.permutation(np.flatnonzero((keys == k) & allowed)) for k in np.unique(keys)]
    cells = [c for c in cells if len(c)]
    order = rng.permutation(len(cells))
    picked: list[int] = []
    depth = 0
    while len(picked) < n and any(depth < len(c) for c in cells):
        for i in order:
            if depth < len(cells[i]) and len(picked) < n:
                picked.append(int(cells[i][depth]))
        depth += 1
    return np.sort(np.array(picked, dtype=np.int64))


def calibration_split(ws: WindowSet, n_calib: int, n_val: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (calibration, validation) indices, both stratified by class and subject.

    When the set is too small for both, validation reuses the remaining windows, and when
    nothing remains, the calibration windows (the manifest says so through the sizes).
    """
    calib = stratified_indices(ws.y, ws.pid, n_calib, seed)
    val = stratified_indices(ws.y, ws.pid, n_val, seed + 1, exclude=calib)  # its own draw: another seed than calib's
    if len(val) == 0:
        val = calib[:n_val]
    return calib, val
