"""The representation prior in a bundle: ``prior/prior.npz``, its golden draws, and the numpy sampler.

A run's prior over r (:class:`~flowfm_edge.models.prior.GaussianMixturePrior`) goes into
every bundle as ``prior/prior.npz`` (weights (K,), means (K, r_dim), chol (K, r_dim, r_dim),
float32), listed in ``manifest["prior"]`` with its sha256 like every other file. Golden
draws ``golden/prior/{u,eps,r}.npy`` hold uniforms, normals and the r PyTorch made of them;
``flowfm-edge validate`` recomputes r with :func:`sample_prior` and fails beyond
:data:`PARITY_TOLERANCE`. This module needs only numpy (runtimes import it); the exporter
writes the prior with :func:`flowfm_edge.export.prior.write_prior`.

>>> w, mu, L = np.array([0.5, 0.5]), np.array([[0.0], [4.0]]), np.ones((2, 1, 1))
>>> sample_prior(w, mu, L, np.array([0.2, 0.7]), np.array([[1.0], [-1.0]]))
array([[1.],
       [3.]], dtype=float32)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import bundle_path, sha256

from .schema import BundleError

PRIOR_FILE = "prior/prior.npz"
PARITY_TOLERANCE = 1e-5  # max |r_numpy - r_torch| on the golden draws; both compute in float64
GOLDEN_DRAWS = 16
ARRAYS = ("weights", "means", "chol")


def sample_prior(weights: np.ndarray, means: np.ndarray, chol: np.ndarray, u: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """u (B,) in [0, 1), eps (B, r_dim) -> r (B, r_dim) float32: the formula of GaussianMixturePrior.sample.

    k = searchsorted(cumsum(weights), u, side="right"); r = means[k] + chol[k] @ eps, in float64.
    """
    cdf = np.cumsum(np.asarray(weights, np.float64))
    cdf = cdf / cdf[-1]
    u, eps = np.asarray(u, np.float64), np.asarray(eps, np.float64)
    k = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)  # (B,)
    means, chol = np.asarray(means, np.float64), np.asarray(chol, np.float64)
    r = np.empty_like(eps)  # (B, r_dim)
    for j in np.unique(k):
        rows = k == j
        r[rows] = means[j] + eps[rows] @ chol[j].T
    return r.astype(np.float32)


def draw_inputs(rng: np.random.Generator, n: int, r_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """u (n,) float64 uniform, then eps (n, r_dim) standard normal, from ``rng``."""
    return rng.random(n), rng.standard_normal((n, r_dim))


class BundlePrior:
    """The prior of a bundle, read from ``prior/prior.npz`` after its sha256 is checked."""

    def __init__(self, bundle: str | Path, section: dict):
        bundle = Path(bundle)
        entry = section["file"]
        path = bundle_path(bundle, entry["path"], "prior.file.path")
        if not path.is_file():
            raise BundleError(f"{path}: the prior file is missing; re-export the bundle")
        if sha256(path) != entry["sha256"]:
            raise BundleError(f"{path}: sha256 mismatch (the prior was modified after export); re-export the bundle")
        with np.load(path, allow_pickle=False) as z:
            self.weights, self.means, self.chol = (z[name] for name in ARRAYS)
        self.r_dim = self.means.shape[1]

    def sample(self, u: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """u (B,), eps (B, r_dim) -> r (B, r_dim) float32."""
        return sample_prior(self.weights, self.means, self.chol, u, eps)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n draws r (n, r_dim) float32: u then eps from ``rng``."""
        return self.sample(*draw_inputs(rng, n, self.r_dim))


def check_prior(bundle: str | Path, manifest: dict) -> dict | None:
    """The golden parity check of the bundle's prior (None when it has none): numpy r vs PyTorch's r."""
    section = manifest.get("prior")
    if not section:
        return None
    bundle = Path(bundle)
    files = {k: np.load(bundle_path(bundle, e["path"], f"prior.golden.files.{k}.path"), allow_pickle=False)
             for k, e in section["golden"]["files"].items()}
    out = BundlePrior(bundle, section).sample(files["u"], files["eps"])
    ref = files["r"]
    diff = np.abs(out.astype(np.float64) - ref)
    rel = float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-12))
    tol = section["parity"]["tolerance"]
    return {"artefact": "prior", "precision": "fp32", "against": "reference", "metric": "max_abs",
            "value": float(diff.max()), "rel_l2": rel, "max_abs": float(diff.max()), "tolerance": tol,
            "rel_l2_vs_reference": rel, "passed": bool(diff.max() <= tol)}
