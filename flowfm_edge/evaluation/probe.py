"""Linear probe on frozen features with a subject-wise split (SPEC 5).

The probe is scikit-learn's logistic regression on standardised features, class-weighted.
:func:`probe_head` folds the standardisation into one ``nn.Linear`` so that encoder + head
form a classifier export can use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data import subject_split
from ..models import LinearHead


@dataclass
class ProbeResult:
    macro_f1: float  # pooled over all test windows
    kappa: float  # pooled over all test windows
    n_train: int
    n_test: int
    test_subjects: list
    pipeline: object

    def to_dict(self) -> dict:
        return {"macro_f1": self.macro_f1, "kappa": self.kappa, "n_train": self.n_train, "n_test": self.n_test,
                "test_subjects": [str(s) for s in self.test_subjects], "pooled": True}


def linear_probe(features: np.ndarray, y: np.ndarray, pid: np.ndarray, seed: int = 42,
                 train_idx: np.ndarray | None = None, test_idx: np.ndarray | None = None) -> ProbeResult:
    """Fit logistic regression on ``features`` (N, D) of the training subjects; score the test subjects."""
    if train_idx is None or test_idx is None:
        train_idx, test_idx = subject_split(pid, seed=seed)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced", C=1.0))
    pipe.fit(features[train_idx], y[train_idx])
    pred = pipe.predict(features[test_idx])
    return ProbeResult(
        macro_f1=float(f1_score(y[test_idx], pred, average="macro")),
        kappa=float(cohen_kappa_score(y[test_idx], pred)),
        n_train=len(train_idx),
        n_test=len(test_idx),
        test_subjects=sorted(np.unique(pid[test_idx]).tolist()),
        pipeline=pipe,
    )


def probe_head(pipeline, n_classes: int) -> LinearHead:
    """The fitted scaler + logistic regression as one ``LinearHead`` on raw r (same logits)."""
    scaler, clf = pipeline[0], pipeline[-1]
    W = clf.coef_ / scaler.scale_[None, :]  # (K, D), K classes seen in training
    b = clf.intercept_ - W @ scaler.mean_  # (K,)
    if W.shape[0] == 1:  # binary: sklearn keeps one row; logits [0, w.x + b] give the same argmax
        W, b = np.vstack([np.zeros_like(W), W]), np.r_[0.0, b]
    W_full = np.zeros((n_classes, W.shape[1]))
    b_full = np.full(n_classes, -1e4)  # a class absent from training is never predicted
    W_full[clf.classes_], b_full[clf.classes_] = W, b
    W, b = W_full, b_full
    head = LinearHead(W.shape[1], n_classes)
    with torch.no_grad():
        head.linear.weight.copy_(torch.from_numpy(W).float())
        head.linear.bias.copy_(torch.from_numpy(b).float())
    return head
