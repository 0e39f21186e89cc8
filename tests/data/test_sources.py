"""Resolving data sources and splitting by subject."""

import numpy as np
import pytest

from flowfm_edge.data import SOURCES, DataError, load_source, make_synthetic, save_npz, subject_split


def test_builtin_names():
    assert SOURCES == ("synthetic", "hapt", "basicmotions")


def test_synthetic_source_is_seeded():
    a, b = load_source("synthetic", seed=3), load_source("synthetic", seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape[1:] == (3, 300) and a.labelled


def test_npz_path_and_pretrain_split_give_the_same_windows(tmp_path):
    ws = make_synthetic(n_subjects=3, windows_per_activity=1)
    path = save_npz(tmp_path / "w.npz", ws)
    lab, pre = load_source(str(path)), load_source(str(path), split="pretrain")
    np.testing.assert_array_equal(lab.X, ws.X)
    np.testing.assert_array_equal(pre.X, ws.X)


def test_ssl_directory_needs_a_rate(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((2, 300, 3)))
    np.save(tmp_path / "pid.npy", np.array([1, 2]))
    with pytest.raises(DataError, match="needs its native sample rate: pass --rate"):
        load_source(str(tmp_path))
    assert load_source(str(tmp_path), rate=30).X.shape == (2, 3, 300)


def test_unknown_source_lists_the_valid_ones(tmp_path):
    with pytest.raises(DataError, match=r"unknown data source 'capture25'.*synthetic, hapt, basicmotions, SOURCE\+SOURCE \(pretraining\), a path to a \.npz"):
        load_source("capture25")
    with pytest.raises(DataError, match=r"missing\.npz: file not found"):
        load_source(str(tmp_path / "missing.npz"))
    with pytest.raises(DataError, match="unknown split 'test'"):
        load_source("synthetic", split="test")


def test_subject_split_never_splits_a_subject():
    ws = make_synthetic(n_subjects=10, windows_per_activity=1)
    train, test = subject_split(ws.pid, test_frac=0.2, seed=42)
    assert len(train) + len(test) == len(ws)
    assert not set(ws.pid[train]) & set(ws.pid[test])
    assert len(set(ws.pid[test])) == 2
    again = subject_split(ws.pid, test_frac=0.2, seed=42)
    np.testing.assert_array_equal(again[1], test)
    with pytest.raises(DataError, match="needs at least 2"):
        subject_split(ws.subset(ws.pid == 0).pid)


def test_sources_joined_by_plus_pretrain_together_with_distinct_subjects(tmp_path):
    a = make_synthetic(n_subjects=3, windows_per_activity=1, seed=1)
    path = save_npz(tmp_path / "other.npz", a)  # subjects 0-2, as the synthetic source's
    ws = load_source(f"synthetic+{path}", split="pretrain")
    n = len(load_source("synthetic"))
    assert len(ws) == n + len(a) and ws.y is None and ws.meta["sources"] == {"synthetic": n, str(path): len(a)}
    np.testing.assert_array_equal(ws.X[n:], a.X)
    assert ws.pid[0] == "synthetic:0" and ws.pid[-1] == f"{path}:2"
    assert not set(ws.pid[:n]) & set(ws.pid[n:])


@pytest.mark.parametrize("spec, message", [
    ("synthetic+synthetic", "join distinct sources"),
    ("synthetic+", "join distinct sources"),
    ("+", "join distinct sources"),
    ("synthetic+nowhere", "unknown data source 'nowhere'"),
])
def test_bad_combinations_are_clear_errors(spec, message):
    with pytest.raises(DataError, match=message):
        load_source(spec, split="pretrain")


def test_a_combination_is_for_pretraining_only():
    with pytest.raises(DataError, match="for pretraining only"):
        load_source("synthetic+hapt")
