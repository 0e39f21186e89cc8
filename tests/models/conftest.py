import numpy as np
import pytest

from flowfm_edge.data.contract import WindowSet


@pytest.fixture
def tiny_windows() -> WindowSet:
    """64 windows of 2 classes (slow sway, 2 Hz oscillation) from 4 subjects, gravity on z."""
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    X, y, pid = [], [], []
    for i in range(64):
        k = i % 2
        f = 0.3 if k == 0 else 2.0
        w = np.stack([0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)), 0.1 * np.cos(2 * np.pi * f * t),
                      np.ones(300)]) + 0.02 * rng.standard_normal((3, 300))
        X.append(w)
        y.append(k)
        pid.append(i % 4)
    return WindowSet(np.asarray(X, np.float32), np.asarray(y), np.asarray(pid), ["still", "walk"], "tiny")
