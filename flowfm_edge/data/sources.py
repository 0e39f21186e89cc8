"""Resolving a data source name to windows, and splitting windows by subject (docs/design.md#data-contract).

A source is a built-in name from :data:`SOURCES` (``synthetic``, ``hapt``, ``basicmotions``),
a path to an ``.npz`` window file, or an SSL-Wearables directory (which needs its native
``rate``). For pretraining, several sources joined by ``+`` (``hapt+synthetic``) are read
one after the other into one set, each subject id prefixed by its source so none collide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .contract import DataError, WindowSet

SOURCES = ("synthetic", "hapt", "basicmotions")
SPLITS = ("labelled", "pretrain")
_VALID = ("synthetic, hapt, basicmotions, SOURCE+SOURCE (pretraining), a path to a .npz window file, a shard store (flowfm-edge data shard), "
          "or an SSL-Wearables directory (X.npy, Y.npy, pid.npy) with --rate")


def load_source(spec: str, *, split: str = "labelled", rate: float | None = None, seed: int = 0,
                drop_nan: bool = False, verify: str = "quick") -> WindowSet:
    """Windows ``X`` (N, 3, 300) in g from ``spec``.

    ``split="pretrain"`` asks for every window usable without labels: HAPT adds its
    unlabelled recording time; a labelled source returns the same windows, whose labels
    pretraining ignores. ``rate`` is the native sample rate of an SSL-Wearables directory;
    ``verify`` how a shard store is checked when opened ("quick" or "full", see ``load_store``).

    >>> load_source("synthetic").X.shape[1:]
    (3, 300)
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    spec = str(spec)
    if spec == "synthetic":
        from .synthetic import make_synthetic

        return make_synthetic(seed=seed)
    if spec == "hapt":
        from .hapt import load_hapt

        return load_hapt(split)
    if spec == "basicmotions":
        from .basicmotions import load_basicmotions

        return load_basicmotions()
    path = Path(spec).expanduser()
    if "+" in spec and not path.exists():
        return combine_sources(spec, split=split, rate=rate, seed=seed, drop_nan=drop_nan)
    from .store import is_store, load_store

    if path.is_dir() and is_store(path):
        return load_store(path, verify=verify)
    if path.is_dir():
        from .npz import load_ssl_dir

        if not (path / "X.npy").exists():
            raise DataError(f"{path}: directory without X.npy; a source is one of: {_VALID}")
        if rate is None:
            raise DataError(f"{path}: an SSL-Wearables directory needs its native sample rate: "
                            "pass --rate (e.g. --rate 30)")
        return load_ssl_dir(path, rate, drop_nan=drop_nan)
    if path.suffix == ".npz" or path.is_file():
        from .npz import load_npz

        return load_npz(path, drop_nan=drop_nan)
    raise DataError(f"unknown data source {spec!r}: no such built-in source, file or directory; "
                    f"valid sources: {_VALID}")


def combine_sources(spec: str, *, split: str = "pretrain", rate: float | None = None, seed: int = 0,
                    drop_nan: bool = False) -> WindowSet:
    """The windows of every ``+``-joined source of ``spec``, one set without labels (pretraining only).

    Subject ids become ``SOURCE:ID``, so two sources that both number their subjects from 1
    stay apart. Labels are dropped: the sources' classes differ, and pretraining ignores them.
    """
    parts = [p.strip() for p in spec.split("+")]
    if any(not p for p in parts) or len(set(parts)) != len(parts):
        raise DataError(f"data source {spec!r}: join distinct sources with '+', e.g. hapt+synthetic")
    if split != "pretrain":
        raise DataError(f"data source {spec!r}: a combination of sources is for pretraining only (its labels "
                        "differ); probe one source at a time")
    sets = [load_source(p, split=split, rate=rate, seed=seed, drop_nan=drop_nan) for p in parts]
    X = np.concatenate([np.asarray(ws.X, dtype=np.float32) for ws in sets])
    pid = np.concatenate([np.array([f"{name}:{p}" for p in ws.pid]) for name, ws in zip(parts, sets)])
    return WindowSet(X=X, y=None, pid=pid, source=spec,
                     meta={"sources": {name: len(ws) for name, ws in zip(parts, sets)}})


def subject_split(pid: np.ndarray, test_frac: float = 0.2, seed: int = 42,
                  where: str = "<data>") -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices ``(train_idx, test_idx)`` over subjects ``pid`` (N,), no subject on both sides.

    GroupShuffleSplit on ``pid``; ``where`` names the data in errors.
    """
    from sklearn.model_selection import GroupShuffleSplit

    pid = np.asarray(pid)
    subjects = np.unique(pid)
    if len(subjects) < 2:
        raise DataError(f"{where}: field 'pid' has {len(subjects)} subject(s); "
                        "a subject-wise split needs at least 2")
    if not 0.0 < test_frac < 1.0:
        raise DataError(f"test_frac must lie between 0 and 1, got {test_frac}")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_frac, random_state=seed)
    train_idx, test_idx = next(splitter.split(np.zeros(len(pid)), groups=pid))
    return np.sort(train_idx), np.sort(test_idx)
