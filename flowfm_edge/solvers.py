"""Fixed-step ODE solvers for dx/dt = v(x, t) from t = 0 to 1 (docs/design.md#sampling).

They know nothing of the network: ``velocity`` is any callable ``(x, t) -> v`` with ``x``
(B, ...) and ``t`` a scalar tensor. The loops are plain Python over a fixed time grid, so
``torch.onnx.export`` unrolls them into a fused sampler with the grid baked in.

>>> import torch
>>> x1 = integrate(lambda x, t: -x, torch.ones(2, 3), steps=8, solver="rk4")
>>> round(float(x1[0, 0]), 4)  # exp(-1)
0.3679
"""

from __future__ import annotations

from typing import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _euler(v: Velocity, x, t, h):
    return x + h * v(x, t)


def _midpoint(v: Velocity, x, t, h):
    return x + h * v(x + 0.5 * h * v(x, t), t + 0.5 * h)


def _heun(v: Velocity, x, t, h):
    k1 = v(x, t)
    k2 = v(x + h * k1, t + h)
    return x + 0.5 * h * (k1 + k2)


def _rk4(v: Velocity, x, t, h):
    k1 = v(x, t)
    k2 = v(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = v(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = v(x + h * k3, t + h)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


# name: (step function, velocity evaluations per step, order of accuracy)
SOLVERS: dict[str, tuple[Callable, int, int]] = {
    "euler": (_euler, 1, 1),
    "midpoint": (_midpoint, 2, 2),
    "heun": (_heun, 2, 2),
    "rk4": (_rk4, 4, 4),
}


# Stochastic samplers (PyTorch only; export takes the deterministic SOLVERS).
STOCHASTIC = ("euler-sde",)
SDE_EPS = 1.0  # strength of the Langevin correction of "euler-sde"


def check_solver(solver: str, stochastic: bool = True) -> None:
    names = list(SOLVERS) + (list(STOCHASTIC) if stochastic else [])
    if solver not in names:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(names)}")


def nfe(solver: str, steps: int) -> int:
    """Number of velocity evaluations for ``steps`` steps of ``solver``."""
    check_solver(solver)
    return steps if solver in STOCHASTIC else SOLVERS[solver][1] * steps


def euler_sde(velocity: Velocity, x0: torch.Tensor, steps: int, generator: torch.Generator | None = None,
              eps: float = SDE_EPS) -> torch.Tensor:
    """Euler-Maruyama for the SDE with the flow's marginals: x0 (B, ...) noise at t = 0 -> x1 (B, ...).

    For the linear path x_t = (1 - t) z0 + t x1, E[z0 | x_t] = x_t - t v, so the score is
    -(x_t - t v) / (1 - t); with diffusion g^2 = 2 eps (1 - t) the drift becomes
    v - eps (x_t - t v). The noise vanishes at t = 1, and the last step is deterministic.
    """
    grid = time_grid(steps)
    x = x0
    for i in range(steps):
        t, h = grid[i].to(x.device), (grid[i + 1] - grid[i]).to(x.device)
        v = velocity(x, t)
        x = x + h * (v - eps * (x - t * v))
        if i < steps - 1:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + torch.sqrt(2 * eps * (1 - t) * h) * z
    return x


def time_grid(steps: int, t0: float = 0.0, t1: float = 1.0) -> torch.Tensor:
    """Uniform grid of ``steps + 1`` times from ``t0`` to ``t1`` (float32)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return torch.linspace(t0, t1, steps + 1, dtype=torch.float32)


def integrate(
    velocity: Velocity,
    x0: torch.Tensor,
    steps: int,
    solver: str = "euler",
    grid: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Integrate ``velocity`` from ``x0`` (B, ...) over ``grid`` (default uniform 0 -> 1) -> x1 (B, ...).

    ``solver="euler-sde"`` samples stochastically (:func:`euler_sde`) with noise from ``generator``.
    """
    check_solver(solver)
    if solver in STOCHASTIC:
        return euler_sde(velocity, x0, steps, generator)
    step_fn = SOLVERS[solver][0]
    grid = time_grid(steps) if grid is None else grid
    x = x0
    for i in range(len(grid) - 1):
        t = grid[i].to(x.device)
        h = (grid[i + 1] - grid[i]).to(x.device)
        x = step_fn(velocity, x, t, h)
    return x
