"""Calibration tuples for the generator, collected along real sampler trajectories (docs/design.md#int8-calibration).

The velocity network sees very different inputs at t = 0 (pure noise) and t = 1 (a window),
so its INT8 ranges must be measured at **every** evaluation of the target schedule, not at
random times. :func:`trajectory_tuples` runs the PyTorch sampler and records ``(z_t, t, r)``
at each velocity call.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models import FlowFM
from ..solvers import integrate


def generator_conditions(model: FlowFM, X: np.ndarray, seed: int = 0, p_uncond: float = 0.5) -> np.ndarray:
    """r (N, r_dim) for the generator: embeddings of real windows ``X`` (N, 3, 300), a share set to 0.

    Zero rows stand for unconditional generation, as DGS trains it; ``p_uncond`` sets their share.
    """
    with torch.no_grad():
        r = model.embed(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()
    drop = np.random.default_rng(seed).random(len(r)) < p_uncond
    r[drop] = 0.0
    return r.astype(np.float32)


def noise_like(n: int, model: FlowFM, seed: int) -> np.ndarray:
    """Standard normal starting points (n, 3, 300), float32, from a numpy seed (the runtimes draw them the same way)."""
    return np.random.default_rng(seed).standard_normal((n, model.cfg.channels, model.cfg.window)).astype(np.float32)


@torch.no_grad()
def trajectory_tuples(model: FlowFM, r: np.ndarray, noise: np.ndarray, solver: str, steps: int,
                      guidance: float | None = None) -> dict[str, np.ndarray]:
    """Inputs of every velocity call of the sampler: {z_t (M, 3, 300), t (M,), r (M, r_dim)}, M = N x NFE.

    With guidance, both the conditional and the unconditional calls are recorded.
    """
    rt = torch.from_numpy(r)
    zs, ts, rs = [], [], []

    def velocity(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tb = t.expand(z.shape[0])
        conds = [rt] if guidance is None else [rt, torch.zeros_like(rt)]
        outs = []
        for cond in conds:
            zs.append(z.clone())
            ts.append(tb.clone())
            rs.append(cond)
            outs.append(model.velocity(z, tb, cond))
        return outs[0] if guidance is None else outs[1] + guidance * (outs[0] - outs[1])

    integrate(velocity, torch.from_numpy(noise), steps, solver)
    return {"z_t": torch.cat(zs).numpy(), "t": torch.cat(ts).numpy().astype(np.float32), "r": torch.cat(rs).numpy()}
