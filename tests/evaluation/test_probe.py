"""The one probe: converged, regularisation chosen on validation subjects, baselines on the same folds."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from flowfm_edge.evaluation import probe as probe_mod
from flowfm_edge.evaluation.har_features import har_features
from flowfm_edge.evaluation.probe import fit_probe, linear_probe, probe_folds, probe_table


def toy(n_subjects=12, per=20, d=5, sep=4.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(3), n_subjects * per // 3 + 1)[: n_subjects * per]
    pid = np.repeat(np.arange(n_subjects), per)
    F = rng.normal(size=(len(y), d))
    F[:, 0] += sep * y  # separable along the first feature
    return F, y, pid


def test_probe_reaches_the_scikit_learn_optimum():
    F, y, pid = toy(sep=10.0)  # linearly separable
    train, val = np.flatnonzero(pid < 9), np.flatnonzero(pid >= 9)
    pipe, info = fit_probe(F, y, train, val)
    assert info["converged"]
    Z = StandardScaler().fit(F[train]).transform(F)
    ref = LogisticRegression(C=info["C"], tol=1e-12, max_iter=100_000, class_weight="balanced").fit(Z[train], y[train])
    ours = pipe.predict_proba(F)
    assert np.abs(ours - ref.predict_proba(Z)).max() < 1e-3  # the warm-started grid lands on the same optimum
    assert (pipe.predict(F[val]) == y[val]).all()


def test_unconverged_fits_are_flagged(monkeypatch):
    F, y, pid = toy(sep=0.5)
    monkeypatch.setattr(probe_mod, "MAX_ITER", 2)
    _, info = fit_probe(F, y, np.flatnonzero(pid < 9), np.flatnonzero(pid >= 9))
    assert not info["converged"]


def test_C_is_chosen_on_validation_subjects_only():
    F, y, pid = toy(sep=1.0)
    train, val = np.flatnonzero(pid < 9), np.flatnonzero(pid >= 9)
    _, info = fit_probe(F, y, train, val)
    best = max(info["val_macro_f1"].values())
    assert info["val_macro_f1"][str(info["C"])] == best


def test_probe_folds_are_subject_wise_and_report_both_aggregations():
    F, y, pid = toy(n_subjects=30, per=12)
    r = probe_folds(F, y, pid)
    assert len(r["folds"]) == 5  # > 10 subjects: 5 x 80/20
    assert r["per_subject"]["macro_f1"]["mean"] > 0.95 and r["pooled"]["macro_f1"] > 0.95
    assert r["converged"] and {"C", "iterations", "test_subjects"} <= set(r["folds"][0])
    loso = probe_folds(*toy(n_subjects=6, per=30))
    assert len(loso["folds"]) == 6 and all(len(f["test_subjects"]) == 1 for f in loso["folds"])


def test_folds_fitted_in_parallel_give_the_sequential_result():
    import torch

    F, y, pid = toy(n_subjects=30, per=12, sep=1.0)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = probe_folds(F, y, pid)
        torch.set_num_threads(2)  # two worker processes
        two = probe_folds(F, y, pid)
    finally:
        torch.set_num_threads(threads)
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert drop(one) == drop(two) and one["per_subject"]["macro_f1"]["mean"] < 0.99  # not a trivial toy


def test_probe_table_uses_the_same_folds_for_every_feature_set():
    F, y, pid = toy(n_subjects=30, per=12)
    noise = np.random.default_rng(1).normal(size=F.shape)
    t = probe_table({"signal": F, "noise": noise}, y, pid)
    a, b = t["results"]["signal"]["folds"], t["results"]["noise"]["folds"]
    assert [f["test_subjects"] for f in a] == [f["test_subjects"] for f in b]
    assert t["results"]["signal"]["per_subject"]["macro_f1"]["mean"] > t["results"]["noise"]["per_subject"]["macro_f1"]["mean"] + 0.4
    assert t["protocol"]["split"]["kind"] == "5x80-20" and t["protocol"]["C_grid"] == list(probe_mod.C_GRID)


def test_non_finite_features_are_refused_with_their_rows():
    F, y, pid = toy()
    F[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf in 1 window\(s\) \(first: \[7\]\)"):
        probe_folds(F, y, pid)


def test_linear_probe_keeps_the_test_subjects_unseen():
    F, y, pid = toy(n_subjects=10, per=12)
    res = linear_probe(F, y, pid, seed=42)
    assert res.converged and res.macro_f1 > 0.9 and res.n_train + res.n_test == len(y)
    assert not set(res.test_subjects) & set(np.unique(pid[np.setdiff1d(np.arange(len(y)), np.flatnonzero(np.isin(pid, res.test_subjects)))]))


def test_har_features_measure_what_they_say():
    t = np.arange(300) / 30
    X = np.zeros((2, 3, 300), np.float32)
    X[0, 2] = 1.0 + 0.5 * np.sin(2 * np.pi * 2.0 * t)  # 2 Hz on z, gravity on z
    X[1, 0] = 1.0  # static, gravity on x
    F = har_features(X)
    assert F.shape == (2, 53) and np.isfinite(F).all()
    assert F[0, 2] == pytest.approx(1.0, abs=1e-3) and F[1, 0] == pytest.approx(1.0)  # per-axis means
    dominant = F[:, 27 + 3 + 12 + 5]  # after per-axis, correlations, magnitude, log power and 4 bands
    assert dominant[0] == pytest.approx(2.0, abs=0.1)
    # magnitude statistics do not change when the device is rotated
    Rz = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    Fr = har_features(np.einsum("ij,njl->nil", Rz, X))
    assert np.allclose(Fr[:, 30:42], F[:, 30:42], atol=1e-5)


def test_har_features_refuse_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 3, L\)"):
        har_features(np.zeros((2, 300)))
