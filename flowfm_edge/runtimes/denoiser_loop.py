"""Samplers without a fused graph: a per-step loop over the diffusion twin's ``denoiser`` graph (numpy only).

DDPM ancestral sampling takes 1000 steps; unrolling them into one graph would make a file
(and a session) a thousand evaluations long, so the bundle lists it as a sampler with
``"loop": "denoiser"`` and the schedule's ``alpha_bar``, and the runtime steps through it:

    z_T = noise;  for t = T-1 .. 0:  eps = denoiser(z_t, t / T, r)
    z_{t-1} = (z_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sigma_t n_t

in float64 between graph calls, as :func:`flowfm_edge.models.diffusion.ddpm_step` does. The
step noise ``n_t`` is drawn from ``seed`` (a stream separate from the starting noise). A
backend that runs the model itself (torch) uses the model's own sampler instead.

>>> ab = np.linspace(0.99, 0.01, 5)
>>> z = ddpm_update(np.ones((1, 3, 4)), np.zeros((1, 3, 4)), ab[4], ab[3], np.zeros((1, 3, 4)))
>>> z.shape
(1, 3, 4)
"""

from __future__ import annotations

import numpy as np

from ..bundle.schema import BundleError


def ddpm_update(z, eps, ab_t: float, ab_prev: float, noise) -> np.ndarray:
    """One DDPM ancestral step in float64: z (B, C, L), eps (B, C, L), noise (B, C, L) -> z_prev (B, C, L)."""
    beta = 1 - ab_t / ab_prev
    mean = (z - beta / np.sqrt(1 - ab_t) * eps) / np.sqrt(1 - beta)
    return mean + np.sqrt(beta * (1 - ab_prev) / (1 - ab_t)) * noise


def ddim_update(z, eps, ab_t: float, ab_prev: float) -> np.ndarray:
    """One deterministic DDIM step (eta = 0) in float64."""
    z0 = (z - np.sqrt(1 - ab_t) * eps) / np.sqrt(ab_t)
    return np.sqrt(ab_prev) * z0 + np.sqrt(1 - ab_prev) * eps


def schedule_timesteps(steps: int, T: int) -> list[int]:
    """Evenly spaced timesteps T-1 .. 0 (the models' ``timesteps``)."""
    if not 1 <= steps <= T:
        raise ValueError(f"diffusion sampler steps must lie in 1..{T}, got {steps}")
    if steps == 1:
        return [T - 1]
    return [round((T - 1) * (1 - i / (steps - 1))) for i in range(steps)]


def loop_generate(runtime, entry: dict, feeds: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """Windows (B, 3, 300) in g from ``feeds`` {noise (B, 3, 300), r (B, r_dim)} by looping ``entry['loop']``."""
    backend = runtime.backend
    if hasattr(backend, "sample_loop"):  # torch: the model's own sampler
        return backend.sample_loop(entry, feeds, seed)
    ab = np.asarray(entry.get("alpha_bar") or [], dtype=np.float64)
    if ab.size == 0:
        raise BundleError(f"{backend.bundle}: sampler {entry['name']} lists no alpha_bar schedule; re-export the bundle")
    graph = runtime.require_graph(entry["loop"])
    seq = schedule_timesteps(entry["steps"], len(ab))
    rng = np.random.default_rng([seed, 1])  # step noise: a stream apart from the starting noise
    z = np.ascontiguousarray(feeds["noise"], dtype=np.float32)  # float32 between steps, as the model keeps it
    r = feeds["r"]
    for i, t in enumerate(seq):
        ab_t, ab_prev = ab[t], (ab[seq[i + 1]] if i + 1 < len(seq) else 1.0)
        tt = np.full(len(z), np.float32(t) / np.float32(len(ab)), np.float32)
        eps = backend.run(graph, runtime.precision, {"z_t": z, "t": tt, "r": r}).astype(np.float64)
        if entry["sampler"] == "ddpm":
            z_new = ddpm_update(z.astype(np.float64), eps, ab_t, ab_prev, rng.standard_normal(z.shape))
        else:
            z_new = ddim_update(z.astype(np.float64), eps, ab_t, ab_prev)
        z = z_new.astype(np.float32)
    norm = runtime.manifest["signal"]["normalisation"]
    mean = np.asarray(norm["mean"], np.float32).reshape(1, -1, 1)
    std = np.asarray(norm["std"], np.float32).reshape(1, -1, 1)
    return z * std + mean
