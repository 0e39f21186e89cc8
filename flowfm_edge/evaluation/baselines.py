"""A representation and its baselines, probed on the same folds (docs/design.md#probe).

Beside every learned representation stand three baselines any HAR representation must beat:
the same encoder untrained (same config, normalisation and seed, random weights), the raw
flattened windows (900-d), and the hand-crafted feature set of :mod:`.har_features`.

>>> # table = representation_table(model, windows, seed=0)
>>> # table["results"]["FlowFM r"]["per_subject"]["macro_f1"]["mean"]
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.contract import WindowSet
from ..models import ModelConfig, build_model
from .embed import embed_windows
from .har_features import har_features
from .probe import probe_table
from .splits import folds_for

BASELINES = ("untrained encoder", "hand-crafted", "raw windows")


def untrained_like(model, seed: int):
    """A model of ``model``'s exact config (normalisation included) with the random weights of ``seed``."""
    torch.manual_seed(seed)
    return build_model(ModelConfig.from_dict(model.cfg.to_dict())).eval()


def feature_sets(model, ws: WindowSet, seed: int = 0, name: str = "FlowFM r",
                 baselines: tuple[str, ...] = BASELINES) -> dict[str, np.ndarray]:
    """{name: embeddings of ``model``} plus the chosen baselines' features of ``ws.X``."""
    sets = {name: embed_windows(model, ws.X)}
    if "untrained encoder" in baselines:
        sets["untrained encoder"] = embed_windows(untrained_like(model, seed), ws.X)
    return sets | fixed_features(ws, baselines)


def fixed_features(ws: WindowSet, baselines: tuple[str, ...] = ("hand-crafted", "raw windows")) -> dict[str, np.ndarray]:
    """The baselines that need no model: hand-crafted features (N, 53) and raw windows (N, 900)."""
    sets = {}
    if "hand-crafted" in baselines:
        sets["hand-crafted"] = har_features(ws.X)
    if "raw windows" in baselines:
        sets["raw windows"] = ws.X.reshape(len(ws), -1)
    return sets


def representation_table(model, ws: WindowSet, seed: int = 0, split: str = "auto", name: str = "FlowFM r",
                         baselines: tuple[str, ...] = BASELINES, on_result=None,
                         sets: dict[str, np.ndarray] | None = None) -> dict:
    """The probe of ``model``'s r and its baselines on labelled ``ws``, all on the same subject-wise folds.

    ``sets`` passes features already computed by :func:`feature_sets`, so a caller that needs
    them too (the export head) embeds the windows once.
    """
    if ws.y is None:
        raise ValueError(f"{ws.source}: no labels (field 'y'); a probe needs labelled windows")
    sets = feature_sets(model, ws, seed, name, baselines) if sets is None else sets
    table = probe_table(sets, np.asarray(ws.y), ws.pid, split, n_classes=ws.n_classes, on_result=on_result,
                        folds=folds_for(ws, split))
    table["data"] = {"source": ws.source, "n_windows": len(ws), "n_subjects": int(len(np.unique(ws.pid))),
                     "classes": ws.classes}
    table["untrained_seed"] = seed
    return table


def summary_rows(table: dict) -> list[dict]:
    """One row per feature set: macro-F1 and kappa per-subject mean +- SD and pooled."""
    rows = []
    for name, r in table["results"].items():
        ps, po = r["per_subject"], r["pooled"]
        rows.append({"features": name, "dim": r["feature_dim"], "f1_mean": ps["macro_f1"]["mean"],
                     "f1_sd": ps["macro_f1"]["sd"], "f1_pooled": po["macro_f1"], "kappa_mean": ps["kappa"]["mean"],
                     "kappa_sd": ps["kappa"]["sd"], "kappa_pooled": po["kappa"], "converged": r["converged"]})
    return rows
