"""What the claim scripts share: their pretraining runs, the frozen feature net, the FD protocol, their output.

Runs live under ``runs/claims/`` and are named by everything that defines them, so a run
one script trained is reused by another (training is deterministic given the name). Results go
to ``--out-dir`` (default ``benchmarks/results/``) through :func:`benchmarks.kit.write_result`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.kit import RESULTS, start_environment, write_result
from flowfm_edge.data import load_source
from flowfm_edge.evaluation import load_feature_net, quality_sweep, save_feature_net, train_feature_net
from flowfm_edge.evaluation.quality import N_WINDOWS, reference_windows
from flowfm_edge.models import ModelConfig
from flowfm_edge.recipe import RECIPE
from flowfm_edge.training import TrainConfig, load_model, read_config, train
from flowfm_edge.training.run_config import resolve_run_config

# One thread per process: on the shared 2-core CPU, two threads per process trained ~10x slower
# (23 vs 240 windows/s for nano) because the threads of competing processes contend.
torch.set_num_threads(int(os.environ.get("CLAIMS_THREADS", "1")))
START_ENVIRONMENT = start_environment(threads=torch.get_num_threads())  # when the claim script starts

RUNS = Path("runs/claims")


def train_config(steps: int, seed: int, **kw) -> TrainConfig:
    """The one pretraining recipe every claim uses (``flowfm_edge.recipe``; warm-up 10% of the steps).

    ``CLAIMS_COMPILE=1`` adds ``torch.compile`` (the same loss; faster for long fp32 runs, see
    benchmarks/NOTES.md, "Training throughput").
    """
    kw.setdefault("compile", os.environ.get("CLAIMS_COMPILE", "0") == "1")
    return resolve_run_config({"steps": steps, "seed": seed, "warmup": max(1, min(100, steps // 10)), **kw}).train


def model_config(preset: str, objective: str, p_dgs: float | None = None) -> ModelConfig:
    """The recipe's model config for ``preset`` and ``objective`` (``p_dgs`` overrides the recipe's)."""
    changes = {"objective": objective} | ({} if p_dgs is None else {"p_dgs": p_dgs})
    return resolve_run_config({"preset": preset, **changes}).model


def recipe_tag() -> str:
    """A short name of the recipe, so runs of different recipes never share a directory."""
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:6]


def data_name(data: str) -> str:
    """The name runs and results carry for a data source: "hapt", "synthetic", or an .npz file's stem."""
    return Path(data).stem


def run_dir(data: str, preset: str, objective: str, steps: int, seed: int, p_dgs: float | None = None) -> Path:
    p = RECIPE["model"]["p_dgs"] if p_dgs is None else p_dgs
    return RUNS / f"{data_name(data)}-{preset}-{objective}-p{p:g}-{steps}steps-seed{seed}-recipe{recipe_tag()}"


def ensure_run(data: str, preset: str, objective: str, steps: int, seed: int, p_dgs: float | None = None) -> Path:
    """A finished pretraining run of this description under the recipe; trained now unless already there."""
    out = run_dir(data, preset, objective, steps, seed, p_dgs)
    try:
        if read_config(out)["step"] == steps:
            return out
    except ValueError:
        pass
    ws = load_source(data, split="pretrain")
    ws.meta["spec"] = data
    t0 = time.perf_counter()
    train(ws, out, model_config(preset, objective, p_dgs), train_config(steps, seed), progress=False, device="cpu")
    print(f"trained {out} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def feature_net(data: str, epochs: int = 30):
    """The frozen HAR classifier for Frechet distances on ``data`` (trained once, kept in runs/claims)."""
    path = RUNS / f"feature-net-{data_name(data)}"
    if not path.with_suffix(".safetensors").is_file():
        save_feature_net(train_feature_net(load_source(data, split="labelled"), epochs=epochs), path)
    return load_feature_net(path)


def training_reference(data: str) -> tuple[np.ndarray, dict]:
    """The FD reference for runs trained on ``data``: its pretrain split, what ``ensure_run`` trains on.

    Returns the windows (N, 3, 300) in g and the record of where they come from (the
    ``reference`` of a quality sweep), loaded once per script rather than once per checkpoint.
    """
    ws, ref = reference_windows({"data": {"spec": data}})
    return ws.X, ref


def _row(r: dict) -> dict:
    return {k: r[k] for k in ("sampler", "nfe", "frechet", "static_fraction", "r")} | {"psd_db": r["psd"]["mean_db"]}


def best_quality(model, objective: str, real: np.ndarray, net, steps: list[int], mode: str = "unconditional",
                 n: int = N_WINDOWS, ddpm_steps: int = 0, seed: int = 0, reference: dict | None = None,
                 solver: str = "euler") -> dict:
    """The sweep of ``quality_sweep`` in one mode, plus its best row (lowest Frechet distance).

    ``real`` and ``reference`` come from :func:`training_reference`. Every ``frechet`` is a
    bootstrap dict (point ``fd``, 95% interval ``ci_low``/``ci_high``); ``floor`` is the
    real-vs-real one, ``floor_n`` the size of each of its halves.
    """
    sweep = quality_sweep(model, objective, real, net, steps, (mode,), n=n, seed=seed, ddpm_steps=ddpm_steps,
                          reference=reference, solver=solver)
    best = min(sweep["results"], key=lambda r: r["frechet"]["fd"])
    floor = sweep.get("real_vs_real", {})
    return {"best": _row(best), "floor": floor.get("frechet"), "floor_n": floor.get("n_per_half"),
            "floor_note": sweep.get("floor_note"), "n": sweep["n_windows"], "reference": sweep["reference"],
            "bootstrap": sweep["bootstrap"], "rows": [_row(r) for r in sweep["results"]]}


def load(run: Path):
    return load_model(run)[0]


def add_out_dir(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="where the result files go (default: benchmarks/results)")


def arguments(args: argparse.Namespace) -> dict:
    """A script's arguments as its result records them (where its files went is not part of the protocol)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out_dir"}


def write_outputs(out_dir: Path, stem: str, result: dict, markdown: str) -> Path:
    """``OUT_DIR/STEM.json`` (led by its command, date and machine) and ``STEM.md``; the caller draws
    ``STEM.png`` beside them. Returns the JSON's path."""
    print(markdown)
    return write_result(Path(out_dir) / f"{stem}.json", result, START_ENVIRONMENT, markdown)
