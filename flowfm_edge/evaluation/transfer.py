"""Transfer and orientation protocols: how a frozen encoder does on data it was not pretrained on.

**Transfer** (:func:`transfer_report`). A labelled target set is probed on its own folds
(:func:`~.splits.folds_for`: an archive's train/test split where the source ships one, as
BasicMotions does, else the subject folds of docs/design.md#splits) with the project's one probe
(:func:`~.probe.probe_folds`), for FlowFM's r beside the same encoder untrained and the
hand-crafted and raw-window baselines. Beside the full probe stand **few-shot** rows: for
k labelled windows per class, drawn from each fold's training part (training and validation
windows together), a probe with a fixed C (:data:`FEW_SHOT_C`; one window per class leaves
nothing to choose C on) is fitted and scored on the fold's test windows, over ``draws``
draws. Every feature set sees the same draws (seeded by (seed, k, draw)), so the rows pair.

**Orientation** (:func:`rotation_report`). The probe is fitted on each fold's training
windows as recorded and tested on the same test windows, each turned by its own 3-D
rotation: ``random`` is uniform over all rotations (Haar, ``scipy.spatial.transform.Rotation.random``),
``30``/``60``/``90`` turn by that many degrees about a uniformly random axis. Reported per
condition: the headline macro-F1 and its drop from the windows as recorded.

The headline metric of a target is the per-subject mean macro-F1 on subject folds, and the
macro-F1 pooled over the test windows on an archive split (whose window ids are not
subjects).

>>> ws = make_synthetic(n_subjects=4, windows_per_activity=3)  # doctest: +SKIP
>>> target = Target.of(ws)                                     # doctest: +SKIP
>>> transfer_report(fixed_features(ws), target, shots=(1,), draws=2)["few_shot"]["hand-crafted"]["1"]  # doctest: +SKIP

:func:`run_transfer` and :func:`run_rotations` (``probe --transfer`` and ``probe --rotations``) report on a
run's encoder and write next to the run: ``transfer_<data>.json/.png`` (the full probe and few-shot rows
of FlowFM, the untrained twin, hand-crafted features and raw windows) and ``rotations_<data>.json/.png``
(the probe fitted as recorded, tested under rotations). ``<data>`` is a built-in source's name, or a
file's stem and 6 hex digits of its path (``act-1a2b3c``): a report is replaced only by a report on the
same data.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.contract import WindowSet
from ..progress import console
from .baselines import untrained_like
from .embed import embed_windows
from .har_features import har_features
from .metrics import classification_metrics, mean_sd
from .probe import fit_probe, make_probe, probe_folds, probe_protocol
from .splits import ARCHIVE, Fold, folds_for

SHOTS = (1, 5, 10)
DRAWS = 10
FEW_SHOT_C = 1.0
ROTATIONS = ("random", "30", "60", "90")

Featurizer = Callable[[np.ndarray], np.ndarray]  # windows (N, 3, 300) in g -> features (N, D)


@dataclass
class Target:
    """A labelled window set and the folds it is evaluated on."""

    ws: WindowSet
    folds: list[Fold]

    @classmethod
    def of(cls, ws: WindowSet, split: str = "auto") -> "Target":
        if ws.y is None:
            raise ValueError(f"{ws.source}: no labels (field 'y'); a transfer or rotation probe needs labelled windows")
        return cls(ws, folds_for(ws, split))

    @property
    def headline(self) -> str:
        """'pooled' on an archive split (window ids are not subjects), else 'per_subject'."""
        return "pooled" if self.folds[0].kind == ARCHIVE else "per_subject"

    def score(self, metrics: dict) -> float:
        """The headline macro-F1 of a :func:`classification_metrics` or :func:`probe_folds` result."""
        m = metrics[self.headline]["macro_f1"]
        return float(m["mean"] if self.headline == "per_subject" else m)

    def describe(self) -> dict:
        ws = self.ws
        return {"source": ws.source, "n_windows": len(ws), "classes": ws.classes, "folds": probe_protocol(self.folds),
                "headline": f"macro-F1, {'pooled over the test windows' if self.headline == 'pooled' else 'per-subject mean'}",
                "notes": {k: ws.meta[k] for k in ("units_raw", "gravity", "subjects", "resampling") if k in ws.meta}}


def model_featurizers(model, seed: int, untrained: bool = True, name: str = "FlowFM r") -> dict[str, Featurizer]:
    """FlowFM's r and (``untrained``) the same encoder with the random weights of ``seed``."""
    out = {name: lambda X: embed_windows(model, X)}
    if untrained:
        twin = untrained_like(model, seed)
        out["untrained encoder"] = lambda X: embed_windows(twin, X)
    return out


def fixed_featurizers() -> dict[str, Featurizer]:
    """The baselines that need no model: hand-crafted features (N, 53) and raw windows (N, 900)."""
    return {"hand-crafted": har_features, "raw windows": lambda X: np.asarray(X).reshape(len(X), -1)}


# --- transfer: the full probe and few-shot probes on a target's folds -----------------------


def few_shot_indices(y: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator,
                     where: str = "<data>") -> np.ndarray:
    """Exactly ``k`` indices per class of ``y`` drawn without replacement from ``pool`` (sorted)."""
    y = np.asarray(y)
    picks = []
    for c in np.unique(y):
        have = pool[y[pool] == c]
        if len(have) < k:
            raise ValueError(f"{where}: class {int(c)} has {len(have)} window(s) in a fold's training part; "
                             f"{k}-shot needs {k}")
        picks.append(rng.choice(have, size=k, replace=False))
    return np.sort(np.concatenate(picks))


def check_shots(target: Target, shots: tuple[int, ...]) -> None:
    """Refuse, before any probe runs, a k that some fold's training part cannot give for some class."""
    if not shots:
        return
    y, k = np.asarray(target.ws.y), max(shots)
    for fold in target.folds:
        pool = np.concatenate([fold.train, fold.val])
        counts = np.bincount(y[pool], minlength=int(y.max()) + 1)
        short = [c for c in np.unique(y) if counts[c] < k]
        if short:
            c = int(short[0])
            name = target.ws.classes[c] if target.ws.classes and c < len(target.ws.classes) else str(c)
            raise ValueError(f"{target.ws.source}: class {c} ({name}) has {counts[c]} window(s) in the training part "
                             f"of fold {fold.index}; {k}-shot needs {k} (lower --shots)")


def few_shot(features: dict[str, np.ndarray], target: Target, k: int, draws: int, seed: int = 0) -> dict:
    """{name: {"headline": mean_sd over draws, "draws": [headline per draw]}} for ``k`` windows per class."""
    y = np.asarray(target.ws.y)
    preds = {name: [[] for _ in range(draws)] for name in features}
    for d in range(draws):
        rng = np.random.default_rng([seed, k, d])
        for fold in target.folds:
            idx = few_shot_indices(y, np.concatenate([fold.train, fold.val]), k, rng, target.ws.source)
            for name, F in features.items():
                pipe = make_probe(FEW_SHOT_C).fit(F[idx], y[idx])
                preds[name][d].append(pipe.predict(F[fold.test]))
    out = {}
    for name in features:
        scores = [target.score(_metrics(target, p)) for p in preds[name]]
        out[name] = {"headline": mean_sd(scores) | {"sd_ddof": 0}, "draws": scores}
    return out


def _metrics(target: Target, preds: list[np.ndarray]) -> dict:
    """Metrics of per-fold test predictions, concatenated as :func:`probe_folds` does."""
    y, pid = np.asarray(target.ws.y), target.ws.pid
    tests = [fold.test for fold in target.folds]
    groups = np.concatenate([np.full(len(t), fold.index) for t, fold in zip(tests, target.folds)])
    return classification_metrics(np.concatenate([y[t] for t in tests]), np.concatenate(preds),
                                  np.concatenate([pid[t] for t in tests]), target.ws.n_classes, groups=groups)


def transfer_report(features: dict[str, np.ndarray], target: Target, shots: tuple[int, ...] = SHOTS,
                    draws: int = DRAWS, seed: int = 0, on_result=None) -> dict:
    """The full probe and the few-shot rows of every named feature set (N, D) on ``target``'s folds."""
    y = np.asarray(target.ws.y)
    check_shots(target, shots)
    full, few = {}, {}
    for name, F in features.items():
        r = probe_folds(F, y, target.ws.pid, target.folds, n_classes=target.ws.n_classes)
        full[name] = {"headline": target.score(r), "per_subject": r["per_subject"], "pooled": r["pooled"],
                      "converged": r["converged"], "feature_dim": r["feature_dim"], "folds": r["folds"]}
        if on_result is not None:
            on_result(name, "full", full[name]["headline"])
    for k in shots:
        rows = few_shot({n: np.asarray(F, np.float64) for n, F in features.items()}, target, k, draws, seed)
        for name, row in rows.items():
            few.setdefault(name, {})[str(k)] = row
            if on_result is not None:
                on_result(name, f"{k}-shot", row["headline"]["mean"])
    return {"target": target.describe(), "few_shot_protocol": {"shots": list(shots), "draws": draws, "seed": seed,
                                                               "C": FEW_SHOT_C, "pool": "each fold's training and validation windows",
                                                               "sd": "over draws (ddof 0)"},
            "full": full, "few_shot": few}


# --- orientation: fitted as recorded, tested rotated ------------------------------------------


def rotations(n: int, condition: str, seed: int = 0) -> np.ndarray:
    """Rotation matrices (n, 3, 3): uniform over SO(3) (``random``) or by ``condition`` degrees about random axes."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    if condition == "random":
        return Rotation.random(n, random_state=rng).as_matrix()
    try:
        angle = math.radians(float(condition))
    except ValueError:
        raise ValueError(f"unknown rotation {condition!r}; use 'random' or an angle in degrees (e.g. 30)") from None
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return Rotation.from_rotvec(axis * angle).as_matrix()


def rotate_windows(X: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Windows X (N, 3, L) turned by rotations R (N, 3, 3): (N, 3, L) float32, |a| unchanged."""
    return np.einsum("nij,njl->nil", R, np.asarray(X, np.float64)).astype(np.float32)


def rotation_report(featurizers: dict[str, Featurizer], target: Target, conditions: tuple[str, ...] = ROTATIONS,
                    rotation_seed: int = 0, on_result=None) -> dict:
    """Per feature set and condition: the headline macro-F1 of rotated test windows and its drop from as recorded."""
    ws, y = target.ws, np.asarray(target.ws.y)
    turned = {c: rotate_windows(ws.X, rotations(len(ws), c, rotation_seed + i)) for i, c in enumerate(conditions)}
    results = {}
    for name, featurize in featurizers.items():
        F = np.asarray(featurize(ws.X), np.float64)
        Fc = {c: np.asarray(featurize(Xc), np.float64) for c, Xc in turned.items()}
        preds = {c: [] for c in ("as recorded", *conditions)}
        for fold in target.folds:
            pipe, _ = fit_probe(F, y, fold.train, fold.val)
            preds["as recorded"].append(pipe.predict(F[fold.test]))
            for c in conditions:
                preds[c].append(pipe.predict(Fc[c][fold.test]))
        recorded = target.score(_metrics(target, preds["as recorded"]))
        rows = {}
        for c in conditions:
            score = target.score(_metrics(target, preds[c]))
            rows[c] = {"headline": score, "drop": recorded - score}
        results[name] = {"as recorded": recorded, "conditions": rows}
        if on_result is not None:
            on_result(name, recorded, rows)
    return {"target": target.describe(), "conditions": {c: ("uniform random rotation (Haar), one per window"
                                                            if c == "random" else f"{c} degrees about a uniformly "
                                                            "random axis, one per window") for c in conditions},
            "rotation_seed": {c: rotation_seed + i for i, c in enumerate(conditions)}, "fit": "on each fold's training windows as recorded", "results": results}


def _stem(data: str) -> str:
    """A file-name-safe name of the data source: a built-in name as it is ('basicmotions'); a path's stem
    plus 6 hex digits of its resolved path, so two files of one name in two folders never share a report."""
    from ..data import SOURCES

    if data in SOURCES:
        return data
    path = Path(data).expanduser().resolve()
    tag = hashlib.sha256(str(path).encode()).hexdigest()[:6]
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", path.stem or "data") + f"-{tag}"


def _load(run: Path, data: str, split: str, rate):
    from ..data import load_source
    from ..training import load_model

    model, config = load_model(run)
    target = Target.of(load_source(data, split="labelled", rate=rate), split)
    return model, config, target


def run_transfer(run: Path, data: str, shots: tuple[int, ...] = SHOTS, draws: int = DRAWS, split: str = "auto",
                 rate=None) -> dict:
    """The transfer report of ``run`` on ``data`` (printed; RUN/transfer_<data>.json and .png)."""
    from .baselines import feature_sets
    from .figures import plot_transfer

    if draws < 1:
        raise ValueError(f"--draws must be at least 1, got {draws}")
    model, config, target = _load(run, data, split, rate)
    seed = int(config.get("train", {}).get("seed", 0))
    console.print(f"transfer probe of {run} on {len(target.ws)} windows of {target.ws.source} "
                  f"({target.describe()['headline']}; folds: {target.folds[0].kind})", highlight=False)
    sets = feature_sets(model, target.ws, seed)
    report = transfer_report(sets, target, shots=shots, draws=draws,
                             on_result=lambda n, row, v: console.print(f"  {n}, {row}: {v:.3f}", highlight=False))
    result = {"data": target.ws.source, "run": str(run), "step": config.get("step"), "untrained_seed": seed, **report}
    out = Path(run) / f"transfer_{_stem(data)}.json"
    out.write_text(json.dumps(result, indent=2))
    plot_transfer(result, out.with_suffix(".png"), title=f"{Path(run).name} (step {config.get('step')}) on {target.ws.source}")
    _print_transfer(result)
    console.print(f"wrote {out} and {out.with_suffix('.png')}", highlight=False)
    return result


def run_rotations(run: Path, data: str, conditions: tuple[str, ...] = ROTATIONS, rotation_seed: int = 0,
                  split: str = "auto", rate=None) -> dict:
    """The rotation report of ``run`` on ``data`` (printed; RUN/rotations_<data>.json and .png)."""
    from .figures import plot_rotations

    model, config, target = _load(run, data, split, rate)
    seed = int(config.get("train", {}).get("seed", 0))
    console.print(f"rotation probe of {run} on {len(target.ws)} windows of {target.ws.source}: fitted as recorded, "
                  f"tested under {', '.join(conditions)}", highlight=False)
    report = rotation_report(model_featurizers(model, seed) | fixed_featurizers(), target, conditions, rotation_seed,
                             on_result=lambda n, rec, rows: console.print(
                                 f"  {n}: {rec:.3f} as recorded; drop "
                                 + ", ".join(f"{c} {r['drop']:+.3f}" for c, r in rows.items()), highlight=False))
    result = {"data": target.ws.source, "run": str(run), "step": config.get("step"), "untrained_seed": seed, **report}
    out = Path(run) / f"rotations_{_stem(data)}.json"
    out.write_text(json.dumps(result, indent=2))
    plot_rotations(result, out.with_suffix(".png"), title=f"{Path(run).name} (step {config.get('step')}) on {target.ws.source}")
    console.print(f"wrote {out} and {out.with_suffix('.png')}", highlight=False)
    return result


def _print_transfer(result: dict) -> None:
    from rich.table import Table

    shots = result["few_shot_protocol"]["shots"]
    table = Table(title=f"transfer probe on {result['data']}: {result['target']['headline']}")
    for col in ("features", "full probe", *[f"{k}-shot (mean +- SD over {result['few_shot_protocol']['draws']} draws)"
                                             for k in shots]):
        table.add_column(col, justify="left" if col == "features" else "right")
    for name, full in result["full"].items():
        few = result["few_shot"].get(name, {})
        table.add_row(name, f"{full['headline']:.3f}" + ("" if full["converged"] else " (not converged)"),
                      *[f"{few[str(k)]['headline']['mean']:.3f} +- {few[str(k)]['headline']['sd']:.3f}" for k in shots])
    console.print(table)
