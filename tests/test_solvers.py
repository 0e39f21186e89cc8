import math

import numpy as np
import pytest
import torch

from flowfm_edge.solvers import SOLVERS, integrate, nfe, time_grid


def rotation_field(x, t):
    """dx/dt = A(t) x with a time-varying rotation rate: closed form x(1) = R(theta(1)) x0."""
    w = 1.0 + t  # angular speed; theta(t) = t + t^2 / 2
    return torch.stack([-w * x[:, 1], w * x[:, 0]], dim=1)


def rotation_exact(x0):
    theta = 1.5
    c, s = math.cos(theta), math.sin(theta)
    return torch.stack([c * x0[:, 0] - s * x0[:, 1], s * x0[:, 0] + c * x0[:, 1]], dim=1)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_convergence_order_against_closed_form(solver):
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    exact = rotation_exact(x0)
    errs = [float((integrate(rotation_field, x0, n, solver, grid=time_grid(n).double()) - exact).norm()) for n in (8, 16, 32)]
    order = SOLVERS[solver][2]
    observed = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(abs(o - order) < 0.35 for o in observed), (solver, errs, observed)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_convergence_against_adaptive_reference(solver):
    torchdiffeq = pytest.importorskip("torchdiffeq", reason="needs torchdiffeq (the [dev] extra)")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)).double()

    def field(x, t):
        return net(torch.cat([x, t.expand(x.shape[0], 1)], dim=1))

    x0 = torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():
        ref = torchdiffeq.odeint(lambda t, x: field(x, t), x0, torch.tensor([0.0, 1.0], dtype=torch.float64),
                                 method="dopri5", rtol=1e-12, atol=1e-12)[-1]
        errs = [float((integrate(field, x0, n, solver, grid=time_grid(n).double()) - ref).norm()) for n in (4, 8, 16)]
    order = SOLVERS[solver][2]
    ratio = errs[1] / errs[2]
    assert ratio > 2 ** order * 0.6, (solver, errs)
    assert errs[2] < errs[0]


def test_nfe_and_grid():
    assert nfe("euler", 8) == 8 and nfe("heun", 8) == 16 and nfe("rk4", 2) == 8
    g = time_grid(4)
    assert torch.allclose(g, torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))
    with pytest.raises(ValueError, match="unknown solver 'ode45'"):
        integrate(rotation_field, torch.zeros(1, 2), 4, "ode45")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        time_grid(0)


def test_solvers_are_independent_of_any_network():
    x0 = torch.ones(2, 3)
    out = integrate(lambda x, t: -x, x0, 64, "rk4")
    np.testing.assert_allclose(out.numpy(), np.exp(-1) * np.ones((2, 3)), rtol=1e-6)


def gaussian_velocity(m: float, s: float):
    """The exact flow-matching velocity for data N(m, s^2) and noise N(0, 1) on the linear path."""

    def v(x, t):
        var = (1 - t) ** 2 + t ** 2 * s ** 2
        dev = x - t * m
        return (m + t * s ** 2 * dev / var) - (1 - t) * dev / var

    return v


@pytest.mark.parametrize("solver", ["euler", "euler-sde"])
def test_samplers_reach_the_data_distribution(solver):
    m, s = 2.0, 0.5
    x0 = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x1 = integrate(gaussian_velocity(m, s), x0, 200, solver, generator=torch.Generator().manual_seed(1))
    assert abs(float(x1.mean()) - m) < 0.02 and abs(float(x1.std()) - s) < 0.02


def test_stochastic_sampler_draws_noise_from_its_generator():
    v = gaussian_velocity(0.0, 1.0)
    x0 = torch.zeros(4, 3)
    a = integrate(v, x0, 8, "euler-sde", generator=torch.Generator().manual_seed(0))
    b = integrate(v, x0, 8, "euler-sde", generator=torch.Generator().manual_seed(0))
    c = integrate(v, x0, 8, "euler-sde", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and nfe("euler-sde", 8) == 8
