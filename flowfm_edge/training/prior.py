"""Fit a run's prior over r: embed the training windows with the EMA encoder, fit the mixture, save it.

Called at the end of :func:`~flowfm_edge.training.loop.train` for flow and diffusion runs, and through
:func:`fit_prior_for_run` by ``flowfm-edge fit-prior RUN`` for existing runs. Writes ``RUN/checkpoint/prior.safetensors``
and ``prior.json`` (see :mod:`.checkpoint`).

>>> info = fit_run_prior("runs/nano", model, ws.X, data_source="synthetic")   # doctest: +SKIP
>>> info["components"], info["covariance_type"]                               # doctest: +SKIP
(1, 'full')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.hashing import data_hash
from ..models.prior import GaussianMixturePrior, fit_prior
from .checkpoint import read_config, save_prior

PRIOR_MAX_WINDOWS = 50_000  # the mixture is fitted on at most this many windows' r


@torch.no_grad()
def embed_all(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw windows X (N, 3, 300) in g -> r (N, r_dim) float32, on the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model.embed(torch.from_numpy(np.ascontiguousarray(X[i : i + batch_size], dtype=np.float32)).to(device))
           .float().cpu().numpy() for i in range(0, len(X), batch_size)]
    model.train(was_training)
    return np.concatenate(out)


def fit_run_prior(run: str | Path, model, X: np.ndarray, data_source: str | None = None, seed: int = 0
                  ) -> tuple[GaussianMixturePrior, dict]:
    """Fit the prior of ``run`` on ``model``'s r of the windows X (N, 3, 300), save it with the run, attach it.

    ``model`` carries the weights the run samples with (the EMA weights). Returns the prior
    and the ``prior.json`` record.
    """
    n = len(X)
    rows = np.sort(np.random.default_rng(seed).choice(n, PRIOR_MAX_WINDOWS, replace=False)) \
        if n > PRIOR_MAX_WINDOWS else slice(None)
    r = embed_all(model, X[rows])  # a corpus beyond PRIOR_MAX_WINDOWS: a uniform sample of it
    prior, info = fit_prior(r, seed=seed)
    config = read_config(run)
    info.update({"data": data_source, "data_hash": data_hash(X), "weights": "ema", "train_step": config.get("step"),
                 "seed": seed, "fitted_on_windows": int(len(r))})
    save_prior(run, prior, info)
    model.attach_prior(prior.to(next(model.parameters()).device))
    return prior, info


def fit_prior_for_run(run: Path, data: str | None = None, rate: float | None = None, seed: int = 0) -> dict:
    """Fit and save the prior of ``run`` on ``data`` (default: its training data); the prior.json record."""
    from ..data import load_source
    from .checkpoint import load_model

    model, config = load_model(run)
    if not hasattr(model, "attach_prior"):
        raise ValueError(f"{run}: a {model.cfg.objective} run; the prior over r is for generative runs (FlowFM and its diffusion twin)")
    spec = data or config.get("data", {}).get("spec")
    if spec is None:
        raise ValueError(f"{run}: the run does not name its training data; pass --data DATA")
    try:
        ws = load_source(spec, split="pretrain", rate=rate)
    except (ValueError, OSError) as exc:
        whose = "" if data else " (the run's training data)"
        raise ValueError(f"data {spec!r}{whose} could not be read ({exc}); pass --data DATA") from exc
    _, info = fit_run_prior(run, model, ws.X, spec, seed=seed)
    return info
