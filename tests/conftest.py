import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def sine_windows():
    return make_sine_windows


def make_sine_windows(n: int, seed: int = 0) -> np.ndarray:
    """Gravity on z plus a 1.8 Hz oscillation of random phase: (n, 3, 300) float32 in g."""
    g = np.random.default_rng(seed)
    t = np.arange(300) / 30
    phase = g.uniform(0, 2 * np.pi, (n, 1))
    X = np.zeros((n, 3, 300), np.float32)
    X[:, 0] = 0.3 * np.sin(2 * np.pi * 1.8 * t + phase)
    X[:, 1] = 0.1 * np.cos(2 * np.pi * 3.6 * t + phase)
    X[:, 2] = 1.0 + 0.05 * g.standard_normal((n, 300))
    return X
