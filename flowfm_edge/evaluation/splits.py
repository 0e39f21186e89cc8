"""Subject-wise evaluation splits (docs/design.md#splits): no subject is ever on two sides of a split.

Leave-one-subject-out for datasets with at most 10 subjects; otherwise 5 x
``GroupShuffleSplit`` 80/20. Either way 12.5% of the training subjects are held out for
validation (early stopping). Seeds 42 (test) and 41 (validation) follow SSL-Wearables.

A source without subject ids that ships its own train/test split (an archive's, such as
BasicMotions: ``meta["split"] == "archive"``, window ids ``train-NN`` / ``test-NN``) is
evaluated on that split instead (:func:`archive_folds`); :func:`folds_for` picks.

>>> folds = subject_folds(np.repeat(np.arange(4), 3))
>>> len(folds), folds[0].kind
(4, 'loso')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, LeaveOneGroupOut

SPLITS = ("auto", "loso", "5x80-20")
ARCHIVE = "archive"
ARCHIVE_VAL_FRAC = 0.25  # of the archive's training windows, by class: 12.5% of 40 would leave ~1 per class
LOSO_MAX_SUBJECTS = 10
VAL_FRAC = 0.125
TEST_SEED, VAL_SEED = 42, 41


@dataclass
class Fold:
    """Window indices (sorted) of one fold; the three sets share no subject."""

    index: int
    kind: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def subjects(self, pid: np.ndarray, part: str) -> list:
        return sorted(np.unique(pid[getattr(self, part)]).tolist())


def validation_split(pid: np.ndarray, train_idx: np.ndarray, frac: float = VAL_FRAC,
                     seed: int = VAL_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Split ``train_idx`` by subject into (train, validation) with ``frac`` of the subjects for validation."""
    if len(np.unique(pid[train_idx])) < 2:
        raise ValueError(f"only {len(np.unique(pid[train_idx]))} training subject(s) left: early stopping needs "
                         "at least 2 (one for validation); use data with at least 3 subjects")
    splitter = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
    tr, va = next(splitter.split(train_idx, groups=pid[train_idx]))
    return np.sort(train_idx[tr]), np.sort(train_idx[va])


def resolve_split(split: str, n_subjects: int) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "auto":
        return "loso" if n_subjects <= LOSO_MAX_SUBJECTS else "5x80-20"
    return split


def subject_folds(pid: np.ndarray, split: str = "auto", n_folds: int = 5, test_frac: float = 0.2,
                  seed: int = TEST_SEED, val_seed: int = VAL_SEED) -> list[Fold]:
    """Folds over subjects ``pid`` (N,): ``split`` is auto (LOSO for <= 10 subjects), loso or 5x80-20."""
    pid = np.asarray(pid)
    n_subjects = len(np.unique(pid))
    if n_subjects < 3:
        raise ValueError(f"{n_subjects} subject(s) in field 'pid': subject-wise evaluation needs at least 3 "
                         "(train, validation, test)")
    kind = resolve_split(split, n_subjects)
    dummy = np.zeros(len(pid))
    if kind == "loso":
        outer = LeaveOneGroupOut().split(dummy, groups=pid)
    else:
        outer = GroupShuffleSplit(n_splits=n_folds, test_size=test_frac, random_state=seed).split(dummy, groups=pid)
    folds = []
    for i, (train, test) in enumerate(outer):
        tr, va = validation_split(pid, np.sort(train), seed=val_seed)
        folds.append(Fold(i, kind, tr, va, np.sort(test)))
    return folds


def archive_folds(pid: np.ndarray, y: np.ndarray, val_frac: float = ARCHIVE_VAL_FRAC, seed: int = VAL_SEED,
                  where: str = "<data>") -> list[Fold]:
    """One fold from an archive's own split, read from window ids ``train-*`` / ``test-*`` in ``pid`` (N,).

    Validation (the probe's C, early stopping) takes ``val_frac`` of the training windows,
    stratified by class ``y`` (N,): there are no subjects to hold out.
    """
    from sklearn.model_selection import StratifiedShuffleSplit

    part = np.array([str(p).split("-", 1)[0] for p in pid])
    train, test = np.flatnonzero(part == "train"), np.flatnonzero(part == "test")
    if len(train) + len(test) != len(part) or not len(train) or not len(test):
        raise ValueError(f"{where}: field 'pid' does not name an archive split: every window id must start with "
                         f"'train-' or 'test-', with both parts present ({len(train)} train, {len(test)} test, "
                         f"{len(part) - len(train) - len(test)} other)")
    y = np.asarray(y)
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=val_frac, random_state=seed)
    try:
        tr, va = next(splitter.split(train, y[train]))
    except ValueError as exc:
        raise ValueError(f"{where}: the archive's training part cannot give a validation set stratified by "
                         f"class ({exc})") from None
    return [Fold(0, ARCHIVE, np.sort(train[tr]), np.sort(train[va]), np.sort(test))]


def folds_for(ws, split: str = "auto") -> list[Fold]:
    """The evaluation folds of WindowSet ``ws``: its archive split where it has one, else subject folds."""
    has_archive = ws.meta.get("split") == ARCHIVE
    if split == ARCHIVE and not has_archive:
        raise ValueError(f"{ws.source}: --split archive needs a source that ships its own train/test split "
                         "(such as basicmotions)")
    if has_archive and split in ("auto", ARCHIVE):
        return archive_folds(ws.pid, ws.y, where=ws.source)
    return subject_folds(ws.pid, split)
