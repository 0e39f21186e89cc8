"""Numbers that compare an artefact's outputs with a reference (numpy only: runtimes use them too).

>>> import numpy as np
>>> compare(np.ones(4), np.ones(4))["rel_l2"]
0.0
"""

from __future__ import annotations

import numpy as np

FP32_REL_TOLERANCE = 1e-4  # an FP32 artefact must match PyTorch within this relative L2 error


def compare(actual: np.ndarray, expected: np.ndarray) -> dict:
    """max-abs error, relative L2 error ||a - e|| / ||e||, and cosine similarity (flattened)."""
    a = np.asarray(actual, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    if a.shape != e.shape:
        raise ValueError(f"cannot compare outputs of {a.size} and {e.size} values")
    diff = a - e
    norm_e = np.linalg.norm(e)
    denom = np.linalg.norm(a) * norm_e
    return {
        "max_abs": float(np.abs(diff).max()) if diff.size else 0.0,
        "rel_l2": float(np.linalg.norm(diff) / max(norm_e, 1e-12)),
        "cosine": float(a @ e / denom) if denom > 0 else float(np.allclose(a, e)),
    }


def trajectory_error(x: np.ndarray, x_ref: np.ndarray, mean, std) -> float:
    """Relative L2 error of generated windows in normalised units, where gravity does not mask errors.

    ``x``, ``x_ref`` (B, 3, 300) in g; ``mean``, ``std`` per channel (3,).
    """
    m = np.asarray(mean, dtype=np.float64).reshape(1, -1, 1)
    s = np.asarray(std, dtype=np.float64).reshape(1, -1, 1)
    return compare((np.asarray(x, np.float64) - m) / s, (np.asarray(x_ref, np.float64) - m) / s)["rel_l2"]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred`` (sklearn's definition)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0
