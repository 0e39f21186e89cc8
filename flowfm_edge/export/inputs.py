"""Inputs for every graph: calibration feeds, check feeds (real + random), and the PyTorch reference.

Real windows come from a :class:`~flowfm_edge.data.contract.WindowSet`, split into disjoint
calibration and validation windows by class and subject. The generator's inputs follow real
sampler trajectories (:mod:`flowfm_edge.calibration.trajectories`). The reference is the
model itself, not the export wrapper: the fused sampler is checked against
:meth:`FlowFM.sample` with the same noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..calibration.trajectories import generator_conditions, noise_like, trajectory_tuples
from ..models import FlowFM
from .graphs import GraphSpec, build_graph

N_RANDOM = 8  # random inputs added to every check, beside the real ones
TRAJ_WINDOWS = 16  # windows whose sampler trajectories calibrate the velocity graph, per schedule
SAMPLER_CALIB = 64  # (noise, r) pairs that calibrate a fused sampler
SAMPLER_CHECK = 16
# Seed offsets: every draw below (calibration and check windows, their conditions r, noise, random rows,
# guidance weights) uses ``seed + k`` with its own fixed k, so the draws are independent streams and a
# bundle is reproducible from ``--seed`` alone. The values of k only need to differ from each other.


@dataclass
class Windows:
    """Real windows for calibration and checks; ``None`` fields when no data were given."""

    calib: np.ndarray | None  # (Nc, 3, 300) g
    val: np.ndarray | None  # (Nv, 3, 300) g
    val_labels: np.ndarray | None  # (Nv,) class codes of the head, or None


def random_windows(model: FlowFM, n: int, seed: int) -> np.ndarray:
    """Windows drawn around the training statistics: mean + std * N(0, 1), (n, 3, 300) g."""
    z = noise_like(n, model, seed)
    return (z * model.std.numpy() + model.mean.numpy()).astype(np.float32)


def _cat(*arrays):
    return np.concatenate([a for a in arrays if a is not None and len(a)]).astype(np.float32)


def real_windows(w: Windows, which: str, model: FlowFM, n: int | None, seed: int) -> np.ndarray:
    """The first ``n`` (all when None) real windows of ``which``, or random windows when there are none."""
    X = getattr(w, which)
    return X[:n] if X is not None and len(X) else random_windows(model, n or 64, seed)


def _guidance(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 3.0, n).astype(np.float32)


def feeds(spec: GraphSpec, model: FlowFM, w: Windows, schedules: list[tuple[str, int]], seed: int = 0
          ) -> tuple[dict, dict, int, np.ndarray | None]:
    """(calibration feeds, check feeds, number of real rows at the top of the check, their labels)."""
    rnd = random_windows(model, N_RANDOM, seed + 7)
    n_real = 0 if w.val is None else len(w.val)
    if spec.graph in ("encoder", "classifier"):
        calib = {"x": real_windows(w, "calib", model, None, seed)}
        check = {"x": _cat(w.val, rnd)}
        return calib, check, n_real, w.val_labels if spec.graph == "classifier" else None
    if spec.graph == "velocity":
        parts = []
        Xc = real_windows(w, "calib", model, TRAJ_WINDOWS, seed)
        for i, (solver, steps) in enumerate(schedules):
            r = generator_conditions(model, Xc, seed=seed + i)
            parts.append(trajectory_tuples(model, r, noise_like(len(r), model, seed + 100 + i), solver, steps))
        calib = {k: _cat(*(p[k] for p in parts)) for k in ("z_t", "t", "r")}
        Xv = real_windows(w, "val", model, 4, seed + 1)
        solver, steps = schedules[0]
        real = trajectory_tuples(model, generator_conditions(model, Xv, seed=seed + 50),
                                 noise_like(len(Xv), model, seed + 200), solver, steps)
        rng = np.random.default_rng(seed + 9)
        r_rand = generator_conditions(model, rnd, seed=seed + 51, p_uncond=0.0)
        check = {"z_t": _cat(real["z_t"], noise_like(N_RANDOM, model, seed + 300)),
                 "t": _cat(real["t"], rng.random(N_RANDOM).astype(np.float32)), "r": _cat(real["r"], r_rand)}
        return calib, check, len(real["t"]) if w.val is not None else 0, None
    # fused sampler: running the whole graph visits every step of its schedule
    Xc = real_windows(w, "calib", model, SAMPLER_CALIB, seed)
    Xv = real_windows(w, "val", model, SAMPLER_CHECK, seed + 1)
    calib = {"noise": noise_like(len(Xc), model, seed + 400), "r": generator_conditions(model, Xc, seed=seed + 2)}
    check = {"noise": noise_like(len(Xv), model, seed + 500), "r": generator_conditions(model, Xv, seed=seed + 3)}
    if "w" in spec.input_names:
        calib["w"], check["w"] = _guidance(len(Xc), seed + 4), _guidance(len(Xv), seed + 5)
    return calib, check, len(Xv) if w.val is not None else 0, None


@torch.no_grad()
def reference(spec: GraphSpec, model: FlowFM, head: torch.nn.Module | None, feeds: dict[str, np.ndarray],
              batch: int = 64) -> np.ndarray:
    """The PyTorch model's output for ``feeds``: what every artefact of ``spec`` must reproduce."""
    n = len(next(iter(feeds.values())))
    outs = []
    for i in range(0, n, batch):
        f = {k: torch.from_numpy(np.ascontiguousarray(v[i : i + batch])) for k, v in feeds.items()}
        if spec.graph == "encoder":
            y = model.embed(f["x"])
        elif spec.graph == "classifier":
            y = head(model.embed(f["x"]))
        elif spec.graph == "velocity":
            y = model.velocity(f["z_t"], f["t"], f["r"])
        else:
            s = spec.sampler
            w = f["w"][:, None, None] if "w" in f else None
            y = model.sample(f["r"], steps=s["steps"], solver=s["solver"], guidance=w, noise=f["noise"])
        outs.append(y.float().numpy())
    return np.concatenate(outs)


UNIFORM_INPUTS = ("t", "w")  # times and guidance weights trace with values in [0, 1); the rest with N(0, 1)


def example_args(spec: GraphSpec, model=None) -> tuple:
    """Tracing inputs (batch 2) in the order of the graph's declared inputs, shaped as declared."""
    g = torch.Generator().manual_seed(0)
    args = []
    for tensor in spec.inputs:
        shape = tuple(2 if isinstance(d, str) else d for d in tensor.shape)
        args.append(torch.rand(shape, generator=g) if tensor.name in UNIFORM_INPUTS else torch.randn(shape, generator=g))
    return tuple(args)


@dataclass(frozen=True)
class GraphKit:
    """How one model family's graphs are fed, checked, built and traced; FlowFM's is :data:`FLOWFM_KIT`.

    The diffusion twin (:mod:`.diffusion`) and text samplers (:mod:`.text_sampler`) bring their own.
    """

    feeds: Callable  # (spec, model, windows, schedules, seed) -> (calib, check, n_real, labels)
    reference: Callable  # (spec, model, head, check) -> the PyTorch output the artefact must match
    build: Callable  # (spec, model, head) -> the eval-mode torch module
    example_args: Callable = example_args  # (spec, model) -> tracing inputs


FLOWFM_KIT = GraphKit(feeds, reference, build_graph)
