"""How well generated windows match their prompt: per-prompt accuracy and Frechet distance (docs/design.md#generation-quality).

A frozen HAR classifier trained on real data (:mod:`flowfm_edge.evaluation.feature_net`,
never the model under test) labels the windows generated for each prompt. Per prompt:

- ``accuracy``: the fraction labelled as the prompt's activity;
- ``frechet``: Frechet distance, in the classifier's feature space, between the generated
  windows and the real windows of that activity;
- ``predicted``: how the generated windows were labelled, per class.

The floor is the same network's unconditional generator (``e = 0``): the fraction of its
windows labelled as each activity, and its Frechet distance to that activity's real
windows, with as many windows and the same noise as each prompt (Frechet distance is
biased by sample size, so only equal sizes compare). The ceiling is the classifier's own
accuracy on the real windows of each activity (which include its training subjects).
:func:`text_eval_run` (``flowfm-edge text-eval``) evaluates a text run directory, prompt by prompt.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..data.contract import WindowSet
from ..evaluation.feature_net import FeatureNet
from ..evaluation.frechet import frechet_distance
from ..evaluation.quality import feature_vectors
from ..models import FlowFM
from ..models.text import check_text_model, sample_text_batched
from ..solvers import check_solver, nfe
from .embeddings import EmbeddingCache
from .prompts import SPLITS


@torch.no_grad()
def _labels_and_features(net: FeatureNet, X: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class codes (N,) and features (N, feat_dim) of windows X (N, 3, 300) g."""
    feats = feature_vectors(net, X, batch_size)
    logits = net.head(torch.from_numpy(feats).float()).numpy()
    return logits.argmax(1), feats


def _class_codes(run_classes: list[str], net: FeatureNet, ws: WindowSet) -> tuple[dict, dict]:
    """Feature-net and data class codes of every run class, or an error naming the mismatch."""
    net_classes, data_classes = list(net.cfg.classes), list(ws.classes or [])
    for name, have in (("feature network", net_classes), (f"data {ws.source}", data_classes)):
        missing = [c for c in run_classes if c not in have]
        if missing:
            raise ValueError(f"the {name} has no class(es) {missing} of the text run (it has {have}); "
                             "use the data the text run was fine-tuned on and a feature network trained on it")
    return {c: net_classes.index(c) for c in run_classes}, {c: data_classes.index(c) for c in run_classes}


def text_eval(model: FlowFM, config: dict, ws: WindowSet, net: FeatureNet, cache: EmbeddingCache, n: int = 64,
              steps: int = 8, solver: str = "euler", guidance: float | None = None, seed: int = 0,
              on_row=None) -> dict:
    """Evaluate the text run ``model`` (with its ``config``) against labelled real windows ``ws``.

    Generates ``n`` windows per prompt (every training and held-out description of the run)
    and ``n`` unconditional ones, all from the same noise (``seed``). ``on_row(row)`` is called
    after each prompt. Returns the JSON-ready result.
    """
    check_text_model(model)
    check_solver(solver)
    if ws.y is None:
        raise ValueError(f"{ws.source}: text-eval needs labelled windows (field 'y')")
    table = config["text"]["prompts"]
    run_classes = list(table)
    net_code, data_code = _class_codes(run_classes, net, ws)
    net_names = list(net.cfg.classes)

    def generate(e: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        X = sample_text_batched(model, torch.from_numpy(np.repeat(e[None], n, 0)), steps, solver, guidance, seed).numpy()
        if not np.isfinite(X).all():
            raise RuntimeError("generated windows hold NaN/inf; the text run or the sampler setting is unusable")
        return X, time.perf_counter() - t0

    real_feats, ceiling = {}, {}
    for c in run_classes:
        Xc = ws.X[np.asarray(ws.y) == data_code[c]]
        pred, real_feats[c] = _labels_and_features(net, Xc)
        ceiling[c] = {"n_real": int(len(Xc)), "accuracy": float((pred == net_code[c]).mean()) if len(Xc) else None}

    X0, sec0 = generate(np.zeros(cache.dim, np.float32))
    pred0, feats0 = _labels_and_features(net, X0)
    floor = {c: {"accuracy": float((pred0 == net_code[c]).mean()), "frechet": _fd(real_feats[c], feats0)}
             for c in run_classes}
    rows = []
    for c in run_classes:
        for split in SPLITS:
            for prompt in table[c][split]:
                X, sec = generate(cache.get([prompt])[0])
                pred, feats = _labels_and_features(net, X)
                row = {"class": c, "prompt": prompt, "split": split,
                       "accuracy": float((pred == net_code[c]).mean()), "frechet": _fd(real_feats[c], feats),
                       "predicted": {net_names[k]: int(v) for k, v in zip(*np.unique(pred, return_counts=True))},
                       "mean_abs_a": float(np.linalg.norm(X, axis=1).mean()), "seconds": round(sec, 3)}
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    per_class = {c: _class_summary([r for r in rows if r["class"] == c], floor[c], ceiling[c]) for c in run_classes}
    return {
        "settings": {"n_per_prompt": n, "steps": steps, "solver": solver, "guidance": guidance, "seed": seed,
                     "nfe": nfe(solver, steps) * (1 if guidance is None else 2)},
        "data": ws.source, "feature_net": net.cfg.info, "classes": run_classes,
        "summary": _summary(per_class), "per_class": per_class, "prompts": rows,
        "unconditional": {"predicted": {net_names[k]: int(v) for k, v in zip(*np.unique(pred0, return_counts=True))},
                          "seconds": round(sec0, 3)},
    }


def text_eval_run(run, data: str, feature_net, n: int = 64, steps: int = 8, solver: str = "euler",
                  guidance: float | None = None, seed: int = 0) -> dict:
    """The text evaluation of the text run ``run`` on the labelled windows of ``data`` (printed prompt by prompt,
    then the means over classes); the result."""
    from ..evaluation.feature_net import load_feature_net
    from ..progress import console
    from .generate import labelled_windows, text_run

    model, config, cache = text_run(run)
    net = load_feature_net(feature_net)
    ws = labelled_windows(data)

    def on_row(row):
        console.print(f"  {row['class']:<19} {row['split']:<8} acc {row['accuracy']:.2f}  FD {row['frechet']:.3f}  "
                      f"{row['prompt']!r}", highlight=False, soft_wrap=True)

    console.print(f"text-eval of {run}: {n} windows per prompt, {solver} x {steps}, guidance {guidance}")
    result = text_eval(model, config, ws, net, cache, n=n, steps=steps, solver=solver, guidance=guidance,
                       seed=seed, on_row=on_row)
    result.update(run=str(run), feature_net_path=str(feature_net))
    s = result["summary"]
    console.print(f"mean over classes: accuracy train prompts {s['train']['accuracy']:.3f}, held-out "
                  f"{s['held_out']['accuracy']:.3f}, unconditional {s['floor_unconditional']['accuracy']:.3f}; "
                  f"Frechet train {s['train']['frechet']:.3f}, held-out {s['held_out']['frechet']:.3f}, "
                  f"unconditional {s['floor_unconditional']['frechet']:.3f}", highlight=False, soft_wrap=True)
    return result


def _fd(real: np.ndarray, fake: np.ndarray) -> float | None:
    return frechet_distance(real, fake) if len(real) >= 2 else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _class_summary(rows: list[dict], floor: dict, ceiling: dict) -> dict:
    out = {"floor_unconditional": floor, "ceiling_real": ceiling}
    for split in SPLITS:
        sel = [r for r in rows if r["split"] == split]
        out[split] = {"prompts": len(sel), "accuracy": _mean(r["accuracy"] for r in sel),
                      "frechet": _mean(r["frechet"] for r in sel)}
    return out


def _summary(per_class: dict) -> dict:
    """Means over classes (each class weighs the same) of every per-class figure."""
    pcs = per_class.values()
    out = {split: {k: _mean(pc[split][k] for pc in pcs) for k in ("accuracy", "frechet")} for split in SPLITS}
    out["floor_unconditional"] = {k: _mean(pc["floor_unconditional"][k] for pc in pcs) for k in ("accuracy", "frechet")}
    out["ceiling_real"] = {"accuracy": _mean(pc["ceiling_real"]["accuracy"] for pc in pcs)}
    return out


def markdown_table(result: dict) -> str:
    """Per-prompt rows then per-class means, as a Markdown table."""
    lines = ["| activity | prompt | split | accuracy | Frechet | unconditional accuracy | unconditional Frechet |",
             "|---|---|---|---|---|---|---|"]
    for r in result["prompts"]:
        fl = result["per_class"][r["class"]]["floor_unconditional"]
        lines.append(f"| {r['class']} | {r['prompt']} | {r['split'].replace('_', '-')} | {r['accuracy']:.2f} | "
                     f"{_fmt(r['frechet'])} | {fl['accuracy']:.2f} | {_fmt(fl['frechet'])} |")
    lines += ["", "| activity | train prompts: accuracy | held-out: accuracy | train: Frechet | held-out: Frechet | "
              "unconditional: accuracy | unconditional: Frechet | classifier on real windows |",
              "|---|---|---|---|---|---|---|---|"]
    for c, pc in list(result["per_class"].items()) + [("**mean**", result["summary"])]:
        lines.append(f"| {c} | {_fmt(pc['train']['accuracy'], 2)} | {_fmt(pc['held_out']['accuracy'], 2)} | "
                     f"{_fmt(pc['train']['frechet'])} | {_fmt(pc['held_out']['frechet'])} | "
                     f"{_fmt(pc['floor_unconditional']['accuracy'], 2)} | {_fmt(pc['floor_unconditional']['frechet'])} | "
                     f"{_fmt(pc['ceiling_real']['accuracy'], 2)} |")
    return "\n".join(lines) + "\n"


def _fmt(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"
