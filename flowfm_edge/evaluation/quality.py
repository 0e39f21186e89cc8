"""Generation quality, always next to the number of function evaluations (SPEC 5).

Metrics between real windows ``A`` and generated windows ``B`` (N, 3, 300) in g:

- Frechet distance of the frozen HAR feature network's features (:mod:`.feature_net`);
- per-channel power-spectrum distance: RMS over frequencies of the difference of the mean
  Welch spectra in dB (segment means removed, so gravity does not dominate);
- marginal statistics: mean |a| and per-axis mean and std, real and generated.

Modes: ``reconstruction`` (r = embed(real window)) and ``unconditional`` (r = 0). FlowFM is
swept over solver steps; the diffusion twin over DDIM steps plus DDPM ancestral sampling.

>>> a = np.random.default_rng(0).standard_normal((500, 4))
>>> round(frechet_distance(a, a), 6)
0.0
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.signal import welch

from ..data.contract import RATE_HZ
from ..models.diffusion import nfe as diffusion_nfe
from ..solvers import nfe as flow_nfe
from .feature_net import FeatureNet

MODES = ("reconstruction", "unconditional")


def frechet_distance(fa: np.ndarray, fb: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) of features (N, d) and (M, d)."""
    fa, fb = np.asarray(fa, np.float64), np.asarray(fb, np.float64)
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1] or min(len(fa), len(fb)) < 2:
        raise ValueError(f"Frechet distance needs two feature sets (N >= 2, d) of equal d; got {fa.shape} and {fb.shape}")
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    sa, sb = np.atleast_2d(np.cov(fa, rowvar=False)), np.atleast_2d(np.cov(fb, rowvar=False))
    # The symmetric form keeps every matrix square root real and stable.
    w, v = np.linalg.eigh(sa)
    sa_half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(sa_half @ sb @ sa_half), 0, None)).sum()
    return float(max(0.0, ((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * cross))


@torch.no_grad()
def feature_vectors(net: FeatureNet, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Features (N, feat_dim) of windows ``X`` (N, 3, 300) in g."""
    net.eval()
    out = [net.features(torch.from_numpy(np.ascontiguousarray(X[i : i + batch_size], np.float32))).numpy()
           for i in range(0, len(X), batch_size)]
    return np.concatenate(out).astype(np.float64)


def mean_spectrum_db(X: np.ndarray, fs: float = RATE_HZ, nperseg: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (F,) and the mean Welch power spectrum per channel in dB (C, F) of ``X`` (N, C, L)."""
    f, p = welch(np.asarray(X, np.float64), fs=fs, nperseg=min(nperseg, X.shape[-1]), axis=-1)  # p: (N, C, F)
    return f, 10 * np.log10(p.mean(0) + 1e-12)


def psd_distance(A: np.ndarray, B: np.ndarray, fs: float = RATE_HZ) -> dict:
    """Per-channel RMS difference (dB) of the mean spectra of ``A`` and ``B``, and their mean."""
    _, pa = mean_spectrum_db(A, fs)
    _, pb = mean_spectrum_db(B, fs)
    per_channel = np.sqrt(((pa - pb) ** 2).mean(-1))  # (C,)
    return {"per_channel_db": per_channel.tolist(), "mean_db": float(per_channel.mean())}


def marginal_stats(X: np.ndarray) -> dict:
    """Mean |a| (g) and per-axis mean and std (g) of ``X`` (N, 3, L)."""
    X = np.asarray(X, np.float64)
    return {"mean_abs_a": float(np.linalg.norm(X, axis=1).mean()), "mean": X.mean(axis=(0, 2)).tolist(),
            "std": X.std(axis=(0, 2)).tolist()}


def quality_metrics(real: np.ndarray, fake: np.ndarray, net: FeatureNet, real_features: np.ndarray | None = None) -> dict:
    """All quality metrics of generated ``fake`` against ``real`` windows (N, 3, 300) in g."""
    fr = feature_vectors(net, real) if real_features is None else real_features
    mr, mf = marginal_stats(real), marginal_stats(fake)
    return {
        "frechet": frechet_distance(fr, feature_vectors(net, fake)),
        "psd": psd_distance(real, fake),
        "marginals": {"real": mr, "generated": mf,
                      "abs_diff": {"mean_abs_a": abs(mr["mean_abs_a"] - mf["mean_abs_a"]),
                                   "mean": np.abs(np.subtract(mr["mean"], mf["mean"])).tolist(),
                                   "std": np.abs(np.subtract(mr["std"], mf["std"])).tolist()}},
    }


def sampling_plan(objective: str, steps: list[int], solver: str = "euler", guidance: float | None = None,
                  ddpm_steps: int = 1000) -> list[dict]:
    """One entry per sampler setting: label, keyword arguments for ``model.sample`` and NFE."""
    if objective == "flow":
        return [{"label": f"{solver}-{s}", "kwargs": {"steps": s, "solver": solver, "guidance": guidance},
                 "nfe": flow_nfe(solver, s) * (1 if guidance is None else 2)} for s in steps]
    if objective == "diffusion":
        plan = [{"label": f"ddim-{s}", "kwargs": {"steps": s, "sampler": "ddim", "guidance": guidance},
                 "nfe": diffusion_nfe(s, guidance)} for s in steps]
        if ddpm_steps:
            plan.append({"label": f"ddpm-{ddpm_steps}", "kwargs": {"steps": ddpm_steps, "sampler": "ddpm",
                                                                    "guidance": guidance},
                         "nfe": diffusion_nfe(ddpm_steps, guidance)})
        return plan
    raise ValueError(f"objective {objective!r} has no generator; generation quality applies to flow and diffusion runs")


@torch.no_grad()
def generate(model, r: torch.Tensor, kwargs: dict, seed: int, batch_size: int = 256) -> np.ndarray:
    """Windows (N, 3, 300) in g from r (N, r_dim), in batches, with one noise generator per call."""
    gen = torch.Generator().manual_seed(seed)
    out = [model.sample(r[i : i + batch_size], generator=gen, **kwargs).float().numpy()
           for i in range(0, len(r), batch_size)]
    return np.concatenate(out)


def quality_sweep(model, objective: str, real: np.ndarray, net: FeatureNet, steps: list[int], modes=MODES,
                  n: int = 256, seed: int = 0, solver: str = "euler", guidance: float | None = None,
                  ddpm_steps: int = 1000, on_result=None) -> dict:
    """Quality of ``model`` at every sampler setting and mode, against ``n`` real windows drawn from ``real``.

    Also reports ``real_vs_real`` (a second, disjoint draw of real windows, when there are
    enough): the floor a perfect generator would reach at this sample size.
    """
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown quality mode(s) {bad}; choose from {', '.join(MODES)}")
    plan = sampling_plan(objective, steps, solver, guidance, ddpm_steps)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real))
    ref = real[order[:n]]
    fr = feature_vectors(net, ref)
    result: dict = {"objective": objective, "n_windows": len(ref), "seed": seed, "results": []}
    if len(real) >= 2 * len(ref):
        other = real[order[len(ref) : 2 * len(ref)]]
        result["real_vs_real"] = quality_metrics(ref, other, net, fr)
    r_dim = model.cfg.r_dim
    for mode in modes:
        with torch.no_grad():
            r = model.embed(torch.from_numpy(ref)) if mode == "reconstruction" else torch.zeros(len(ref), r_dim)
        for entry in plan:
            t0 = time.perf_counter()
            fake = generate(model, r, entry["kwargs"], seed)
            seconds = time.perf_counter() - t0
            if not np.isfinite(fake).all():
                raise RuntimeError(f"{entry['label']} ({mode}) generated NaN/inf windows; the checkpoint or the "
                                   "sampler setting is unusable")
            row = {"mode": mode, "sampler": entry["label"], "nfe": entry["nfe"], "settings": entry["kwargs"],
                   **quality_metrics(ref, fake, net, fr), "seconds": round(seconds, 3),
                   "ms_per_window": round(1000 * seconds / len(ref), 3)}
            if mode == "reconstruction":
                row["recon_rmse_g"] = float(np.sqrt(((fake - ref) ** 2).mean()))
            result["results"].append(row)
            if on_result is not None:
                on_result(row)
    return result
