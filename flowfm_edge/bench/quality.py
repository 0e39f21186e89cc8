"""Quality of the exact artefact that was timed, measured through the same runtime (SPEC 8).

- generators (fused samplers, loop samplers): Frechet distance of the frozen HAR feature
  network's features (:mod:`flowfm_edge.evaluation.quality`) between ``n`` real windows and
  ``n`` windows the artefact generates, plus the floor a perfect generator would reach
  (two disjoint real draws of the same size);
- classifiers: macro-F1 on the held-out subjects of the probe's split (subject-wise 80/20, seed 42);
- encoder, velocity, denoiser: no task metric here; the record points to the export-time
  validation against PyTorch in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 64  # windows generated per call while measuring quality


@dataclass
class QualityContext:
    """Real windows and the feature network, loaded once per benchmark."""

    source: str
    X: np.ndarray  # (N, 3, 300) g, labelled windows
    y: np.ndarray | None
    pid: np.ndarray
    classes: list[str] | None
    net: object | None  # FeatureNet, or None when no --feature-net was given
    n: int
    seed: int
    mode: str = "unconditional"
    _ref: np.ndarray | None = None
    _ref_features: np.ndarray | None = None
    floor: float | None = None

    @classmethod
    def load(cls, data: str, feature_net: str | None, n: int = 256, seed: int = 0, mode: str = "unconditional"):
        from ..data import load_source

        if mode not in ("unconditional", "reconstruction"):
            raise ValueError(f"--mode {mode!r}: choose unconditional or reconstruction")
        ws = load_source(data, split="labelled")
        net = None
        if feature_net is not None:
            from ..evaluation.feature_net import load_feature_net

            net = load_feature_net(feature_net)
        return cls(ws.source, ws.X, ws.y, ws.pid, ws.classes, net, n, seed, mode)

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` real windows generators are compared with, and their features (computed once)."""
        if self._ref is None:
            from ..evaluation.quality import feature_vectors, frechet_distance

            order = np.random.default_rng(self.seed).permutation(len(self.X))
            self._ref = self.X[order[: self.n]]
            self._ref_features = feature_vectors(self.net, self._ref)
            if len(self.X) >= 2 * self.n:
                other = feature_vectors(self.net, self.X[order[self.n : 2 * self.n]])
                self.floor = frechet_distance(self._ref_features, other)
        return self._ref, self._ref_features


def generator_quality(ctx: QualityContext, rt, steps: int, solver: str) -> dict:
    """Frechet distance of ``ctx.n`` windows that ``rt`` generates with (steps, solver), against real ones."""
    if ctx.net is None:
        return {"metric": None, "status": "not measured", "reason": "no --feature-net given"}
    from ..evaluation.quality import feature_vectors, frechet_distance, marginal_stats, psd_distance

    ref, ref_features = ctx.reference()
    parts = []
    for i, start in enumerate(range(0, len(ref), CHUNK)):
        rows = ref[start : start + CHUNK]
        seed = ctx.seed * 100_003 + i  # the same noise for every artefact
        if ctx.mode == "reconstruction":
            parts.append(rt.generate(r=rt.embed(rows), steps=steps, solver=solver, seed=seed))
        else:
            parts.append(rt.generate(n=len(rows), steps=steps, solver=solver, seed=seed))
    fake = np.concatenate(parts)
    if not np.isfinite(fake).all():
        return {"metric": "frechet", "frechet": float("inf"), "status": "generated NaN/inf windows"}
    return {"metric": "frechet", "frechet": frechet_distance(ref_features, feature_vectors(ctx.net, fake)),
            "real_vs_real_floor": ctx.floor, "n": len(fake), "mode": ctx.mode, "data": ctx.source,
            "psd_db": psd_distance(ref, fake)["mean_db"],
            "mean_abs_a_g": marginal_stats(fake)["mean_abs_a"], "status": "measured"}


def classifier_quality(ctx: QualityContext, rt) -> dict:
    """Macro-F1 of ``rt.classify`` on the held-out subjects of the probe's split."""
    if ctx.y is None:
        return {"metric": None, "status": "not measured", "reason": f"{ctx.source} has no labels"}
    if rt.classes is not None and ctx.classes is not None and list(rt.classes) != list(ctx.classes):
        return {"metric": None, "status": "not measured",
                "reason": f"the bundle's classes {rt.classes} differ from {ctx.source}'s {ctx.classes}"}
    from ..data import subject_split
    from ..export.metrics import macro_f1

    _, test = subject_split(ctx.pid, seed=42, where=ctx.source)
    pred = np.concatenate([rt.classify(ctx.X[test[i : i + 256]]).argmax(1) for i in range(0, len(test), 256)])
    return {"metric": "macro_f1", "macro_f1": macro_f1(ctx.y[test], pred), "n": int(len(test)),
            "split": "held-out subjects, subject-wise 80/20 seed 42", "data": ctx.source, "status": "measured"}


def export_validation(manifest: dict, artefact: str, precision: str) -> dict:
    """No task metric for this graph: the export-time comparison with PyTorch, as the manifest records it."""
    for a in manifest.get("artefacts", []):
        if a["name"] == artefact and a["precision"] == precision:
            v = a.get("validation", {})
            return {"metric": None, "status": "no task metric for this graph",
                    "export_validation": {k: v.get(k) for k in ("rel_l2", "cosine", "max_abs") if k in v}}
    return {"metric": None, "status": "no task metric for this graph"}
