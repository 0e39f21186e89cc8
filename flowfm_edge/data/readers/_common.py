"""Plumbing the raw-dataset readers share: finding files, uniform time grids, collecting windows.

Every reader turns its files into recordings ``acc`` (T, 3) in g at one native rate with
per-sample label codes (``-1`` = unlabelled), and hands them to a :class:`Collector`, which
cuts windows with :func:`~flowfm_edge.data.windowing.window_stream` and counts what it drops.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..contract import WINDOW_S, DataError, WindowSet
from ..windowing import UNLABELLED, window_stream

STANDARD_GRAVITY = 9.80665  # m/s^2 per g


def natural_key(path: Path) -> list:
    """Sort key that puts ``S2`` before ``S10``."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(path))]


def raw_root(raw_dir, fmt: str) -> Path:
    """``raw_dir`` as a Path, or a :class:`DataError` when it is not an existing directory."""
    root = Path(raw_dir).expanduser()
    if not root.is_dir():
        raise DataError(
            f"{fmt}: raw directory {root} does not exist or is not a directory; "
            "download and unpack the dataset, then pass its folder"
        )
    return root


def find_files(root: Path, patterns: tuple[str, ...], fmt: str) -> list[Path]:
    """Files under ``root`` matching the first glob of ``patterns`` that matches any, naturally sorted."""
    for pattern in patterns:
        files = sorted((p for p in root.glob(pattern) if p.is_file()), key=natural_key)
        if files:
            return files
    raise DataError(
        f"{fmt}: no files matching {' or '.join(repr(p) for p in patterns)} under {root}; "
        "point raw_dir at the unpacked dataset"
    )


def uniform_runs(t_s: np.ndarray, acc: np.ndarray, rate: float, max_gap_s: float,
                 starts: list | None = None) -> tuple[list[np.ndarray], int]:
    """Irregular samples -> runs on a uniform ``rate`` Hz grid by linear interpolation over time.

    ``t_s`` (T,) seconds, ``acc`` (T, 3). Samples are sorted by time and repeated timestamps
    dropped; the recording is split wherever consecutive samples lie more than ``max_gap_s``
    apart, so no value is invented across a gap. Returns ([(T_k, 3) float64, ...], gaps split at);
    ``starts``, when given, receives each run's first time (seconds, on ``t_s``'s clock).
    """
    if len(t_s) < 2:
        return [], 0
    order = np.argsort(t_s, kind="stable")
    t, a = t_s[order], acc[order]
    fresh = np.r_[True, np.diff(t) > 0]
    origin = t[0]
    t, a = t[fresh] - origin, a[fresh]  # from 0: keeps float64 resolution
    cuts = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    runs = []
    for tt, aa in zip(np.split(t, cuts), np.split(a, cuts)):
        if len(tt) < 2:
            continue
        grid = tt[0] + np.arange(int(np.floor((tt[-1] - tt[0]) * rate + 1e-9)) + 1) / rate  # (T_k,)
        runs.append(np.stack([np.interp(grid, tt, aa[:, k]) for k in range(3)], axis=1))  # (T_k, 3)
        if starts is not None:
            starts.append(origin + tt[0])
    return runs, len(cuts)


class Collector:
    """Windows from many recordings of one dataset, gathered into one :class:`WindowSet`.

    ``meta`` counts recordings, recordings shorter than one window (``short_recordings``),
    windows dropped for NaN (``dropped_nan``), for mixing labels under the ``pure`` policy
    (``dropped_mixed``) and for carrying no label (``dropped_unlabelled``).
    """

    def __init__(self, fmt: str, root: Path, classes: list[str], rate: float,
                 hop_s: float, label_policy: str, method: str, unlabelled: bool = False) -> None:
        self.fmt, self.root, self.classes, self.rate = fmt, root, list(classes), rate
        self.unlabelled = unlabelled  # a dataset without labels: every window kept, y None
        self.hop_s, self.label_policy, self.method = hop_s, label_policy, method
        self._X, self._y, self._pid = [], [], []
        self.meta = dict(format=fmt, rate_hz=rate, hop_s=hop_s, label_policy=label_policy, method=method,
                         files=0, recordings=0, short_recordings=0,
                         dropped_nan=0, dropped_mixed=0, dropped_unlabelled=0)

    def add(self, acc: np.ndarray, labels: np.ndarray, pid: str, where: str) -> None:
        """Window one recording: ``acc`` (T, 3) in g at the native rate, ``labels`` (T,) codes, -1 = none."""
        self.meta["recordings"] += 1
        if len(acc) < round(WINDOW_S * self.rate):
            self.meta["short_recordings"] += 1
            return
        w = window_stream(acc, self.rate, np.asarray(labels, dtype=np.int64), self.hop_s,
                          self.label_policy, self.method, where)
        self.meta["dropped_nan"] += w.dropped_nan
        self.meta["dropped_mixed"] += w.dropped_mixed
        labelled = w.y != UNLABELLED if not self.unlabelled else np.ones(len(w.y), bool)
        self.meta["dropped_unlabelled"] += int((~labelled).sum())
        if labelled.any():
            self._X.append(w.X[labelled])  # (n, 3, 300)
            self._y.append(w.y[labelled])
            self._pid.append(np.full(int(labelled.sum()), pid))

    def finish(self) -> WindowSet:
        """All windows as a WindowSet; a :class:`DataError` saying why when none survived."""
        m = self.meta
        if not self._X:
            raise DataError(
                f"{self.fmt}: no windows could be cut from {self.root}: {m['recordings']} recording(s), "
                f"{m['short_recordings']} shorter than {WINDOW_S} s, {m['dropped_nan']} window(s) with NaN, "
                f"{m['dropped_mixed']} with mixed labels, {m['dropped_unlabelled']} unlabelled"
            )
        X = np.concatenate(self._X)  # (N, 3, 300)
        m["windows"] = len(X)
        y = None if self.unlabelled else np.concatenate(self._y).astype(np.int64)
        return WindowSet(X=X, y=y, pid=np.concatenate(self._pid), classes=self.classes or None,
                         source=f"{self.fmt}:{self.root}", meta=m)
