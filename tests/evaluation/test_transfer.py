"""The transfer protocol: few-shot draws, rotations, and the report on a target's own folds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowfm_edge.data import WindowSet, make_synthetic
from flowfm_edge.evaluation.har_features import har_features
from flowfm_edge.evaluation.transfer import (Target, few_shot_indices, fixed_featurizers, rotate_windows, rotations,
                                             rotation_report, transfer_report)


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_subjects=4, windows_per_activity=3, seed=0, activities=("walking", "running", "sitting", "sleeping"))


def test_few_shot_draws_exactly_k_per_class_from_the_pool():
    y = np.repeat([0, 1, 2], 20)
    pool = np.arange(0, 60, 2)  # even indices only
    for k in (1, 5, 10):
        idx = few_shot_indices(y, pool, k, np.random.default_rng(0))
        assert np.bincount(y[idx], minlength=3).tolist() == [k, k, k]
        assert set(idx) <= set(pool) and len(set(idx)) == len(idx)


def test_few_shot_draws_differ_and_repeat_by_seed():
    y, pool = np.repeat([0, 1], 50), np.arange(100)
    a = few_shot_indices(y, pool, 5, np.random.default_rng([0, 5, 0]))
    b = few_shot_indices(y, pool, 5, np.random.default_rng([0, 5, 1]))
    again = few_shot_indices(y, pool, 5, np.random.default_rng([0, 5, 0]))
    assert not np.array_equal(a, b) and np.array_equal(a, again)


def test_few_shot_names_the_short_class():
    y = np.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"class 1 has 1 window.*2-shot needs 2"):
        few_shot_indices(y, np.arange(4), 2, np.random.default_rng(0))


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["random", "30", "60", "90", "180"]), st.integers(0, 2**31 - 1))
def test_rotations_are_proper_and_keep_the_norm(condition, seed):
    R = rotations(6, condition, seed)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-10)
    X = np.random.default_rng(seed).normal(size=(6, 3, 300)).astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(rotate_windows(X, R), axis=1), np.linalg.norm(X, axis=1), rtol=1e-5)
    if condition != "random":  # the stated angle: trace R = 1 + 2 cos(angle)
        angle = np.degrees(np.arccos(np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        np.testing.assert_allclose(angle, float(condition), atol=1e-6)


def test_rotations_are_seeded_and_reject_a_bad_angle():
    np.testing.assert_array_equal(rotations(3, "random", 1), rotations(3, "random", 1))
    assert not np.allclose(rotations(3, "random", 1), rotations(3, "random", 2))
    with pytest.raises(ValueError, match="unknown rotation 'sideways'"):
        rotations(3, "sideways")


def test_magnitude_features_do_not_move_under_rotation(synth):
    """The |a| statistics and spectrum of the hand-crafted set (columns 30-52) are rotation-invariant; per-axis ones are not."""
    X = synth.X[:20]
    Xr = rotate_windows(X, rotations(len(X), "random", 0))
    F, Fr = har_features(X), har_features(Xr)
    np.testing.assert_allclose(F[:, 30:50], Fr[:, 30:50], rtol=1e-4, atol=1e-5)
    assert not np.allclose(F[:, :3], Fr[:, :3], atol=1e-2)  # per-axis means carry the orientation


def test_transfer_report_schema_and_pairing(synth):
    target = Target.of(synth)
    rep = transfer_report({"hand-crafted": har_features(synth.X)}, target, shots=(1, 3), draws=3)
    assert target.headline == "per_subject" and rep["target"]["folds"]["split"]["kind"] == "loso"
    for name in ("hand-crafted",):
        assert 0.0 <= rep["full"][name]["headline"] <= 1.0
        assert rep["full"][name]["headline"] == rep["full"][name]["per_subject"]["macro_f1"]["mean"]
        for k in ("1", "3"):
            row = rep["few_shot"][name][k]
            assert len(row["draws"]) == 3 and row["headline"]["mean"] == pytest.approx(np.mean(row["draws"]))
    assert rep["few_shot_protocol"] == rep["few_shot_protocol"] | {"shots": [1, 3], "draws": 3, "C": 1.0}
    # hand-crafted features tell the four synthetic activities apart far better than chance (1/4) with 3 per class
    assert rep["few_shot"]["hand-crafted"]["3"]["headline"]["mean"] > 0.6


def test_rotation_report_fits_once_and_tests_rotated(synth):
    target = Target.of(synth)
    rep = rotation_report({"hand-crafted": fixed_featurizers()["hand-crafted"]}, target, conditions=("random", "30"))
    hc = rep["results"]["hand-crafted"]
    assert set(hc["conditions"]) == {"random", "30"}
    assert hc["conditions"]["random"]["drop"] == pytest.approx(hc["as recorded"] - hc["conditions"]["random"]["headline"])
    assert rep["rotation_seed"] == {"random": 0, "30": 1}


def test_a_target_without_labels_is_refused(synth):
    unlabelled = WindowSet(synth.X, None, synth.pid, source="phone.npz")
    with pytest.raises(ValueError, match="phone.npz: no labels"):
        Target.of(unlabelled)
