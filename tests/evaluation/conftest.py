import numpy as np
import pytest

from flowfm_edge.data.contract import WindowSet


def make_activity_windows(n_subjects: int = 5, per_class: int = 6, seed: int = 0) -> WindowSet:
    """3 easily told apart classes (still, walk at 1.8 Hz, run at 2.8 Hz with large swings), gravity on z."""
    rng = np.random.default_rng(seed)
    t = np.arange(300) / 30
    X, y, pid = [], [], []
    for s in range(n_subjects):
        for k, (f, amp) in enumerate(((0.0, 0.0), (1.8, 0.3), (2.8, 0.8))):
            for _ in range(per_class):
                phase = rng.uniform(0, 2 * np.pi)
                w = np.stack([amp * np.sin(2 * np.pi * f * t + phase), 0.5 * amp * np.cos(2 * np.pi * f * t + phase),
                              np.ones(300)]) + 0.02 * rng.standard_normal((3, 300))
                X.append(w)
                y.append(k)
                pid.append(100 + s)
    return WindowSet(np.asarray(X, np.float32), np.asarray(y), np.asarray(pid), ["still", "walk", "run"], "activity")


@pytest.fixture(scope="session")
def activity_windows() -> WindowSet:
    return make_activity_windows()
