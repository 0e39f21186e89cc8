"""The synthetic wrist generator and its credibility checks (docs/design.md#data-contract)."""

import time

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold, KFold, cross_val_predict

from flowfm_edge.data import ACTIVITIES, DataError, make_synthetic
from flowfm_edge.data.synthetic import STATIC
from flowfm_edge.data.synthetic_sensing import rotation, to_sensor

FS = 30


def magnitude(X: np.ndarray) -> np.ndarray:
    return np.linalg.norm(X, axis=1)  # (N, 300)


def dominant_hz(a: np.ndarray) -> np.ndarray:
    """Frequency of the largest FFT bin of each row of ``a`` (N, 300) minus its mean."""
    spec = np.abs(np.fft.rfft(a - a.mean(1, keepdims=True), axis=1))
    return np.fft.rfftfreq(a.shape[1], 1 / FS)[spec.argmax(1)]


def features(X: np.ndarray) -> np.ndarray:
    """Simple per-window features (N, 25): axis means/stds, |a| stats, spectrum of |a|, axis correlations."""
    a = magnitude(X)
    power = np.abs(np.fft.rfft(a - a.mean(1, keepdims=True), axis=1)) ** 2
    freqs = np.fft.rfftfreq(300, 1 / FS)
    total = power.sum(1) + 1e-12
    bands = [power[:, (freqs >= lo) & (freqs < hi)].sum(1) / total for lo, hi in [(0, 1), (1, 3), (3, 6), (6, 16)]]
    xc = X - X.mean(2, keepdims=True)
    sd = xc.std(2) + 1e-9  # (N, 3)
    corr = [(xc[:, i] * xc[:, j]).mean(1) / (sd[:, i] * sd[:, j]) for i, j in [(0, 1), (0, 2), (1, 2)]]
    return np.column_stack([X.mean(2), X.std(2), a.mean(1), a.std(1), np.percentile(a, [10, 50, 90], axis=1).T,
                            dominant_hz(a), np.log(total), *bands, *corr, np.abs(np.diff(a, axis=1)).mean(1)])


@pytest.fixture(scope="module")
def cohort():
    return make_synthetic(n_subjects=16, windows_per_activity=10, seed=0)


def test_contract_shape_classes_and_subjects(cohort):
    assert cohort.X.shape == (16 * len(ACTIVITIES) * 10, 3, 300) and cohort.X.dtype == np.float32
    assert cohort.classes == list(ACTIVITIES)
    assert np.bincount(cohort.y).tolist() == [16 * 10] * len(ACTIVITIES)
    assert sorted(set(cohort.pid.tolist())) == list(range(16))
    assert np.abs(cohort.X).max() <= 8.0  # saturation


def test_seeded_and_deterministic():
    a, b = make_synthetic(3, 2, seed=5), make_synthetic(3, 2, seed=5)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, make_synthetic(3, 2, seed=6).X)


def test_activity_subset_and_bad_names():
    ws = make_synthetic(2, 3, activities=["sleeping", "running"])
    assert ws.classes == ["sleeping", "running"] and len(ws) == 12
    with pytest.raises(DataError, match="unknown activities \\['swimming'\\]"):
        make_synthetic(activities=["swimming"])


def test_rotations_are_proper():
    R = rotation(*np.random.default_rng(0).uniform(-np.pi, np.pi, (3, 50)))  # (50, 3, 3)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0)
    angles, v = np.random.default_rng(1).uniform(-np.pi, np.pi, (3, 50)), np.random.default_rng(2).normal(size=(50, 3))
    np.testing.assert_allclose(to_sensor(*angles, v), np.einsum("nji,nj->ni", rotation(*angles), v), atol=1e-12)
    # Forearm hanging (pitch 90 deg): x points down, against the +1 g reaction, so x reads -1 g.
    np.testing.assert_allclose(to_sensor(0.0, np.pi / 2, 0.0, np.array([0.0, 0.0, 1.0])), [-1, 0, 0], atol=1e-12)


def test_quantised_to_12_bits(cohort):
    lsb = 16 / 4096
    codes = cohort.X[:20].astype(np.float64) / lsb
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)


def test_static_windows_feel_one_g(cohort):
    static = np.isin(cohort.y, [cohort.classes.index(c) for c in STATIC])
    mean_mag = magnitude(cohort.X[static]).mean(1)
    worst = mean_mag[np.abs(mean_mag - 1).argmax()]
    assert abs(worst - 1) <= 0.05, f"worst static window has mean |a| = {worst:.3f} g"


def test_walking_steps_at_1_6_to_2_hz(cohort):
    walk = cohort.X[cohort.y == cohort.classes.index("walking")]
    f = dominant_hz(magnitude(walk))
    outside = sorted(set(f[(f < 1.6) | (f > 2.0)].tolist()))
    assert not outside, f"walking windows with dominant |a| frequency outside 1.6-2.0 Hz: {outside}"
    run = cohort.X[cohort.y == cohort.classes.index("running")]
    assert np.median(dominant_hz(magnitude(run))) >= 2.4  # running steps faster


def test_gravity_direction_depends_on_posture(cohort):
    mean_axes = {c: cohort.X[cohort.y == k].mean(axis=(0, 2)) for k, c in enumerate(cohort.classes)}
    # A hanging, swinging forearm points x down; a forearm on a desk or lap faces z up.
    assert mean_axes["walking"][0] < -0.5
    assert mean_axes["sitting"][2] > 0.4


def test_feature_classifier_is_good_not_perfect_and_subjects_matter(cohort):
    Z, y = features(cohort.X), cohort.y
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=2)
    by_subject = cross_val_predict(forest, Z, y, groups=cohort.pid, cv=GroupKFold(n_splits=4))
    by_window = cross_val_predict(forest, Z, y, cv=KFold(n_splits=4, shuffle=True, random_state=0))
    f1_subject = f1_score(y, by_subject, average="macro")
    f1_window = f1_score(y, by_window, average="macro")
    assert 0.7 <= f1_subject <= 0.9, f"subject-wise macro F1 {f1_subject:.3f}"
    assert f1_subject < f1_window, f"subject-wise {f1_subject:.3f} should trail random-window {f1_window:.3f}"


def test_fast_enough():
    make_synthetic(2, 2)  # warm-up
    start = time.perf_counter()
    ws = make_synthetic(n_subjects=20, windows_per_activity=10, seed=1)  # 1,800 windows
    rate = len(ws) / (time.perf_counter() - start)
    assert rate > 1000, f"{rate:.0f} windows/s"
