"""A run directory holding an untrained model with a probe head: what the latency scripts time without ``--run``.

Latency does not depend on training, so a freshly initialised model times as a trained one does; the
accuracy figures of such a model mean little.
"""

from __future__ import annotations

from pathlib import Path

import torch

from flowfm_edge.data import make_synthetic


def make_run(run: Path, preset: str, seed: int = 0, objective: str = "flow") -> Path:
    """A run directory holding an untrained ``preset`` model of ``objective`` and a probe head.

    The zero-initialised adaLN layers are perturbed (adaLN-Zero makes an untrained velocity network
    the identity), and the head is a linear probe fitted on a few synthetic windows.
    """
    from flowfm_edge.evaluation import embed_windows, linear_probe, probe_head
    from flowfm_edge.models import ModelConfig, build_model
    from flowfm_edge.training import save_head
    from flowfm_edge.training.checkpoint import save_checkpoint
    from flowfm_edge.data.hashing import data_hash
    from flowfm_edge.training.loop import normalisation

    ws = make_synthetic(n_subjects=4, windows_per_activity=3, seed=seed)
    cfg = ModelConfig.from_preset(preset, objective=objective)
    cfg.norm_mean, cfg.norm_std = normalisation(ws.X)
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    with torch.no_grad():  # give the untrained velocity (or denoiser) network work to do
        for p in (model.velocity if objective == "flow" else model.denoiser).parameters():
            p.add_(0.02 * torch.randn_like(p))
    config = {"model": cfg.to_dict(), "train": {"untrained": True},
              "data": {"source": ws.source, "n_windows": len(ws), "hash": data_hash(ws.X), "classes": ws.classes}}
    save_checkpoint(run, model, model.state_dict(), config, None)
    res = linear_probe(embed_windows(model, ws.X), ws.y, ws.pid)
    save_head(run, probe_head(res.pipeline, len(ws.classes)), ws.classes, {"macro_f1": res.macro_f1})
    return run
