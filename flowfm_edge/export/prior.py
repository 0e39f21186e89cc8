"""Writing a run's prior over r into a bundle, with golden draws checked against PyTorch (the format: :mod:`flowfm_edge.bundle.prior`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..bundle.manifest import file_entry

from ..bundle.schema import BundleError
from ..bundle.prior import GOLDEN_DRAWS, PARITY_TOLERANCE, PRIOR_FILE, draw_inputs, sample_prior


def write_prior(bundle: Path, prior, info: dict | None, seed: int = 0) -> dict | None:
    """Write ``prior`` (a GaussianMixturePrior, or None) and its golden draws into ``bundle``; the manifest section.

    Raises BundleError when numpy and PyTorch disagree beyond :data:`PARITY_TOLERANCE`.
    """
    if prior is None:
        return None
    arrays = prior.arrays()
    path = bundle / PRIOR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    u, eps = draw_inputs(np.random.default_rng(seed), GOLDEN_DRAWS, prior.r_dim)
    u[:2] = 0.0, np.nextafter(1.0, 0.0)  # both ends of the inverse CDF
    with torch.no_grad():
        ref = prior.sample(torch.from_numpy(u), torch.from_numpy(eps).float()).numpy()
    eps = eps.astype(np.float32)  # what PyTorch used, and what the golden file holds
    golden_dir = bundle / "golden" / "prior"
    golden_dir.mkdir(parents=True, exist_ok=True)
    golden = {}
    for name, arr in (("u", u), ("eps", eps), ("r", ref)):
        np.save(golden_dir / f"{name}.npy", arr)
        golden[name] = file_entry(bundle, golden_dir / f"{name}.npy")
    out = sample_prior(arrays["weights"], arrays["means"], arrays["chol"], u, eps)
    err = float(np.abs(out - ref).max())
    if not err <= PARITY_TOLERANCE:
        raise BundleError(f"prior: numpy and PyTorch draws differ by {err:.3g} > {PARITY_TOLERANCE:g} on the same "
                          "(u, eps); the prior's arrays are not finite or the formulas diverged; please report it")
    fit = {k: v for k, v in (info or {}).items() if k != "grid"}
    return {"kind": "gaussian-mixture", "components": prior.components, "covariance_type": fit.get("covariance_type"),
            "r_dim": prior.r_dim, "dtype": "float32", "file": file_entry(bundle, path),
            "arrays": {name: list(a.shape) for name, a in arrays.items()},
            "sampling": "rng = default_rng(seed): noise, then u (n,) uniform, then eps (n, r_dim) normal; "
                        "k = searchsorted(cumsum(weights) / sum(weights), u, side='right'); "
                        "r = means[k] + chol[k] @ eps (float64, returned as float32)",
            "fit": fit,
            "golden": {"inputs": ["u", "eps"], "output": "r", "files": golden},
            "parity": {"metric": "max_abs", "value": err, "tolerance": PARITY_TOLERANCE}}
