import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from flowfm_edge.evaluation.metrics import classification_metrics, mean_sd


def test_perfect_classifier_scores_one_everywhere():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    pid = np.array([1, 1, 1, 2, 2, 2, 3, 3])
    m = classification_metrics(y, y, pid, 3)
    assert m["pooled"]["macro_f1"] == 1.0 and m["pooled"]["kappa"] == 1.0
    assert m["per_subject"]["macro_f1"] == {"mean": 1.0, "sd": 0.0, "n": 3, "undefined": 0}
    assert m["per_subject"]["kappa"]["mean"] == 1.0
    assert np.array_equal(np.array(m["confusion"]), np.diag([3, 3, 2]))


def test_values_match_sklearn_per_subject_and_pooled():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, y, rng.integers(0, 3, 60))
    pid = np.repeat([7, 8, 9], 20)
    m = classification_metrics(y, pred, pid, 3)
    assert m["pooled"]["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["pooled"]["kappa"] == pytest.approx(cohen_kappa_score(y, pred))
    f1s = [f1_score(y[pid == s], pred[pid == s], average="macro") for s in (7, 8, 9)]
    assert m["per_subject"]["macro_f1"]["mean"] == pytest.approx(np.mean(f1s))
    assert m["per_subject"]["macro_f1"]["sd"] == pytest.approx(np.std(f1s))
    assert "pooled" in m["pooled"]["note"] and "subject" in m["per_subject"]["note"]


def test_worst_case_and_undefined_kappa():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, 1 - y, np.array([1, 1, 1, 1]), 2)
    assert m["pooled"]["macro_f1"] == 0.0 and m["pooled"]["kappa"] == pytest.approx(-1.0)
    # subject 2 has one class, always predicted right: F1 = 1, kappa undefined and counted
    m = classification_metrics(np.array([0, 1, 0, 0]), np.array([0, 1, 0, 0]), np.array([1, 1, 2, 2]), 2)
    assert m["per_subject"]["kappa"] == {"mean": 1.0, "sd": 0.0, "n": 1, "undefined": 1}


def test_groups_count_a_subject_once_per_fold():
    y = np.array([0, 1, 0, 1])
    m = classification_metrics(y, np.array([0, 1, 1, 1]), np.array([5, 5, 5, 5]), 2, groups=np.array([0, 0, 1, 1]))
    assert m["per_subject"]["macro_f1"]["n"] == 2
    assert mean_sd([1.0, float("nan")]) == {"mean": 1.0, "sd": 0.0, "n": 1, "undefined": 1}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one prediction"):
        classification_metrics(np.zeros(3), np.zeros(2), np.zeros(3), 2)
