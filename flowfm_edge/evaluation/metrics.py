"""Classification metrics, always saying how they were aggregated (docs/design.md#probe).

Macro F1 and Cohen's kappa (scikit-learn) are reported twice: as mean +- SD over test
subjects (SSL-Wearables' way) and pooled over all test windows.

>>> m = classification_metrics(np.array([0, 1, 0, 1]), np.array([0, 1, 0, 1]), np.array([1, 1, 2, 2]), 2)
>>> m["pooled"]["macro_f1"], m["per_subject"]["macro_f1"]["mean"]
(1.0, 1.0)
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _kappa(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        # One class filling both sides makes kappa 0/0: undefined, returned as NaN and counted by mean_sd.
        warnings.simplefilter("ignore")  # sklearn warns in three ways about that single-class case
        return float(cohen_kappa_score(y_true, y_pred))


def mean_sd(values: list[float]) -> dict:
    """Mean and SD (ddof 0) of the finite ``values``, with how many there were and how many were undefined."""
    v = np.asarray(values, dtype=float)
    ok = v[np.isfinite(v)]
    return {"mean": float(ok.mean()) if len(ok) else float("nan"), "sd": float(ok.std()) if len(ok) else float("nan"),
            "n": int(len(ok)), "undefined": int(len(v) - len(ok))}


def per_subject_scores(y_true: np.ndarray, y_pred: np.ndarray, pid: np.ndarray) -> dict[str, list[float]]:
    """Macro F1 and kappa of each subject in ``pid`` (N,): {"subjects", "macro_f1", "kappa"}."""
    out: dict[str, list] = {"subjects": [], "macro_f1": [], "kappa": []}
    for s in np.unique(pid):
        m = pid == s
        out["subjects"].append(s.item() if hasattr(s, "item") else s)
        out["macro_f1"].append(_f1(y_true[m], y_pred[m]))
        out["kappa"].append(_kappa(y_true[m], y_pred[m]))
    return out


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, pid: np.ndarray, n_classes: int,
                           groups: np.ndarray | None = None) -> dict:
    """Metrics of predictions ``y_pred`` (N,) against ``y_true`` (N,) for subjects ``pid`` (N,).

    ``groups`` (N,) optionally tags windows by fold, so a subject tested in several folds
    (5 x 80/20) counts once per fold in the per-subject statistics. Kappa is undefined for a
    subject whose windows all carry one label that is also always predicted; such subjects
    are left out of the kappa mean and counted under ``undefined``.
    """
    y_true, y_pred, pid = np.asarray(y_true), np.asarray(y_pred), np.asarray(pid)
    if not len(y_true) == len(y_pred) == len(pid):
        raise ValueError(f"metrics need one prediction and one subject per window: got {len(y_true)} labels, "
                         f"{len(y_pred)} predictions, {len(pid)} subject ids")
    keys = pid if groups is None else np.array([f"{g}/{p}" for g, p in zip(groups, pid)])
    subj = per_subject_scores(y_true, y_pred, keys)
    return {
        "pooled": {"macro_f1": _f1(y_true, y_pred), "kappa": _kappa(y_true, y_pred), "n_windows": int(len(y_true)),
                   "note": "pooled over all test windows"},
        "per_subject": {"macro_f1": mean_sd(subj["macro_f1"]), "kappa": mean_sd(subj["kappa"]),
                        "note": "mean +- SD (ddof 0) over test subjects" + ("" if groups is None else " per fold")},
        "confusion": confusion_matrix(y_true, y_pred, labels=np.arange(n_classes)).tolist(),
    }
