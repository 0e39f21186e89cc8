"""Signals with known content for the reader fixtures: x constant, y a 1 Hz sinusoid, z zero."""

import numpy as np
import pytest

G = 9.80665  # m/s^2 per g


def _wave(n: int, rate: float, const: float, amp: float) -> np.ndarray:
    """(n, 3) samples at ``rate`` Hz: x = const, y = amp * sin(2 pi t), z = 0."""
    t = np.arange(n) / rate
    return np.stack([np.full(n, float(const)), amp * np.sin(2 * np.pi * t), np.zeros(n)], axis=1)


def _check_units(ws, x_g: float, amp_g: float, z_g: float = 0.0) -> None:
    """Every window is float32 (3, 300) with x == x_g, y swinging +-amp_g and z == z_g, in g."""
    assert ws.X.dtype == np.float32 and ws.X.shape[1:] == (3, 300)
    np.testing.assert_allclose(ws.X[:, 0], x_g, atol=2e-3)
    swing = (ws.X[:, 1].max(axis=1) - ws.X[:, 1].min(axis=1)) / 2
    np.testing.assert_allclose(swing, amp_g, rtol=0.03)
    np.testing.assert_allclose(ws.X[:, 2], z_g, atol=2e-3)


@pytest.fixture
def wave():
    return _wave


@pytest.fixture
def check_units():
    return _check_units
