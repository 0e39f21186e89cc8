"""The step graph of a looped sampler: its module, declared signature and calibration inputs (:mod:`.sampler_loop`)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from ..graphs import GraphSpec, TensorSpec

CALIB_TUPLES = 4096  # about this many (z, c) pairs calibrate a step; every step call keeps at least one
CALIB_MIN_WINDOWS = 16  # long schedules calibrate on fewer windows, but never fewer than this


class StepGraph(nn.Module):
    """z (B, 3, 300), c (B, D) -> v (B, 3, 300): one sampler step after its conditioning."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net.forward_from_condition(z, c)


def step_spec(channels: int, window: int, dim: int) -> GraphSpec:
    shape = ("batch", channels, window)
    inputs = (TensorSpec("z", shape, "normalised"), TensorSpec("c", ("batch", dim), "condition: time + representation"))
    return GraphSpec("step", "step", inputs, (TensorSpec("v", shape, "normalised"),), "z", exporter="legacy")


@contextlib.contextmanager
def step_replaced(module: nn.Module, step):
    old = module.step
    module.step = step
    try:
        yield module
    finally:
        module.step = old


@torch.no_grad()
def step_inputs(module: nn.Module, feeds: dict[str, np.ndarray], input_names: list[str],
                most: int = CALIB_TUPLES, seed: int = 0) -> dict[str, np.ndarray]:
    """The (z, c) of the step calls ``module`` makes on ``feeds``: {z (M, 3, 300), c (M, D)}.

    Long schedules run on fewer windows (at least ``CALIB_MIN_WINDOWS``). Past ``most`` rows,
    each call keeps an equal share, chosen at random, so every step stays represented.
    """
    nfe = module.n_steps * module.evaluations
    n = min(len(feeds[input_names[0]]), max(CALIB_MIN_WINDOWS, most // nfe))
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(net, z, c):
        calls.append((z.clone(), c.expand(len(z), -1).clone()))
        return net.forward_from_condition(z, c)

    with step_replaced(module, record):
        module(*(torch.from_numpy(np.ascontiguousarray(feeds[k][:n])) for k in input_names))
    rows = sum(len(z) for z, _ in calls)
    share = max(len(z) for z, _ in calls) if rows <= most else max(1, most // len(calls))
    rng = np.random.default_rng(seed)
    picked = [np.sort(rng.choice(len(z), size=min(share, len(z)), replace=False)) for z, _ in calls]
    return {"z": torch.cat([z[i] for (z, _), i in zip(calls, picked)]).numpy(),
            "c": torch.cat([c[i] for (_, c), i in zip(calls, picked)]).numpy()}
