"""The probe of a run (``flowfm-edge probe``, the quickstart): its frozen embeddings beside baselines on
subject-wise folds, the classifier head saved with the run for export, ``RUN/probe.json`` and
``RUN/probe.png``, and the model card brought up to date.

>>> result = run_probe("runs/nano", "synthetic")   # doctest: +SKIP
>>> [row["features"] for row in result["summary"]]  # doctest: +SKIP
['FlowFM r', 'untrained encoder', 'hand-crafted', 'raw windows']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..progress import console

BASELINE_NAMES = {"untrained": "untrained encoder", "hand-crafted": "hand-crafted", "raw": "raw windows"}


def _baselines(baselines: str) -> list[str]:
    names = [] if baselines.strip() == "none" else [b.strip() for b in baselines.split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINE_NAMES]
    if unknown:
        raise ValueError(f"unknown --baselines {unknown}; choose from {', '.join(BASELINE_NAMES)} or none")
    return names


def _print_table(table: dict, rows: list[dict], source: str) -> None:
    from rich.table import Table

    split_info = table["protocol"]["split"]
    out = Table(title=f"linear probe, {split_info['kind']} ({split_info['n_folds']} folds by {split_info['by']}), {source}")
    for col in ("features", "dim", "macro-F1 per subject", "pooled", "kappa per subject", "pooled "):
        out.add_column(col, justify="left" if col == "features" else "right")
    for r in rows:
        out.add_row(r["features"], str(r["dim"]), f"{r['f1_mean']:.3f} +- {r['f1_sd']:.3f}", f"{r['f1_pooled']:.3f}",
                    f"{r['kappa_mean']:.3f} +- {r['kappa_sd']:.3f}", f"{r['kappa_pooled']:.3f}"
                    + ("" if r["converged"] else " (not converged)"))
    console.print(out)


def run_probe(run: Path, data: str, seed: int = 42, baselines: str = "untrained,hand-crafted,raw",
              split: str = "auto", rate: Optional[float] = None) -> dict:
    """The probe table of ``run`` and its baselines (printed, saved as probe.json / probe.png) and the export head."""
    import numpy as np

    from ..data import load_source, subject_split
    from ..training import load_model, save_head
    from ..training.model_card import write_model_card
    from .baselines import feature_sets, representation_table, summary_rows
    from .figures import plot_probe
    from .probe import linear_probe, probe_head
    from .splits import folds_for

    names = _baselines(baselines)
    model, config = load_model(run)
    ws = load_source(data, split="labelled", rate=rate)
    if ws.y is None:
        raise ValueError(f"{ws.source}: no labels (field 'y'); a probe needs labelled windows")
    train_seed = int(config.get("train", {}).get("seed", 0))
    console.print(f"probing {run} on {len(ws)} labelled windows of {ws.source} ({len(set(ws.pid.tolist()))} subjects)")
    sets = feature_sets(model, ws, train_seed, baselines=tuple(BASELINE_NAMES[b] for b in names))
    table = representation_table(model, ws, seed=train_seed, split=split, sets=sets,
                                 on_result=lambda name, r: console.print(
                                     f"  {name}: macro-F1 {r['per_subject']['macro_f1']['mean']:.3f} per subject, "
                                     f"{r['pooled']['macro_f1']:.3f} pooled ({r['seconds']:.0f} s)", highlight=False))
    rows = summary_rows(table)
    if table["protocol"]["split"]["kind"] == "archive":  # the head too trains on the archive's training part
        fold = folds_for(ws, split)[0]
        train_idx, test_idx = np.sort(np.concatenate([fold.train, fold.val])), fold.test
    else:
        train_idx, test_idx = subject_split(ws.pid, seed=seed, where=ws.source)
    head = linear_probe(sets["FlowFM r"], ws.y, ws.pid, train_idx=train_idx, test_idx=test_idx)
    classes = ws.classes or [str(k) for k in range(ws.n_classes)]
    save_head(run, probe_head(head.pipeline, len(classes)), classes,
              {"data": ws.source, "split_seed": seed, "macro_f1": head.macro_f1, "kappa": head.kappa, "C": head.C})
    _print_table(table, rows, ws.source)
    result = {"data": ws.source, "run": str(run), "step": config.get("step"), "protocol": table["protocol"],
              "untrained_seed": train_seed, "summary": rows, "results": table["results"],
              "head": {"split": "the archive's train/test split" if table["protocol"]["split"]["kind"] == "archive"
                       else f"subject-wise 80/20, seed {seed}", **head.to_dict()}}
    (Path(run) / "probe.json").write_text(json.dumps(result, indent=2))
    plot_probe(rows, Path(run) / "probe.png", title=f"{Path(run).name} (step {config.get('step')}), {ws.source}")
    write_model_card(run)
    console.print(f"wrote {run}/probe.json, {run}/probe.png and the classifier head "
                  f"(held-out macro-F1 {head.macro_f1:.3f}, {seed}-seeded 80/20 split)", highlight=False)
    return result
