"""One runtime API over every backend: ``embed``, ``classify``, ``generate`` (docs/design.md#runtimes).

A :class:`Backend` runs one named graph of a bundle at one precision on numpy feeds; the
:class:`Runtime` on top checks shapes, draws noise, picks the sampler for the asked steps,
and returns float32 numpy arrays of the same shapes whatever the backend. Unconditional
generation draws r from the bundle's prior over r (``prior/prior.npz``) when it has one, with
numpy. Nothing here imports torch.

No output is derived from NaN or Inf: ``embed``, ``classify`` and ``predict`` refuse a batch
holding a non-finite window, naming the window indices, unless ``invalid="mask"``, which
runs the finite windows only and returns ``(output, valid)``: rows of invalid windows are NaN
(None for ``predict``) and ``valid`` (B,) bool says which. An output that comes back
non-finite from finite input (an overflow) is refused the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle.manifest import bundle_path, check_files, read_manifest

from ..bundle.schema import BundleError
from ..bundle.prior import BundlePrior


INVALID_POLICIES = ("raise", "mask")


class NonFiniteError(ValueError):
    """Input windows (or the outputs derived from them) hold NaN or Inf."""


def _indices(bad: np.ndarray) -> str:
    idx = np.flatnonzero(bad)
    shown = ", ".join(str(i) for i in idx[:10])
    return shown + (f", ... ({len(idx)} in all)" if len(idx) > 10 else "")


class Backend:
    """Runs ``name`` (encoder, classifier, velocity, sampler-<solver>-<steps>) at ``precision`` on ``feeds``."""

    name = "abstract"

    def __init__(self, bundle: Path, manifest: dict, threads: int | None = None):
        self.bundle, self.manifest, self.threads = Path(bundle), manifest, threads

    def precisions(self, name: str) -> list[str]:
        raise NotImplementedError

    def run(self, name: str, precision: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


def noise(n: int, channels: int, window: int, seed: int) -> np.ndarray:
    """Standard normal starting points (n, channels, window) float32; the same seed gives the same noise on every backend."""
    return np.random.default_rng(seed).standard_normal((n, channels, window)).astype(np.float32)


class Runtime:
    """The bundle's graphs behind ``embed(x)``, ``classify(x)`` and ``generate(n | r, steps, seed)``."""

    def __init__(self, backend: Backend, precision: str = "fp32"):
        self.backend = backend
        self.manifest = backend.manifest
        self.precision = precision
        sig = self.manifest["signal"]
        self.channels, self.window = len(sig["channels"]), sig["window"]
        self.classes: list[str] | None = self.manifest.get("classes")
        self.r_dim = self.manifest["model"]["config"]["r_dim"]
        self._prior: BundlePrior | None = None

    @property
    def has_prior(self) -> bool:
        """Whether the bundle carries a prior over r for unconditional generation."""
        return bool(self.manifest.get("prior"))

    def prior(self) -> BundlePrior:
        """The bundle's prior over r (sha256-checked on first use)."""
        if not self.has_prior:
            raise BundleError(f"{self.backend.bundle}: the bundle has no prior over r; fit one with "
                              "`flowfm-edge fit-prior RUN` and re-export")
        if self._prior is None:
            self._prior = BundlePrior(self.backend.bundle, self.manifest["prior"])
        return self._prior

    def __repr__(self) -> str:
        return f"Runtime({self.backend.bundle}, backend={self.backend.name!r}, precision={self.precision!r})"

    def require_graph(self, name: str) -> str:
        """``name``, once the bundle has that graph with an artefact of this precision for this backend; raises otherwise."""
        if name not in self.manifest["graphs"]:
            have = ", ".join(self.manifest["graphs"])
            raise BundleError(f"{self.backend.bundle}: the bundle has no {name!r} graph (it has {have})")
        available = self.backend.precisions(name)
        if self.precision not in available:
            raise BundleError(f"{self.backend.bundle}: {name} has no {self.precision} artefact for backend "
                              f"{self.backend.name!r}; available precisions: {', '.join(available) or 'none'}")
        return name

    def _windows(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (self.channels, self.window):
            raise ValueError(f"x has shape {x.shape}; expected (batch, {self.channels}, {self.window}) "
                             f"windows in {self.manifest['signal']['units']} at {self.manifest['signal']['sample_rate_hz']} Hz")
        return np.ascontiguousarray(x)

    def _finite_run(self, graph: str, x, invalid: str):
        """Run ``graph`` on the finite windows of ``x``; see the module docstring for ``invalid``."""
        if invalid not in INVALID_POLICIES:
            raise ValueError(f"invalid must be one of {', '.join(INVALID_POLICIES)}, got {invalid!r}")
        x = self._windows(x)  # (B, C, L)
        valid = np.isfinite(x).all(axis=(1, 2))  # (B,)
        if invalid == "raise" and not valid.all():
            raise NonFiniteError(f"windows {_indices(~valid)} of {len(x)} hold NaN or Inf; no {graph} output is "
                                 "derived from them (drop or repair them, or pass invalid='mask')")
        name = self.require_graph(graph)
        out = None
        if valid.any():
            y = self.backend.run(name, self.precision, {"x": np.ascontiguousarray(x[valid])})  # (V, D)
            out = np.full((len(x), *y.shape[1:]), np.nan, np.float32)
            out[valid] = y
            overflow = valid & ~np.isfinite(out.reshape(len(x), -1)).all(axis=1)
            if overflow.any():
                if invalid == "raise":
                    raise NonFiniteError(f"windows {_indices(overflow)} of {len(x)} give non-finite {graph} output "
                                         f"(values too large for the model, e.g. |x| = {np.abs(x[overflow]).max():.3g}); "
                                         "pass windows in g, or invalid='mask'")
                out[overflow] = np.nan
                valid = valid & ~overflow
        if out is None:
            out = np.full((len(x), *self._output_shape(graph)), np.nan, np.float32)
        return out if invalid == "raise" else (out, valid)

    def _output_shape(self, graph: str) -> tuple[int, ...]:
        return (self.r_dim,) if graph == "encoder" else (len(self.classes or []),)

    def embed(self, x, invalid: str = "raise"):
        """Windows x (B, 3, 300) in g -> r (B, r_dim) float32 (and valid (B,) bool with ``invalid="mask"``)."""
        return self._finite_run("encoder", x, invalid)

    def classify(self, x, invalid: str = "raise"):
        """Windows x (B, 3, 300) in g -> logits (B, classes) float32; names in ``self.classes``."""
        return self._finite_run("classifier", x, invalid)

    def predict(self, x, invalid: str = "raise"):
        """Windows x (B, 3, 300) in g -> one class name per window (None for an invalid one with ``invalid="mask"``)."""
        if invalid == "mask":
            logits, valid = self.classify(x, invalid)
            return [self.classes[int(np.argmax(row))] if ok else None for row, ok in zip(logits, valid)], valid
        return [self.classes[i] for i in self.classify(x).argmax(axis=1)]

    def sampler(self, steps: int | None = None, solver: str | None = None, condition: str = "r") -> dict:
        """The manifest entry of the fused sampler for ``steps`` (and ``solver``); defaults to the first one.

        ``condition``: "r" for the representation-conditioned samplers, "text" for text samplers.
        """
        samplers = [s for s in self.manifest.get("samplers", []) if s.get("condition", "r") == condition]
        match = [s for s in samplers if (steps is None or s["steps"] == steps) and (solver is None or s["solver"] == solver)]
        if not match:
            kind = "text sampler" if condition == "text" else "fused sampler"
            have = ", ".join(f"{s['solver']} x {s['steps']}" for s in samplers) or "none"
            raise BundleError(f"{self.backend.bundle}: no {kind} for solver={solver or 'any'}, steps={steps}; "
                              f"the bundle has: {have}. Re-export with --steps/--solver to add it")
        return match[0]

    def generate(self, n: int | None = None, r=None, steps: int | None = None, seed: int = 0,
                 solver: str | None = None, guidance: float | None = None, prior: bool = True) -> np.ndarray:
        """Windows (B, 3, 300) in g: unconditional (``n`` windows) or conditioned on ``r`` (B, r_dim).

        Unconditional r is drawn from the bundle's prior (see :meth:`unconditional_r`); it is 0
        when the bundle has no prior or with ``prior=False``. The noise depends on ``seed``
        only, so ``generate(n=k, seed=s)`` equals ``generate(r=unconditional_r(k, s), seed=s)``.
        """
        if (n is None) == (r is None):
            raise ValueError("generate takes exactly one of n (unconditional) or r (conditioned on representations)")
        z = None
        if r is None:
            if n < 1:
                raise ValueError(f"n must be >= 1, got {n}")
            z, r = self._unconditional(n, seed, prior)
        r = np.ascontiguousarray(np.asarray(r, dtype=np.float32))
        if r.ndim != 2 or r.shape[1] != self.r_dim:
            raise ValueError(f"r has shape {r.shape}; expected (batch, {self.r_dim})")
        bad = ~np.isfinite(r).all(axis=1)
        if bad.any():
            raise NonFiniteError(f"r rows {_indices(bad)} of {len(r)} hold NaN or Inf; no window is generated from them")
        entry = self.sampler(steps, solver)
        z = noise(len(r), self.channels, self.window, seed) if z is None else z
        feeds = self._feeds(entry, {"noise": z, "r": r}, guidance)
        if entry.get("loop"):  # no fused graph (DDPM-1000): one call of the loop graph per step
            from .denoiser_loop import loop_generate

            return loop_generate(self, entry, feeds, seed)
        return self.backend.run(self.require_graph(entry["name"]), self.precision, feeds)

    def unconditional_r(self, n: int, seed: int = 0) -> np.ndarray:
        """r (n, r_dim) float32 for unconditional generation: prior draws, or zeros when the bundle has no prior.

        One ``np.random.default_rng(seed)`` gives the noise (n, channels, window) first (what
        :func:`noise` returns), then u (n,) and eps (n, r_dim) for the prior, so r and the noise
        are independent and the noise is the same as with r = 0.
        """
        return self._unconditional(n, seed)[1]

    def _unconditional(self, n: int, seed: int, prior: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """noise (n, channels, window) and r (n, r_dim), float32, from one generator seeded with ``seed``."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.channels, self.window)).astype(np.float32)  # = noise(n, ..., seed)
        if not (prior and self.has_prior):
            return z, np.zeros((n, self.r_dim), np.float32)
        return z, self.prior().draw(rng, n)

    def _feeds(self, entry: dict, feeds: dict, guidance: float | None) -> dict:
        """``feeds`` plus the guidance weight ``w`` when the sampler takes one (1.0 unless given)."""
        if entry["guidance"] is not None:
            feeds["w"] = np.full(len(feeds["noise"]), 1.0 if guidance is None else guidance, np.float32)
        elif guidance is not None:
            raise BundleError(f"{self.backend.bundle}: {entry['name']} was exported without guidance; "
                              "re-export with --guidance to pass a guidance weight")
        return feeds

    def _text(self) -> dict:
        if not self.manifest.get("text"):
            raise BundleError(f"{self.backend.bundle}: the bundle has no text samplers; export a text run "
                              "(from `flowfm-edge train-text`) to the cpu target")
        return self.manifest["text"]

    def text_prompts(self) -> dict[str, np.ndarray]:
        """The descriptions whose embeddings the bundle carries: {text: (text_dim,) float32}."""
        text = self._text()
        E = np.load(bundle_path(self.backend.bundle, text["embeddings"]["file"]["path"], "text.embeddings.file.path"),
                    allow_pickle=False)
        return dict(zip(text["embeddings"]["texts"], E.astype(np.float32)))

    def generate_text(self, e, n: int = 1, steps: int | None = None, seed: int = 0, solver: str | None = None,
                      guidance: float | None = None) -> np.ndarray:
        """Windows (B, 3, 300) in g conditioned on sentence embeddings.

        ``e``: embeddings (B, text_dim) made on the host with the bundle's text model (normalised,
        ``manifest["text"]["embedder"]``), or one description the bundle carries (see
        :meth:`text_prompts`), repeated ``n`` times. A row of zeros gives the unconditional generator.
        """
        dim = self._text()["text_dim"]
        entry = self.sampler(steps, solver, condition="text")
        if isinstance(e, str):
            prompts = self.text_prompts()
            if e not in prompts:
                raise BundleError(f"{self.backend.bundle}: {e!r} is not among the bundle's {len(prompts)} descriptions; "
                                  f"embed it on the host with {self.manifest['text']['embedder']} "
                                  "(flowfm_edge.text.embeddings.MiniLMEmbedder) and pass the embedding")
            e = np.repeat(prompts[e][None], n, axis=0)
        e = np.ascontiguousarray(np.asarray(e, dtype=np.float32))
        if e.ndim != 2 or e.shape[1] != dim or len(e) == 0:
            raise ValueError(f"e has shape {e.shape}; expected (batch, {dim}) sentence embeddings")
        bad = ~np.isfinite(e).all(axis=1)
        if bad.any():
            raise NonFiniteError(f"e rows {_indices(bad)} of {len(e)} hold NaN or Inf; no window is generated from them")
        feeds = self._feeds(entry, {"noise": noise(len(e), self.channels, self.window, seed), "e": e}, guidance)
        return self.backend.run(self.require_graph(entry["name"]), self.precision, feeds)


def load(bundle: str | Path, backend: str = "onnxruntime", precision: str = "fp32", threads: int | None = None,
         trust: str | Path | None = None) -> Runtime:
    """A :class:`Runtime` over ``bundle`` with ``backend`` (onnxruntime, torch, tensorrt, litert).

    Before any backend sees the bundle, every file the manifest lists is checked against its
    sha256, and, when a trust key is given (``trust``) or configured (see
    ``bundle/signing.py``), the bundle's signature too: a tampered or unsigned bundle raises
    :class:`BundleError` and nothing of it runs.

    >>> rt = load("bundle", backend="onnxruntime", precision="int8")   # doctest: +SKIP
    >>> rt.embed(x).shape, rt.generate(n=4, steps=8, seed=0).shape      # doctest: +SKIP
    ((B, 64), (4, 3, 300))
    """
    from .registry import backend_class

    cls = backend_class(backend)
    manifest = verified_manifest(bundle, trust)
    return Runtime(cls(Path(bundle), manifest, threads), precision)


def verified_manifest(bundle: str | Path, trust: str | Path | None = None) -> dict:
    """The manifest of ``bundle`` once its files match it (and its signature, with a trust key); raises otherwise."""
    from ..bundle.signing import trusted_key, verify_bundle

    manifest = read_manifest(bundle)
    check_files(bundle, manifest)
    key = trusted_key(trust)
    if key is not None:
        verify_bundle(bundle, key)
    return manifest
