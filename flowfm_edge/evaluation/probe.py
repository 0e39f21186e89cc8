"""The one linear probe: standardised features, a converged multinomial logistic regression (docs/design.md#probe).

Every place that reports how good a representation is (``quickstart``, ``probe``,
``evaluate --protocol linear-probe``, the claims scripts) goes through :func:`probe_folds`:

- features standardised on the training subjects (``StandardScaler``);
- class-weighted multinomial logistic regression (scikit-learn, L-BFGS), run to
  convergence (``tol`` 1e-6, up to 20,000 iterations; a fit that stops early is flagged);
- the inverse regularisation ``C`` chosen from :data:`C_GRID` by macro-F1 on the fold's
  validation subjects (12.5% of its training subjects, never tested on);
- subject-wise folds from :func:`~flowfm_edge.evaluation.splits.subject_folds` (LOSO up to
  10 subjects, else 5 x GroupShuffleSplit 80/20, seeds 42 / 41);
- macro-F1 and kappa as per-subject mean +- SD and pooled over all test windows.

:func:`probe_table` runs it for several feature sets on the same folds, so a learned
representation always stands beside its baselines. :func:`probe_head` folds a fitted
scaler + regression into one ``nn.Linear`` that export can ship.

>>> rng = np.random.default_rng(0)
>>> y = np.repeat([0, 1], 60); pid = np.tile(np.arange(12), 10)
>>> F = rng.normal(size=(120, 4)) + 3 * y[:, None]
>>> probe_folds(F, y, pid)["pooled"]["macro_f1"]
1.0
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, f1_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from ..data import subject_split
from ..models import LinearHead
from .metrics import classification_metrics
from .splits import (ARCHIVE, ARCHIVE_VAL_FRAC, TEST_SEED, VAL_FRAC, VAL_SEED, Fold, subject_folds,
                     validation_split)

C_GRID = (0.01, 0.1, 1.0, 10.0)
TOL, MAX_ITER = 1e-6, 20_000


def make_probe(C: float = 1.0) -> Pipeline:
    """StandardScaler + class-weighted multinomial logistic regression with the probe's tolerances."""
    return make_pipeline(StandardScaler(), _regression(C))


def _regression(C: float, warm_start: bool = False) -> LogisticRegression:
    return LogisticRegression(C=C, tol=TOL, max_iter=MAX_ITER, class_weight="balanced", warm_start=warm_start)


def _macro_f1(y, pred) -> float:
    return float(f1_score(y, pred, average="macro", zero_division=0))


def fit_probe(features: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray,
              grid: tuple[float, ...] = C_GRID) -> tuple[Pipeline, dict]:
    """The probe fitted on ``train`` rows of ``features`` (N, D), C chosen by macro-F1 on ``val`` rows.

    One regression walks the grid from strong to weak regularisation, each fit starting from
    the last (warm start: the same optima, far fewer L-BFGS iterations). Returns the pipeline
    of the best C (ties: the stronger regularisation) and what was chosen, and whether every
    fit converged.
    """
    scaler = StandardScaler().fit(features[train])
    Z = scaler.transform(features)
    clf = _regression(grid[0], warm_start=True)
    best, scores, iterations, converged = None, {}, {}, True
    for C in sorted(grid):
        clf.set_params(C=C)
        # One BLAS thread: these problems are small, and after torch has run, two OpenBLAS
        # threads fighting torch's OpenMP pool made each fit about 10x slower on 2 cores.
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported through the flag instead
            clf.fit(Z[train], y[train])
        iterations[C] = int(np.max(clf.n_iter_))
        converged &= iterations[C] < MAX_ITER
        scores[C] = _macro_f1(y[val], clf.predict(Z[val]))
        if best is None or scores[C] > scores[best[0]]:
            best = (C, copy.deepcopy(clf))
    C, chosen = best
    chosen.set_params(warm_start=False)
    info = {"C": C, "val_macro_f1": {str(k): v for k, v in scores.items()},
            "iterations": {str(k): v for k, v in iterations.items()}, "converged": bool(converged)}
    return Pipeline([("standardscaler", scaler), ("logisticregression", chosen)]), info


def probe_folds(features: np.ndarray, y: np.ndarray, pid: np.ndarray, folds: list[Fold] | None = None,
                split: str = "auto", n_classes: int | None = None) -> dict:
    """The probe on ``features`` (N, D) with labels ``y`` (N,) over subject-wise ``folds``; a JSON-ready dict."""
    features, y, pid = np.asarray(features, np.float64), np.asarray(y), np.asarray(pid)
    if not np.isfinite(features).all():
        bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
        raise ValueError(f"probe features hold NaN/inf in {len(bad)} window(s) (first: {bad[:5].tolist()})")
    folds = folds if folds is not None else subject_folds(pid, split)
    n_classes = n_classes or int(y.max()) + 1
    t0 = time.perf_counter()
    workers = min(len(folds), max(1, torch.get_num_threads()))
    fitted = Parallel(n_jobs=workers)(delayed(_probe_fold)(features, y, pid, fold) for fold in folds)
    rows = [row for _, row in fitted]
    preds = [pred for pred, _ in fitted]
    truth = [y[fold.test] for fold in folds]
    subjects = [pid[fold.test] for fold in folds]
    tags = [np.full(len(fold.test), fold.index) for fold in folds]
    m = classification_metrics(np.concatenate(truth), np.concatenate(preds), np.concatenate(subjects), n_classes,
                               groups=np.concatenate(tags))
    return {"per_subject": m["per_subject"], "pooled": m["pooled"], "confusion": m["confusion"], "folds": rows,
            "converged": all(r["converged"] for r in rows), "feature_dim": int(features.shape[1]),
            "seconds": round(time.perf_counter() - t0, 2)}


def _probe_fold(features: np.ndarray, y: np.ndarray, pid: np.ndarray, fold: Fold) -> tuple[np.ndarray, dict]:
    """One fold of :func:`probe_folds`: its test predictions and its result row."""
    pipe, info = fit_probe(features, y, fold.train, fold.val)
    pred = pipe.predict(features[fold.test])
    return pred, {"fold": fold.index, "test_subjects": [str(s) for s in fold.subjects(pid, "test")],
                  "n_train": len(fold.train), "n_val": len(fold.val), "n_test": len(fold.test), **info,
                  "pooled_macro_f1": _macro_f1(y[fold.test], pred)}


def probe_protocol(folds: list[Fold]) -> dict:
    """How :func:`probe_folds` was run, for every result file."""
    archive = folds[0].kind == ARCHIVE
    return {"estimator": "StandardScaler + LogisticRegression(multinomial, lbfgs, class_weight=balanced)",
            "tol": TOL, "max_iter": MAX_ITER, "C_grid": list(C_GRID),
            "C_choice": "best macro-F1 on the fold's validation " + ("windows" if archive else "subjects")
                        + " (fit on its training " + ("windows" if archive else "subjects") + ")",
            "split": {"kind": folds[0].kind, "n_folds": len(folds), "val_frac": ARCHIVE_VAL_FRAC if archive else VAL_FRAC,
                      "test_seed": None if archive else TEST_SEED, "val_seed": VAL_SEED,
                      "by": "the archive's own train/test split; validation windows stratified by class" if archive
                      else "subject"}}


def probe_table(feature_sets: dict[str, np.ndarray], y: np.ndarray, pid: np.ndarray, split: str = "auto",
                n_classes: int | None = None, on_result=None, folds: list[Fold] | None = None) -> dict:
    """:func:`probe_folds` for every named feature set on the same folds: {"protocol", "results": {name: ...}}.

    ``folds`` defaults to the subject folds of ``pid`` under ``split``.
    """
    folds = folds if folds is not None else subject_folds(pid, split)
    results = {}
    for name, F in feature_sets.items():
        results[name] = probe_folds(F, y, pid, folds, n_classes=n_classes)
        if on_result is not None:
            on_result(name, results[name])
    return {"protocol": probe_protocol(folds), "results": results}


@dataclass
class ProbeResult:
    """A probe fitted on one subject-wise split: the head a bundle ships and its held-out score."""

    macro_f1: float  # pooled over all test windows
    kappa: float  # pooled over all test windows
    n_train: int
    n_test: int
    test_subjects: list
    C: float
    converged: bool
    pipeline: object

    def to_dict(self) -> dict:
        return {"macro_f1": self.macro_f1, "kappa": self.kappa, "n_train": self.n_train, "n_test": self.n_test,
                "test_subjects": [str(s) for s in self.test_subjects], "C": self.C, "converged": self.converged,
                "pooled": True}


def linear_probe(features: np.ndarray, y: np.ndarray, pid: np.ndarray, seed: int = 42,
                 train_idx: np.ndarray | None = None, test_idx: np.ndarray | None = None) -> ProbeResult:
    """The probe fitted on the training subjects of one 80/20 split (C chosen on 12.5% of them held out); test scored.

    This is the head ``probe`` saves for export: the held-out subjects stay unseen, so the
    INT8 gates of export measure on windows the head never saw.
    """
    features = np.asarray(features, np.float64)
    if train_idx is None or test_idx is None:
        train_idx, test_idx = subject_split(pid, seed=seed)
    fit_tr, fit_va = validation_split(pid, train_idx)
    pipe, info = fit_probe(features, y, fit_tr, fit_va)
    C, converged = info["C"], info["converged"]
    pred = pipe.predict(features[test_idx])
    return ProbeResult(macro_f1=_macro_f1(y[test_idx], pred), kappa=float(cohen_kappa_score(y[test_idx], pred)),
                       n_train=len(train_idx), n_test=len(test_idx),
                       test_subjects=sorted(np.unique(pid[test_idx]).tolist()), C=C, converged=converged,
                       pipeline=pipe)


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
