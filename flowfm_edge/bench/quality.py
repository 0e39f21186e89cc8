"""Quality of the exact artefact that was timed, measured through the same runtime (docs/design.md#benchmarks).

- generators (fused samplers, loop samplers): the protocol of
  :mod:`flowfm_edge.evaluation.quality`: Frechet distance (FD) of the frozen HAR feature
  network's features between ``n`` (default 1,000) windows the artefact generates and as
  many real windows of the *pretrain* split of ``--data`` (what generators train on; each
  record says whether they hash to the bundle's training data), a 95% bootstrap interval on
  every FD, the floor (FD of two disjoint real halves of the same size, with its interval),
  the static-window fraction of real and generated windows, and the spectral distance;
- classifiers: macro-F1 on the held-out subjects of the probe's split (labelled split,
  subject-wise 80/20, seed 42);
- encoder, velocity, denoiser: no task metric here; the record points to the export-time
  validation against PyTorch in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 64  # windows generated per call while measuring quality
NOISE_SEED_STRIDE = 100_003  # prime, above any chunk count: (seed, chunk) pairs never share a noise seed
HEAD_SPLIT_SEED = 42  # `flowfm-edge probe`'s subject-wise 80/20 split: its head never saw these test subjects
N_QUALITY = 1000  # generated windows per generator, against as many real ones


@dataclass
class QualityContext:
    """Real windows and the feature network, loaded once per benchmark."""

    source: str
    X: np.ndarray  # (N, 3, 300) g, labelled windows (classifier quality, encoder inputs)
    y: np.ndarray | None
    pid: np.ndarray
    classes: list[str] | None
    net: object | None  # FeatureNet, or None when no --feature-net was given
    n: int
    seed: int
    mode: str = "unconditional"
    pretrain: np.ndarray | None = None  # (M, 3, 300) g, the generators' reference pool
    reference_info: dict | None = None  # where the reference windows come from
    resamples: int = 200
    _ref: np.ndarray | None = None
    _ref_features: np.ndarray | None = None
    floor: dict | None = None  # real vs real: bootstrap FD dict, n_per_half, static fractions

    @classmethod
    def load(cls, data: str, feature_net: str | None, n: int = N_QUALITY, seed: int = 0, mode: str = "unconditional",
             resamples: int = 200):
        from ..data import load_source
        from ..data.hashing import data_hash
        from ..doctor import require_training_install

        require_training_install()  # the scores use scikit-learn's subject split and the torch feature network
        if mode not in ("unconditional", "reconstruction"):
            raise ValueError(f"--mode {mode!r}: choose unconditional or reconstruction")
        ws = load_source(data, split="labelled")
        if feature_net is None:  # no generator quality: the labelled split is all that is needed
            return cls(ws.source, ws.X, ws.y, ws.pid, ws.classes, None, n, seed, mode, resamples=resamples)
        from ..evaluation.feature_net import load_feature_net

        pre = load_source(data, split="pretrain")
        info = {"data": str(data), "source": pre.source, "split": "pretrain", "n_available": len(pre),
                "hash": data_hash(pre.X)}
        return cls(ws.source, ws.X, ws.y, ws.pid, ws.classes, load_feature_net(feature_net), n, seed, mode, pre.X, info,
                   resamples)

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """The real windows generators are compared with, and their features (computed once, floor too)."""
        if self._ref is None:
            from ..evaluation.frechet import bootstrap_frechet
            from ..evaluation.quality import feature_vectors, real_draws, static_fraction

            pool = self.X if self.pretrain is None else self.pretrain
            ref_idx, half_a, half_b, note = real_draws(len(pool), self.n, self.seed)
            self._ref = pool[ref_idx]
            self._ref_features = feature_vectors(self.net, self._ref)
            if len(half_a) >= 2:
                fd = bootstrap_frechet(self._ref_features[: len(half_a)], feature_vectors(self.net, pool[half_b]),
                                       self.resamples, self.seed)
                self.floor = {"frechet": fd, "n_per_half": len(half_a), "note": note,
                              "static_fraction": {"half_a": static_fraction(pool[half_a]), "half_b": static_fraction(pool[half_b])}}
        return self._ref, self._ref_features


def _is_training_data(ctx: QualityContext, manifest: dict) -> bool | None:
    """Whether the reference pool hashes to the bundle's training data (None when either hash is unknown)."""
    want = manifest.get("model", {}).get("training_data", {}).get("hash")
    have = (ctx.reference_info or {}).get("hash")
    return None if want is None or have is None else want == have


def generator_quality(ctx: QualityContext, rt, steps: int, solver: str) -> dict:
    """FD (with its bootstrap interval) of ``ctx.n`` windows that ``rt`` generates with (steps, solver), and more."""
    if ctx.net is None:
        return {"metric": None, "status": "not measured", "reason": "no --feature-net given"}
    from ..evaluation.frechet import bootstrap_frechet
    from ..evaluation.quality import beyond_real_range, feature_vectors, marginal_stats, psd_distance, static_fraction

    ref, ref_features = ctx.reference()
    parts = []
    for i, start in enumerate(range(0, len(ref), CHUNK)):
        rows = ref[start : start + CHUNK]
        seed = ctx.seed * NOISE_SEED_STRIDE + i  # the same noise for every artefact
        if ctx.mode == "reconstruction":
            parts.append(rt.generate(r=rt.embed(rows), steps=steps, solver=solver, seed=seed))
        else:
            parts.append(rt.generate(n=len(rows), steps=steps, solver=solver, seed=seed))
    fake = np.concatenate(parts)
    r_kind = "embed" if ctx.mode == "reconstruction" else ("prior" if getattr(rt, "has_prior", False) else "zero")
    if not np.isfinite(fake).all():
        return {"metric": "frechet", "frechet": None, "status": "generated NaN/inf windows", "r": r_kind}
    reference = {k: v for k, v in (ctx.reference_info or {}).items() if k != "hash"}
    return {"metric": "frechet",
            "frechet": bootstrap_frechet(ref_features, feature_vectors(ctx.net, fake), ctx.resamples, ctx.seed),
            "real_vs_real_floor": ctx.floor, "n": len(fake), "mode": ctx.mode, "r": r_kind, "data": ctx.source,
            "reference": {**reference, "is_training_data": _is_training_data(ctx, rt.manifest)},
            "static_fraction": {"real": static_fraction(ref), "generated": static_fraction(fake)},
            "psd_db": psd_distance(ref, fake)["mean_db"], "beyond_real_range": beyond_real_range(ref, fake),
            "mean_abs_a_g": marginal_stats(fake)["mean_abs_a"], "status": "measured"}


def classifier_quality(ctx: QualityContext, rt) -> dict:
    """Macro-F1 of ``rt.classify`` on the held-out subjects of the probe's split."""
    if ctx.y is None:
        return {"metric": None, "status": "not measured", "reason": f"{ctx.source} has no labels"}
    if rt.classes is not None and ctx.classes is not None and list(rt.classes) != list(ctx.classes):
        return {"metric": None, "status": "not measured",
                "reason": f"the bundle's classes {rt.classes} differ from {ctx.source}'s {ctx.classes}"}
    from ..data import subject_split
    from ..bundle.metrics import macro_f1

    _, test = subject_split(ctx.pid, seed=HEAD_SPLIT_SEED, where=ctx.source)
    pred = np.concatenate([rt.classify(ctx.X[test[i : i + 256]]).argmax(1) for i in range(0, len(test), 256)])
    return {"metric": "macro_f1", "macro_f1": macro_f1(ctx.y[test], pred), "n": int(len(test)),
            "split": f"held-out subjects, subject-wise 80/20 seed {HEAD_SPLIT_SEED}", "data": ctx.source, "status": "measured"}


def export_validation(manifest: dict, artefact: str, precision: str) -> dict:
    """No task metric for this graph: the export-time comparison with PyTorch, as the manifest records it."""
    for a in manifest.get("artefacts", []):
        if a["name"] == artefact and a["precision"] == precision:
            v = a.get("validation", {})
            return {"metric": None, "status": "no task metric for this graph",
                    "export_validation": {k: v.get(k) for k in ("rel_l2", "cosine", "max_abs") if k in v}}
    return {"metric": None, "status": "no task metric for this graph"}
