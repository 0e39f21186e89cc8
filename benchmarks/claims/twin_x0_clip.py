"""The diffusion twin's samplers with the predicted clean window clipped to the training data's range.

`bench compare` at tiny, 10,000 steps, seed 1 found one of the twin's 1,000 deterministic DDIM
samples at over 100 g: at the first timestep (abar = 4e-5) the epsilon prediction for an r from
the tail of the prior is far from the noise, and z0_hat = (z - sqrt(1 - abar) eps) / sqrt(abar)
multiplies that error by 1 / sqrt(abar) = 158. The usual remedy (``clip_sample`` in diffusers'
DDIM and DDPM schedulers) clips z0_hat to the data's range at every step; DDIM then recomputes
eps from it, DDPM steps to the posterior mean given the clipped z0_hat. This
script measures what that remedy gives on the same draws as `bench compare` (its noise and prior
draws, its 1,000 real windows, its feature network), in PyTorch: the twin at its best, so that
FlowFM is not compared with a sampler that has an easy fix.

    python -m benchmarks.claims.twin_x0_clip --run runs/claims/hapt-tiny-diffusion-p0-10000steps-seed1 \\
        --bundle bundles/fvd-tiny-10000steps-seed1/diffusion --feature-net runs/claims/feature-net-hapt \\
        --clipped 10,25,50 --plain 10 --ddpm 1000 --name hapt_tiny_10000steps_seed1

Rows with ``--plain`` run without the clip: they must reproduce `bench compare`'s FD of the
same setting (ONNX Runtime FP32), which checks that the draws are the same. The clip bounds
are the per-axis minimum and maximum of the whole pretrain split, normalised.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.kit import ints, interleaved_ms, result_path, start_environment, write_result
from flowfm_edge.bench.quality import QualityContext, generator_quality
from flowfm_edge.evaluation.frechet import format_fd
from flowfm_edge.models.diffusion import predict_z0, timesteps
from flowfm_edge.runtimes.base import load, noise
from flowfm_edge.training import load_model


@torch.no_grad()
def sample(model, z: torch.Tensor, r: torch.Tensor, sampler: str, steps: int, bounds, seed: int = 0) -> torch.Tensor:
    """DDIM (eta = 0) or DDPM ancestral sampling in float64 updates, z0_hat clipped to ``bounds`` when given.

    DDIM recomputes eps from the clipped z0_hat; DDPM steps to the posterior mean of
    q(z_prev | z_t, z0_hat). Unclipped, they are :func:`~flowfm_edge.models.diffusion.ddim_step`
    and :func:`~flowfm_edge.models.diffusion.ddpm_step`. DDPM's step noise comes from
    ``np.random.default_rng([seed, 1])``, the stream the runtimes' DDPM loop draws from, so the
    draws are bench compare's.
    """
    ab = model.alpha_bar.double()
    seq = timesteps(steps, model.T)
    eps_fn = model.guided_eps(r)
    rng = np.random.default_rng([seed, 1])
    for i, t in enumerate(seq):
        ab_t = ab[t]
        ab_prev = ab[seq[i + 1]] if i + 1 < len(seq) else torch.ones((), dtype=torch.float64)
        eps = eps_fn(z, torch.full((len(z),), t, dtype=torch.long)).double()
        z0 = predict_z0(z.double(), eps, ab_t)
        if bounds is not None:
            z0 = torch.maximum(torch.minimum(z0, bounds[1]), bounds[0])
        if sampler == "ddim":
            if bounds is not None:
                eps = (z.double() - ab_t.sqrt() * z0) / (1 - ab_t).sqrt()
            z = (ab_prev.sqrt() * z0 + (1 - ab_prev).sqrt() * eps).float()
        else:
            beta = 1 - ab_t / ab_prev
            mean = (ab_prev.sqrt() * beta * z0 + (1 - beta).sqrt() * (1 - ab_prev) * z.double()) / (1 - ab_t)
            noise = torch.from_numpy(rng.standard_normal(z.shape))
            z = (mean + (beta * (1 - ab_prev) / (1 - ab_t)).sqrt() * noise).float()
    return model.denormalize(z)


class ClippedTwin:
    """The twin's torch sampler behind a runtime's ``generate``, so :func:`generator_quality` scores it as bench compare does.

    ``generate(n, steps, solver, seed)`` takes the noise and the prior's r from the bundle's
    runtime (``rt``) for that seed, then samples in PyTorch with ``bounds`` (None: no clip).
    """

    def __init__(self, rt, model, bounds):
        self.rt, self.model, self.bounds = rt, model, bounds
        self.manifest, self.has_prior = rt.manifest, rt.has_prior

    def generate(self, n: int, steps: int, solver: str, seed: int) -> np.ndarray:
        z = torch.from_numpy(noise(n, self.rt.channels, self.rt.window, seed))
        r = torch.from_numpy(self.rt.unconditional_r(n, seed))  # the same generator's draws after the noise
        return sample(self.model, z, r, solver, steps, self.bounds, seed).numpy()


def score(ctx: QualityContext, rt, model, sampler: str, steps: int, bounds) -> dict:
    """FD [95% CI] and the other quality figures of ``ctx.n`` windows drawn exactly as `bench compare` draws them."""
    q = generator_quality(ctx, ClippedTwin(rt, model, bounds), steps, sampler)
    return {"sampler": f"{sampler}-{steps}", "clipped": bounds is not None, "nfe": steps,
            **{k: q[k] for k in ("frechet", "beyond_real_range", "psd_db", "static_fraction")}}


def clip_cost(model, steps: int, bounds, repeats: int = 7, calls: int = 5) -> dict:
    """PyTorch eager ms per window of DDIM-``steps`` at batch 1 without and with the clip, interleaved; medians."""
    z, r = torch.randn(1, model.cfg.channels, model.cfg.window), torch.zeros(1, model.cfg.r_dim)
    times = interleaved_ms({kind: lambda b=b: sample(model, z, r, "ddim", steps, b)
                            for kind, b in (("plain", None), ("clipped", bounds))}, repeats, calls)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {"sampler": f"ddim-{steps}", "batch": 1, "ms_per_window": med, "ratio": med["clipped"] / med["plain"],
            "repeats": repeats, "calls": calls}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the twin's training run (its EMA weights are used)")
    ap.add_argument("--bundle", required=True, help="the twin's bundle: its numpy prior draws r as bench compare does")
    ap.add_argument("--feature-net", required=True)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--clipped", default="10,25,50", help="DDIM step counts run with the clip")
    ap.add_argument("--plain", default="10", help="DDIM step counts run without it (a check against bench compare)")
    ap.add_argument("--ddpm", default="", help="DDPM ancestral step counts run with the clip, e.g. 1000")
    ap.add_argument("--time", type=int, default=0, help="DDIM steps to time with and without the clip (0: none)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="bench compare's --seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", required=True, help="results are written to benchmarks/results/twin_x0_clip_NAME.json")
    ap.add_argument("--out", help="the result JSON instead (default: from --name)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    env = start_environment(threads=a.threads)
    ctx = QualityContext.load(a.data, a.feature_net, a.n, a.seed)
    rt = load(a.bundle, "onnxruntime", "fp32", 1)
    model, _ = load_model(a.run)
    model.eval()
    norm = model.normalize(torch.from_numpy(ctx.pretrain)).double()  # (M, 3, L)
    bounds = (norm.amin(dim=(0, 2))[None, :, None], norm.amax(dim=(0, 2))[None, :, None])
    plan = ([("ddim", k, None) for k in ints(a.plain)] + [("ddim", k, bounds) for k in ints(a.clipped)]
            + [("ddpm", k, bounds) for k in ints(a.ddpm)])
    rows = []
    for sampler, steps, b in plan:
        row = score(ctx, rt, model, sampler, steps, b)
        rows.append(row)
        print(f"{row['sampler']:<9} {'clipped' if row['clipped'] else 'plain':<8} FD {format_fd(row['frechet'])}  "
              f"beyond real range {row['beyond_real_range']['count']} (peak {row['beyond_real_range']['generated_peak_g']:.1f} g)  "
              f"PSD {row['psd_db']:.2f} dB  static {row['static_fraction']['generated']:.1%}", flush=True)
    cost = clip_cost(model, a.time, bounds) if a.time else None
    if cost:
        print(f"{cost['sampler']} PyTorch eager, batch 1: {cost['ms_per_window']['plain']:.2f} ms plain, "
              f"{cost['ms_per_window']['clipped']:.2f} ms clipped ({cost['ratio']:.3f}x)")
    write_result(result_path(a.out, f"twin_x0_clip_{a.name}"),
                 {"run": a.run, "bundle": a.bundle, "data": a.data, "n": a.n, "seed": a.seed,
                  "bounds_normalised": [bounds[0].flatten().tolist(), bounds[1].flatten().tolist()],
                  "real_vs_real_floor": ctx.floor, "rows": rows, "clip_cost": cost}, env)


if __name__ == "__main__":
    main()
