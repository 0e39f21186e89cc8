"""The ``embed`` and ``probe`` commands: frozen embeddings of a dataset, and the linear-probe table with its export head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..cli_common import DATA_HELP, cli_errors, console, load_windows

BASELINE_NAMES = {"untrained": "untrained encoder", "hand-crafted": "hand-crafted", "raw": "raw windows"}


def _finite_rows(a, what: str, where: str, fix: str) -> None:
    """Refuse ``a`` (N, ...) when any row holds NaN or Inf, naming the first row indices."""
    import numpy as np

    bad = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10]) + (f", ... ({len(bad)} in all)" if len(bad) > 10 else "")
        raise ValueError(f"{where}: {what} {shown} of {len(a)} hold NaN or Inf; nothing was written ({fix})")


@cli_errors
def embed(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint."),
    data: str = typer.Option(..., help=DATA_HELP),
    out: Path = typer.Option(..., help="Output .npz with r (N, r_dim), y and pid."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
):
    """Embed every window of a dataset with the frozen encoder."""
    import numpy as np

    from ..training import load_model
    from .embed import embed_windows

    model, _ = load_model(run)
    ws = load_windows(data, rate=rate)
    _finite_rows(ws.X, "windows", ws.source, "drop or repair those windows")
    r = embed_windows(model, ws.X)
    _finite_rows(r, "the embeddings of windows", ws.source, "values too large for the model? windows must be in g")
    arrays = {"r": r, "pid": ws.pid}
    if ws.y is not None:
        arrays["y"] = ws.y
    if ws.classes is not None:
        arrays["classes"] = np.array(ws.classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    console.print(f"wrote {len(r)} embeddings of dim {r.shape[1]} to {out}")


@cli_errors
def probe(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    baselines: str = typer.Option("untrained,hand-crafted,raw",
                                  help="Comma-separated baselines probed on the same folds: untrained (same encoder, "
                                       "random weights, the run's seed), hand-crafted (HAR features), raw (flattened "
                                       "windows); 'none' for none."),
    split: str = typer.Option("auto", help="Folds: auto (the source's own train/test split where it ships one, else LOSO for <= 10 subjects, else 5 x 80/20 by subject), loso, 5x80-20, archive."),
    seed: int = typer.Option(42, help="Seed of the subject-wise 80/20 split of the head saved for export."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    transfer: bool = typer.Option(False, "--transfer", help="Transfer report instead: the full probe and few-shot rows "
                                  "(--shots, --draws) of FlowFM, its untrained twin, hand-crafted features and raw "
                                  "windows on the data's own folds. Writes RUN/transfer_<data>.json/.png; no head."),
    shots: str = typer.Option("1,5,10", help="With --transfer: labelled windows per class of the few-shot rows ('none': none)."),
    draws: int = typer.Option(10, help="With --transfer: few-shot draws per k (mean +- SD over them)."),
    rotations: bool = typer.Option(False, "--rotations", help="Orientation report instead: the probe fitted on the "
                                   "windows as recorded, tested on the same test windows rotated (--angles). Writes "
                                   "RUN/rotations_<data>.json/.png; no head."),
    angles: str = typer.Option("random,30,60,90", help="With --rotations: 'random' (uniform over all 3-D rotations) "
                               "and/or degrees about random axes."),
    rotation_seed: int = typer.Option(0, help="With --rotations: seed of the rotations (condition i uses seed + i)."),
):
    """Probe frozen embeddings with a converged logistic regression over subject-wise folds, beside baselines.

    Writes RUN/probe.json and RUN/probe.png, and saves a classifier head (fitted on the
    training subjects of one 80/20 split) with the run for export. A source that ships its own
    train/test split (basicmotions) is probed on it. --transfer and --rotations report how the
    encoder does away from its pretraining data instead (both may be given).
    """
    if transfer or rotations:
        from .transfer_commands import run_rotations, run_transfer

        if transfer:
            run_transfer(run, data, shots, draws, split, rate)
        if rotations:
            run_rotations(run, data, angles, rotation_seed, split, rate)
        return
    run_probe(run, data, seed, baselines, split, rate)


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
    from ..data import subject_split
    from ..training import load_model, save_head
    from ..training.model_card import write_model_card
    from .baselines import feature_sets, representation_table, summary_rows
    from .figures import plot_probe
    from .probe import linear_probe, probe_head
    from .splits import folds_for
    import numpy as np

    names = _baselines(baselines)
    model, config = load_model(run)
    ws = load_windows(data, rate=rate)
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
