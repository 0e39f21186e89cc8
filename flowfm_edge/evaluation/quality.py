"""Generation quality, always next to the number of function evaluations (docs/design.md#generation-quality).

Metrics between real windows ``A`` and generated windows ``B`` (N, 3, 300) in g:

- Frechet distance (FD) of the frozen HAR feature network's features (:mod:`.feature_net`),
  with a 95% bootstrap interval (:func:`~.frechet.bootstrap_frechet`);
- the static-window fraction of both sets (:func:`static_fraction`);
- per-channel power-spectrum distance: RMS over frequencies of the difference of the mean
  Welch spectra in dB (segment means removed, so gravity does not dominate);
- marginal statistics: mean |a| and per-axis mean and std, real and generated;
- windows beyond the real range: generated windows whose peak |a| on any axis exceeds the
  largest in the real set, and the largest generated peak (:func:`beyond_real_range`). A
  perfect generator puts about 1 in n+1 windows above the peak of n real ones; a peak far above
  the real one is a sampler that diverged, and because the FD is a Gaussian statistic one such
  window can set it alone.

Protocol of :func:`quality_sweep`:

- reference: the data *and split* the generator was trained on (:func:`reference_windows`:
  the run's ``config["data"]["spec"]``, split ``pretrain`` unless the training-data hash says
  ``labelled``); on HAPT the two differ (20.5% vs 61.3% static windows);
- ``n`` = 1,000 generated windows against as many real ones (all real ones if fewer);
- the floor: FD between two disjoint real halves of the same size, i.e. what a perfect
  generator scores at this sample size (two halves of len/2 when there are fewer than 2n
  real windows; the result says so);
- every FD, the floor's included, carries a 95% bootstrap interval (200 resamples of the
  feature rows, seeded; the percentile interval recentred on the point estimate, see
  :func:`~.frechet.bootstrap_frechet` for why); :func:`~.frechet.matches` is the one
  matched-quality decision: A matches B when FD_A <= the upper end of B's interval.

Modes: ``reconstruction`` (r = embed(real window)) and ``unconditional`` (r from the model's
prior, ``model.unconditional_r``, where it has one; else r = 0). FlowFM is swept over solver
steps; the diffusion twin over DDIM steps plus DDPM ancestral sampling. The FD itself, its
interval and the matched-quality rule are in :mod:`.frechet`. :func:`quality_run` (``flowfm-edge quality``)
sweeps a run directory, reporting each setting as it finishes.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.signal import welch

from ..data.contract import RATE_HZ
from ..models.diffusion import nfe as diffusion_nfe
from ..progress import console
from ..solvers import nfe as flow_nfe
from .feature_net import FeatureNet
from .frechet import LEVEL, RESAMPLES, bootstrap_frechet

MODES = ("reconstruction", "unconditional")
N_WINDOWS = 1000  # generated windows per FD, against as many real ones
STATIC_STD_G = 0.02  # a window is static when the mean of its per-axis std is below this
TRAINING_SPLIT = "pretrain"  # what `flowfm-edge train` trains on


def static_fraction(X: np.ndarray, threshold: float = STATIC_STD_G) -> float:
    """Share of windows ``X`` (N, 3, L) in g whose mean over axes of the within-window std is < ``threshold`` g.

    Of the three definitions tried on HAPT (max of per-axis std, std of |a|, mean of per-axis
    std), the mean of per-axis std reproduces HAPT's 20.5% static windows in the pretrain
    split and 61.3% in the labelled split (max: 18.3% / 55.5%; |a|: 24.4% / 66.3%).

    >>> X = np.zeros((4, 3, 300)); X[:, 2] = 1.0; X[0, 0] = np.sin(np.arange(300))
    >>> static_fraction(X)
    0.75
    """
    X = np.asarray(X, np.float64)
    return float((X.std(-1).mean(-1) < threshold).mean()) if len(X) else float("nan")


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


def beyond_real_range(real: np.ndarray, fake: np.ndarray) -> dict:
    """Generated windows whose peak |value| (any axis, any sample) exceeds the largest in ``real`` (both (N, 3, L), g).

    >>> real = np.ones((4, 3, 10)); fake = np.ones((5, 3, 10)); fake[2, 1, 3] = -50.0
    >>> beyond_real_range(real, fake)
    {'count': 1, 'fraction': 0.2, 'real_peak_g': 1.0, 'generated_peak_g': 50.0}
    """
    real_peak = float(np.abs(np.asarray(real)).max())
    peaks = np.abs(np.asarray(fake)).max(axis=(1, 2))  # (N,), empty when fake is
    count = int((peaks > real_peak).sum())
    return {"count": count, "fraction": count / len(peaks) if len(peaks) else float("nan"), "real_peak_g": real_peak,
            "generated_peak_g": float(peaks.max()) if len(peaks) else float("nan")}


def quality_metrics(real: np.ndarray, fake: np.ndarray, net: FeatureNet, real_features: np.ndarray | None = None,
                    resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """All quality metrics of generated ``fake`` against ``real`` windows (N, 3, 300) in g.

    ``frechet`` is a :func:`bootstrap_frechet` dict (point estimate under ``"fd"``).
    """
    fr = feature_vectors(net, real) if real_features is None else real_features
    mr, mf = marginal_stats(real), marginal_stats(fake)
    return {
        "frechet": bootstrap_frechet(fr, feature_vectors(net, fake), resamples, seed),
        "static_fraction": {"real": static_fraction(real), "generated": static_fraction(fake)},
        "psd": psd_distance(real, fake),
        "beyond_real_range": beyond_real_range(real, fake),
        "marginals": {"real": mr, "generated": mf,
                      "abs_diff": {"mean_abs_a": abs(mr["mean_abs_a"] - mf["mean_abs_a"]),
                                   "mean": np.abs(np.subtract(mr["mean"], mf["mean"])).tolist(),
                                   "std": np.abs(np.subtract(mr["std"], mf["std"])).tolist()}},
    }


def reference_windows(config: dict, data: str | None = None, rate: float | None = None):
    """The real windows a run's generator is scored against, and a record of where they come from.

    ``data`` (a source spec) overrides the run's own ``config["data"]["spec"]``. The split is
    ``pretrain`` (what ``flowfm-edge train`` trains on), or ``labelled`` when only that split
    has the training data's hash (``train-text`` runs). ``is_training_data`` says whether the
    windows hash to what the run was trained on (None when the config has no hash).

    Returns ``(WindowSet, {"data", "source", "split", "from", "n_available", "is_training_data"})``.
    """
    from ..data import load_source
    from ..data.hashing import data_hash

    trained = config.get("data", {})
    spec = data if data is not None else trained.get("spec")
    if spec is None:
        raise ValueError("the run's config names no training data (config['data']['spec']); pass --data")
    want = trained.get("hash")
    ws, split = load_source(spec, split=TRAINING_SPLIT, rate=rate), TRAINING_SPLIT
    same = None if want is None else data_hash(ws.X) == want
    if same is False:
        labelled = load_source(spec, split="labelled", rate=rate)
        if data_hash(labelled.X) == want:
            ws, split, same = labelled, "labelled", True
    return ws, {"data": str(spec), "source": ws.source, "split": split,
                "from": "--data" if data is not None else "run config", "n_available": len(ws), "is_training_data": same}


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


@torch.no_grad()
def conditioning(model, mode: str, ref: np.ndarray, seed: int) -> tuple[torch.Tensor, str]:
    """r (N, r_dim) for ``mode`` and how it was made: "embed", "prior" or "zero".

    Unconditional r comes from ``model.unconditional_r(n, generator)`` where the model has it
    (a model without a fitted prior returns zeros there, and is recorded as "zero"), else zeros.
    """
    if mode == "reconstruction":
        return model.embed(torch.from_numpy(np.ascontiguousarray(ref, np.float32))), "embed"
    if hasattr(model, "unconditional_r"):
        r = model.unconditional_r(len(ref), torch.Generator().manual_seed(seed)).float().cpu()
        return r, "prior" if bool(r.abs().sum() > 0) else "zero"
    return torch.zeros(len(ref), model.cfg.r_dim), "zero"


def real_draws(n_real: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """Indices into ``n_real`` real windows: the reference (``n``, or all), the floor's two disjoint halves, a note.

    The halves have the reference's size when there are >= 2n windows, else n_real // 2 (the
    note says so). The first half is the start of the reference, so its features are reused.

    >>> [len(i) for i in real_draws(1289, 1000, 0)[:3]]
    [1000, 644, 644]
    """
    order = np.random.default_rng(seed).permutation(n_real)
    ref = order[: min(n, n_real)]
    half = len(ref) if n_real >= 2 * len(ref) else n_real // 2
    note = None if half == len(ref) else (
        f"{n_real} real windows are fewer than 2 x {len(ref)}: the floor compares two disjoint halves of {half} "
        f"windows, not {len(ref)}; FD grows as the sample shrinks, so this floor is above the one at {len(ref)}")
    return ref, order[:half], order[half : 2 * half], note


def quality_sweep(model, objective: str, real, net: FeatureNet, steps: list[int], modes=MODES, n: int = N_WINDOWS,
                  seed: int = 0, solver: str = "euler", guidance: float | None = None, ddpm_steps: int = 1000,
                  on_result=None, reference: dict | None = None, resamples: int = RESAMPLES) -> dict:
    """Quality of ``model`` at every sampler setting and mode, against ``n`` real windows.

    ``real`` is the run's config (a dict: the windows come from :func:`reference_windows`, the
    run's own training data and split) or windows (N, 3, 300) in g, described by
    ``reference`` (recorded as given). Each row holds ``frechet`` (a :func:`bootstrap_frechet`
    dict), ``static_fraction``, ``psd``, ``marginals``, timing, and ``r`` (how r was made).
    ``real_vs_real`` is the floor: the same metrics between two disjoint real halves of the
    reference's size (``floor_note`` when there were too few windows for that).
    """
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown quality mode(s) {bad}; choose from {', '.join(MODES)}")
    if n < 2:
        raise ValueError(f"n = {n}: a Frechet distance needs at least 2 windows per side")
    plan = sampling_plan(objective, steps, solver, guidance, ddpm_steps)
    if isinstance(real, dict):
        ws, reference = reference_windows(real)
        real = ws.X
    reference = reference or {"data": None, "split": None, "n_available": len(real),
                              "note": "windows passed by the caller"}
    ref_idx, half_a, half_b, note = real_draws(len(real), n, seed)
    ref = real[ref_idx]
    fr = feature_vectors(net, ref)
    result: dict = {"objective": objective, "n_windows": len(ref), "seed": seed, "reference": reference,
                    "bootstrap": {"resamples": resamples, "seed": seed, "level": LEVEL},
                    "static_std_g": STATIC_STD_G, "results": []}
    if len(half_a) >= 2:
        # half_a is the first len(half_a) reference windows: their features are already computed
        floor = quality_metrics(real[half_a], real[half_b], net, fr[: len(half_a)], resamples, seed)
        floor["static_fraction"] = {"half_a": floor["static_fraction"]["real"],
                                    "half_b": floor["static_fraction"]["generated"]}
        result["real_vs_real"] = {**floor, "n_per_half": len(half_a)}
    if note:
        result["floor_note"] = note
    for mode in modes:
        r, r_kind = conditioning(model, mode, ref, seed)
        for entry in plan:
            t0 = time.perf_counter()
            fake = generate(model, r, entry["kwargs"], seed)
            seconds = time.perf_counter() - t0
            if not np.isfinite(fake).all():
                raise RuntimeError(f"{entry['label']} ({mode}) generated NaN/inf windows; the checkpoint or the "
                                   "sampler setting is unusable")
            row = {"mode": mode, "sampler": entry["label"], "nfe": entry["nfe"], "settings": entry["kwargs"],
                   "r": r_kind, **quality_metrics(ref, fake, net, fr, resamples, seed), "seconds": round(seconds, 3),
                   "ms_per_window": round(1000 * seconds / len(ref), 3)}
            if mode == "reconstruction":
                row["recon_rmse_g"] = float(np.sqrt(((fake - ref) ** 2).mean()))
            result["results"].append(row)
            if on_result is not None:
                on_result(row)
    return result


def quality_run(run, feature_net, steps: list[int], data: str | None = None, mode: str = "both", n: int = N_WINDOWS,
                resamples: int = RESAMPLES, solver: str = "euler", guidance: float | None = None, ddpm_steps: int = 1000,
                seed: int = 0, plot=None, rate: float | None = None) -> dict:
    """The quality sweep of ``run`` at every step count of ``steps`` (printed setting by setting, then the floor),
    against the run's own training data and split (or ``data``); Frechet distance against NFE as PNG when
    ``plot`` is given. Returns the result."""
    from ..solvers import check_solver
    from ..training import load_model
    from .feature_net import load_feature_net

    modes = MODES if mode == "both" else (mode,)
    if mode != "both" and mode not in MODES:
        raise ValueError(f"unknown --mode {mode!r}; choose reconstruction, unconditional or both")
    model, config = load_model(run)
    objective = config["model"].get("objective", "flow")
    if objective == "flow":
        check_solver(solver)
    sampling_plan(objective, steps, solver, guidance, ddpm_steps)  # refuses runs without a generator
    net = load_feature_net(feature_net)
    ws, reference = reference_windows(config, data, rate)
    checked = {True: "the run's training data", False: "NOT the run's training data (hash differs)",
               None: "training-data hash not recorded"}[reference["is_training_data"]]
    _say(f"quality of {objective} run {run}: {min(n, len(ws))} generated vs {min(n, len(ws))} real windows of "
         f"{reference['data']}, split {reference['split']} (from {reference['from']}; {checked}); "
         f"95% bootstrap intervals, {resamples} resamples, seed {seed}")
    result = quality_sweep(model, objective, ws.X, net, steps, modes, n=n, seed=seed, solver=solver,
                           guidance=guidance, ddpm_steps=ddpm_steps, on_result=_say_row, reference=reference,
                           resamples=resamples)
    result.update(run=str(run), data=ws.source, feature_net=str(feature_net))
    _say_floor(result)
    if plot is not None:
        from .figures import plot_quality

        plot_quality(result, plot)
        console.print(f"wrote {plot}")
    return result


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


def _say_row(row: dict) -> None:
    """One line per setting of the quality sweep, as it finishes."""
    from .frechet import format_fd

    _say(f"  {row['mode']:<14} {row['sampler']:<10} NFE {row['nfe']:>5}  FD {format_fd(row['frechet'])}  "
         f"static {row['static_fraction']['generated']:.1%}  PSD {row['psd']['mean_db']:.2f} dB  "
         f"|a| {row['marginals']['generated']['mean_abs_a']:.3f} g  beyond real range "
         f"{row['beyond_real_range']['count']}  r {row['r']}  {row['ms_per_window']:.2f} ms/window")


def _say_floor(result: dict) -> None:
    """The real-vs-real floor of the sweep and the note on how it was drawn, when the result has them."""
    from .frechet import format_fd

    if "real_vs_real" in result:
        floor = result["real_vs_real"]
        _say(f"  real vs real (floor, two halves of {floor['n_per_half']}): FD {format_fd(floor['frechet'])}  "
             f"static {floor['static_fraction']['half_a']:.1%} / {floor['static_fraction']['half_b']:.1%}")
    if "floor_note" in result:
        _say(f"  note: {result['floor_note']}")
