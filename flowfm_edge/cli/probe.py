"""The probe commands: ``embed`` (a dataset's frozen embeddings) and ``probe`` (the linear-probe table beside
baselines, with the classifier head for export; ``--transfer`` and ``--rotations`` report instead how the
encoder does away from its pretraining data)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import DATA_HELP, cli_errors, console


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """'1,5,10' -> (1, 5, 10); a clear error for anything but positive integers."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{what} must be comma-separated positive integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise ValueError(f"{what} must be comma-separated positive integers, got {text!r}")
    return values


def parse_angles(text: str) -> tuple[str, ...]:
    """'random,30,60,90' -> the rotation conditions; each is 'random' or degrees in (0, 180]."""
    out = []
    for v in (t.strip() for t in text.split(",") if t.strip()):
        if v != "random":
            try:
                deg = float(v)
            except ValueError:
                raise ValueError(f"--angles: {v!r} is neither 'random' nor an angle in degrees") from None
            if not 0 < deg <= 180:
                raise ValueError(f"--angles: {v} degrees is outside (0, 180]")
        out.append(v)
    if not out:
        raise ValueError("--angles is empty; give 'random' and/or angles in degrees, e.g. random,30,60,90")
    return tuple(dict.fromkeys(out))


@cli_errors
def embed(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint."),
    data: str = typer.Option(..., help=DATA_HELP),
    out: Path = typer.Option(..., help="Output .npz with r (N, r_dim), y and pid."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
):
    """Embed every window of a dataset with the frozen encoder."""
    from ..evaluation.embed import embed_run

    r = embed_run(run, data, out, rate)
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
        from ..evaluation.transfer import run_rotations, run_transfer

        if transfer:
            k = parse_ints(shots, "--shots") if shots.strip() not in ("", "none") else ()
            run_transfer(run, data, k, draws, split, rate)
        if rotations:
            run_rotations(run, data, parse_angles(angles), rotation_seed, split, rate)
        return
    from ..evaluation.probe_run import run_probe

    run_probe(run, data, seed, baselines, split, rate)
