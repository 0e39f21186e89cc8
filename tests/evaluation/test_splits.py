import numpy as np
import pytest
from sklearn.model_selection import GroupShuffleSplit

from flowfm_edge.evaluation.splits import subject_folds, validation_split


def _disjoint(pid, fold):
    parts = [set(pid[getattr(fold, p)]) for p in ("train", "val", "test")]
    return not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_loso_for_ten_subjects_or_fewer():
    pid = np.repeat(np.arange(10), 7)
    folds = subject_folds(pid)
    assert len(folds) == 10 and all(f.kind == "loso" for f in folds)
    assert sorted(int(pid[f.test][0]) for f in folds) == list(range(10))
    for f in folds:
        assert len(set(pid[f.test])) == 1 and _disjoint(pid, f)
        assert len(f.train) + len(f.val) + len(f.test) == len(pid)
        assert len(set(pid[f.val])) == 2  # ceil(12.5% of 9 training subjects)


def test_five_by_80_20_with_the_ssl_wearables_seeds():
    pid = np.repeat(np.arange(40), 3)
    folds = subject_folds(pid)
    assert len(folds) == 5 and folds[0].kind == "5x80-20"
    ref = list(GroupShuffleSplit(5, test_size=0.2, random_state=42).split(pid, groups=pid))
    for f, (_, test) in zip(folds, ref):
        assert np.array_equal(f.test, np.sort(test)) and _disjoint(pid, f)
        assert len(set(pid[f.test])) == 8 and len(set(pid[f.val])) == 4  # 12.5% of 32
    assert [f.test.tolist() for f in subject_folds(pid)] == [f.test.tolist() for f in folds]  # deterministic


def test_forced_split_and_errors():
    pid = np.repeat(np.arange(6), 2)
    assert subject_folds(pid, "5x80-20")[0].kind == "5x80-20"
    with pytest.raises(ValueError, match="at least 3"):
        subject_folds(np.array([1, 1, 2, 2]))
    with pytest.raises(ValueError, match="loso, 5x80-20"):
        subject_folds(pid, "kfold")
    with pytest.raises(ValueError, match="training subject"):
        validation_split(pid, np.array([0, 1]))
