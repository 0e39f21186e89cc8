"""``probe --transfer`` and ``probe --rotations``: a run's encoder on a target set's own folds, and under rotation.

Both write next to the run: ``transfer_<data>.json/.png`` (the full probe and few-shot rows
of FlowFM, the untrained twin, hand-crafted features and raw windows) and
``rotations_<data>.json/.png`` (the probe fitted as recorded, tested under rotations).
``<data>`` is a built-in source's name, or a file's stem and 6 hex digits of its path
(``act-1a2b3c``): a report is replaced only by a report on the same data.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..cli_common import console

FEATURES = ("FlowFM r", "untrained encoder", "hand-crafted", "raw windows")


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
    from ..cli_common import load_windows
    from ..training import load_model
    from .transfer import Target

    model, config = load_model(run)
    target = Target.of(load_windows(data, rate=rate), split)
    return model, config, target


def run_transfer(run: Path, data: str, shots: str = "1,5,10", draws: int = 10, split: str = "auto",
                 rate=None) -> dict:
    """The transfer report of ``run`` on ``data`` (printed; RUN/transfer_<data>.json and .png)."""
    from .baselines import feature_sets
    from .figures import plot_transfer
    from .transfer import transfer_report

    k = parse_ints(shots, "--shots") if shots.strip() not in ("", "none") else ()
    if draws < 1:
        raise ValueError(f"--draws must be at least 1, got {draws}")
    model, config, target = _load(run, data, split, rate)
    seed = int(config.get("train", {}).get("seed", 0))
    console.print(f"transfer probe of {run} on {len(target.ws)} windows of {target.ws.source} "
                  f"({target.describe()['headline']}; folds: {target.folds[0].kind})", highlight=False)
    sets = feature_sets(model, target.ws, seed)
    report = transfer_report(sets, target, shots=k, draws=draws,
                             on_result=lambda n, row, v: console.print(f"  {n}, {row}: {v:.3f}", highlight=False))
    result = {"data": target.ws.source, "run": str(run), "step": config.get("step"), "untrained_seed": seed, **report}
    out = Path(run) / f"transfer_{_stem(data)}.json"
    out.write_text(json.dumps(result, indent=2))
    plot_transfer(result, out.with_suffix(".png"), title=f"{Path(run).name} (step {config.get('step')}) on {target.ws.source}")
    _print_transfer(result)
    console.print(f"wrote {out} and {out.with_suffix('.png')}", highlight=False)
    return result


def run_rotations(run: Path, data: str, angles: str = "random,30,60,90", rotation_seed: int = 0,
                  split: str = "auto", rate=None) -> dict:
    """The rotation report of ``run`` on ``data`` (printed; RUN/rotations_<data>.json and .png)."""
    from .figures import plot_rotations
    from .transfer import fixed_featurizers, model_featurizers, rotation_report

    conditions = parse_angles(angles)
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
