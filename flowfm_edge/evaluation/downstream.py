"""Downstream HAR evaluation of any registered model through ``model.embed`` (docs/design.md#probe).

Regimes:

- ``linear-probe``: frozen model; the one probe of :mod:`.probe` (standardised ``r``, converged
  logistic regression, C chosen on the validation subjects).
- ``fine-tune``: the model's weights and a ``Linear(d, d) - ReLU - Linear(d, classes)`` head,
  all trained.
- ``scratch``: the same architecture and head from random weights, trained on labels only.

Fine-tune and scratch train a fresh copy per fold, with class-weighted cross-entropy and early
stopping on the validation subjects; a fold whose best epoch lies within ``patience`` of the
epoch cap is flagged (``hit_cap``), and the result counts as converged only when at most 10%
of folds are. Predictions of all folds' test subjects are scored together.

>>> # result = evaluate_downstream(model, windows, "linear-probe")
>>> # result["per_subject"]["macro_f1"]["mean"], result["pooled"]["macro_f1"]

:func:`evaluate_run` (``flowfm-edge evaluate``) runs it on a run directory and a data source, reporting
each fold as it finishes.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, replace

import numpy as np
import torch
from torch import nn

from ..data.contract import WindowSet
from ..models import Classifier, ModelConfig, build_model
from ..progress import console
from .embed import embed_windows
from .finetune import DEFAULT_LR, PROTOCOLS, FitConfig, fit, mlp_head, predict_logits
from .metrics import classification_metrics
from .probe import probe_folds, probe_protocol
from .splits import VAL_FRAC, VAL_SEED, TEST_SEED, subject_folds


def _check(ws: WindowSet, protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if ws.y is None:
        raise ValueError(f"{ws.source}: no labels (field 'y'); downstream evaluation needs labelled windows")


def _fresh_model(model: nn.Module, seed: int) -> nn.Module:
    """Same architecture and normalisation as ``model``, random weights."""
    torch.manual_seed(seed)
    return build_model(ModelConfig.from_dict(model.cfg.to_dict()))


def _feature_dim(model: nn.Module) -> int:
    with torch.no_grad():
        was_training = model.training
        d = model.eval().embed(torch.zeros(2, model.cfg.channels, model.cfg.window)).shape[1]
        model.train(was_training)
    return int(d)


def run_fold(model: nn.Module, ws: WindowSet, fold, protocol: str, cfg: FitConfig) -> tuple[np.ndarray, dict]:
    """Fine-tune or scratch: train on ``fold.train`` (early-stopped on ``fold.val``); labels of ``fold.test``, history."""
    n_classes = ws.n_classes
    y = torch.from_numpy(np.asarray(ws.y)).long()
    fold_cfg = replace(cfg, seed=cfg.seed + fold.index)
    base = copy.deepcopy(model) if protocol == "fine-tune" else _fresh_model(model, fold_cfg.seed)
    net = Classifier(base, mlp_head(_feature_dim(base), n_classes))
    inputs = torch.from_numpy(np.ascontiguousarray(ws.X, dtype=np.float32))
    history = fit(net, inputs[fold.train], y[fold.train], inputs[fold.val], y[fold.val], fold_cfg, n_classes)
    pred = predict_logits(net, inputs[fold.test], device=cfg.device).argmax(1).numpy()
    return pred, history


def evaluate_downstream(model: nn.Module, ws: WindowSet, protocol: str = "linear-probe", split: str = "auto",
                        cfg: FitConfig | None = None, on_fold=None) -> dict:
    """Evaluate ``model`` (anything with ``embed(x) -> (B, d)`` and ``cfg``) on labelled windows ``ws``.

    Returns a JSON-ready dict: ``per_subject`` (mean +- SD), ``pooled``, ``folds``, ``confusion``.
    ``cfg.lr`` None (or 0) takes the protocol's default (probe 1e-3, fine-tune 1e-4, scratch 1e-3).
    """
    _check(ws, protocol)
    cfg = cfg or FitConfig()
    if not cfg.lr:
        cfg = replace(cfg, lr=DEFAULT_LR[protocol])
    t0 = time.perf_counter()
    folds = subject_folds(ws.pid, split)
    model = model.to(cfg.device).eval()
    if protocol == "linear-probe":
        return _probe_result(model, ws, folds, cfg, t0, on_fold)
    preds, truth, subjects, tags, fold_rows = [], [], [], [], []
    for fold in folds:
        pred, history = run_fold(model, ws, fold, protocol, cfg)
        y_test = np.asarray(ws.y)[fold.test]
        one = classification_metrics(y_test, pred, ws.pid[fold.test], ws.n_classes)
        fold_rows.append({
            "fold": fold.index, "test_subjects": [str(s) for s in fold.subjects(ws.pid, "test")],
            "n_train": len(fold.train), "n_val": len(fold.val), "n_test": len(fold.test),
            "epochs": len(history["val_loss"]), "best_epoch": history["best_epoch"],
            "best_val_loss": history["best_val_loss"],
            "hit_cap": history["best_epoch"] >= cfg.max_epochs - cfg.patience,
            "pooled_macro_f1": one["pooled"]["macro_f1"], "pooled_kappa": one["pooled"]["kappa"],
        })
        preds.append(pred)
        truth.append(y_test)
        subjects.append(ws.pid[fold.test])
        tags.append(np.full(len(fold.test), fold.index))
        if on_fold is not None:
            on_fold(fold, fold_rows[-1])
    metrics = classification_metrics(np.concatenate(truth), np.concatenate(preds), np.concatenate(subjects),
                                     ws.n_classes, groups=np.concatenate(tags))
    capped = sum(r["hit_cap"] for r in fold_rows)
    fit_info = asdict(cfg) | {"capped_folds": capped, "converged": capped <= CAP_SHARE * len(fold_rows),
                              "cap_rule": f"a fold hits the cap when its best epoch is within `patience` of max_epochs; "
                                          f"converged when at most {CAP_SHARE:.0%} of folds do"}
    return _result(protocol, folds, ws, model, fit_info, metrics, fold_rows, t0)


CAP_SHARE = 0.1  # at most 10% of folds may stop at the epoch cap for a fine-tune or scratch result to count


def _result(protocol: str, folds, ws: WindowSet, model, fit_info: dict, metrics: dict, fold_rows: list, t0: float) -> dict:
    classes = ws.classes or [str(k) for k in range(ws.n_classes)]
    return {
        "protocol": protocol,
        "split": {"kind": folds[0].kind, "n_folds": len(folds), "val_frac": VAL_FRAC,
                  "test_seed": TEST_SEED, "val_seed": VAL_SEED, "by": "subject"},
        "data": {"source": ws.source, "n_windows": len(ws), "n_subjects": int(len(np.unique(ws.pid))),
                 "classes": classes},
        "model": {"objective": model.cfg.objective, "feature_dim": _feature_dim(model)},
        "fit": fit_info,
        "per_subject": metrics["per_subject"],
        "pooled": metrics["pooled"],
        "folds": fold_rows,
        "confusion": {"classes": classes, "matrix": metrics["confusion"], "note": "summed over all folds' test windows"},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _probe_result(model, ws: WindowSet, folds, cfg: FitConfig, t0: float, on_fold=None) -> dict:
    """The linear-probe protocol: the one probe of :mod:`.probe` on frozen embeddings."""
    features = embed_windows(model, ws.X, device=cfg.device)
    r = probe_folds(features, np.asarray(ws.y), ws.pid, folds, n_classes=ws.n_classes)
    if on_fold is not None:
        for fold, row in zip(folds, r["folds"]):
            on_fold(fold, row)
    fit_info = probe_protocol(folds) | {"converged": r["converged"]}
    return _result("linear-probe", folds, ws, model, fit_info, r, r["folds"], t0)


def evaluate_run(run, data: str, protocol: str, split: str, cfg: FitConfig, rate: float | None = None,
                 plot=None) -> dict:
    """The downstream evaluation of ``run`` on ``data`` (printed fold by fold, then the summary); the confusion
    matrix (all folds) as PNG when ``plot`` is given. Returns the result, with ``run`` in it."""
    from ..data import load_source
    from ..training import load_model

    model, config = load_model(run, device=cfg.device)
    ws = load_source(data, split="labelled", rate=rate)
    console.print(f"{protocol} of {config['model']['objective']} run {run} on {len(ws)} windows from {ws.source}")

    def on_fold(fold, row):
        fitted = (f"C {row['C']:g}" + ("" if row["converged"] else " (not converged)") if "C" in row else
                  f"{row['epochs']} epochs, best {row['best_epoch'] + 1}" + (" (hit the epoch cap)" if row["hit_cap"] else ""))
        console.print(f"  fold {row['fold']}: test subject(s) {', '.join(row['test_subjects'])}; "
                      f"{fitted}; pooled macro-F1 {row['pooled_macro_f1']:.3f}", highlight=False, soft_wrap=True)

    result = evaluate_downstream(model, ws, protocol, split, cfg, on_fold=on_fold)
    result["run"] = str(run)
    ps, po = result["per_subject"], result["pooled"]
    console.print(f"{result['split']['kind']} ({result['split']['n_folds']} folds): macro-F1 per subject "
                  f"{ps['macro_f1']['mean']:.3f} +- {ps['macro_f1']['sd']:.3f}, pooled {po['macro_f1']:.3f}; "
                  f"kappa per subject {ps['kappa']['mean']:.3f} +- {ps['kappa']['sd']:.3f}, pooled {po['kappa']:.3f}",
                  highlight=False, soft_wrap=True)
    if not result["fit"]["converged"]:
        what = (f"{result['fit']['capped_folds']} of {result['split']['n_folds']} folds hit the epoch cap: raise --epochs"
                if "capped_folds" in result["fit"] else "a probe fit stopped at its iteration limit")
        console.print(f"[yellow]not converged:[/yellow] {what}", highlight=False)
    if plot is not None:
        from .figures import plot_confusion

        plot_confusion(result["confusion"]["matrix"], result["confusion"]["classes"], plot,
                       title=f"{protocol}, {result['split']['kind']}, {ws.source}")
        console.print(f"wrote {plot}")
    return result
