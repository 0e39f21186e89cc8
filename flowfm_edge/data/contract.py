"""The window contract every part of flowfm-edge speaks (docs/design.md#data-contract).

A window is float32 ``(3, 300)``: x, y, z acceleration in g with gravity kept, sampled at
30 Hz for 10 s, channels first. A :class:`WindowSet` is a stack of windows with their
labels and subject ids, which every splitter keeps aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RATE_HZ = 30
WINDOW_S = 10
WINDOW_LEN = RATE_HZ * WINDOW_S  # 300 samples
CHANNELS = ("x", "y", "z")
UNITS = "g"


class DataError(ValueError):
    """Bad input data: the message names the file (or source), the field and the problem."""


@dataclass
class WindowSet:
    """Windows ``X`` (N, 3, 300) float32 in g, labels ``y`` (N,) or None, subjects ``pid`` (N,).

    ``classes`` lists the label names when ``y`` holds integer codes (``y[i]`` indexes
    ``classes``); it is None when labels are absent.
    ``source`` names where the windows came from, for error messages and manifests.
    """

    X: np.ndarray
    y: np.ndarray | None
    pid: np.ndarray
    classes: list[str] | None = None
    source: str = "<memory>"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_windows(self.X, self.source)
        n = len(self.X)
        if self.pid is None or len(self.pid) != n:
            got = "missing" if self.pid is None else f"length {len(self.pid)}"
            raise DataError(f"{self.source}: field 'pid' is {got}; expected one subject id per window ({n})")
        if self.y is not None and len(self.y) != n:
            raise DataError(f"{self.source}: field 'y' has length {len(self.y)}; expected {n} (one per window)")

    def __len__(self) -> int:
        return len(self.X)

    @property
    def labelled(self) -> bool:
        return self.y is not None

    @property
    def n_classes(self) -> int:
        if self.classes is not None:
            return len(self.classes)
        return 0 if self.y is None else int(np.max(self.y)) + 1

    def subset(self, index: np.ndarray) -> "WindowSet":
        """The windows at ``index`` (bool mask or integer indices), labels and subjects kept aligned."""
        return WindowSet(
            X=self.X[index],
            y=None if self.y is None else self.y[index],
            pid=self.pid[index],
            classes=self.classes,
            source=self.source,
            meta=dict(self.meta),
        )

    def one_per_class(self, n: int = 4, seed: int = 0) -> "WindowSet":
        """Up to ``n`` windows of distinct classes, taken in class order from classes spread across the list
        (HAPT: walking, upstairs, downstairs... then still), one random window of each; unlabelled sets give ``n``
        random windows."""
        rng = np.random.default_rng(seed)
        if self.y is None:
            return self.subset(np.sort(rng.choice(len(self), size=min(n, len(self)), replace=False)))
        present = [int(c) for c in np.unique(self.y)]
        spread = [present[int(i)] for i in np.unique(np.linspace(0, len(present) - 1, min(n, len(present))).round())]
        return self.subset(np.array([rng.choice(np.flatnonzero(self.y == c)) for c in spread], dtype=int))


def validate_windows(X: np.ndarray, where: str = "<memory>") -> None:
    """Raise :class:`DataError` unless ``X`` is a finite float array of shape (N, 3, 300)."""
    lazy = getattr(X, "checked_finite", False)  # a shard store's view: checked when it was written
    if not isinstance(X, np.ndarray) and not lazy:
        raise DataError(f"{where}: field 'X' must be a numpy array, got {type(X).__name__}")
    if X.ndim != 3 or X.shape[1:] != (len(CHANNELS), WINDOW_LEN):
        raise DataError(
            f"{where}: field 'X' has shape {X.shape}; expected (N, 3, {WINDOW_LEN}) "
            f"(x/y/z in g, {RATE_HZ} Hz, {WINDOW_S} s, channels first)"
        )
    if len(X) == 0:
        raise DataError(f"{where}: field 'X' holds no windows")
    if not np.issubdtype(X.dtype, np.floating):
        raise DataError(f"{where}: field 'X' has dtype {X.dtype}; expected float32 acceleration in g")
    if lazy:
        return
    bad = ~np.isfinite(X).all(axis=(1, 2))
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        raise DataError(
            f"{where}: field 'X' has {int(bad.sum())} window(s) with NaN or inf (first at index {first}); "
            "drop or repair them before use (see flowfm_edge.data.drop_nonfinite)"
        )


def drop_nonfinite(ws_X: np.ndarray, *arrays: np.ndarray | None) -> tuple[np.ndarray, list, int]:
    """Drop windows holding NaN/inf; return (X, aligned arrays, number dropped). The documented repair."""
    keep = np.isfinite(ws_X).all(axis=tuple(range(1, ws_X.ndim)))
    kept = [None if a is None else a[keep] for a in arrays]
    return ws_X[keep], kept, int((~keep).sum())
