"""Window files on disk: the ``.npz`` format and the SSL-Wearables processed layout (docs/design.md#data-contract).

``.npz`` holds ``X`` (N, 3, 300) float32 in g, ``y`` (N,) int or str labels (absent for
unlabelled data), ``pid`` (N,) subject ids and optionally ``classes`` (label names).
String labels become integer codes into ``classes``, sorted unless the file names them.

The SSL-Wearables layout is a directory with ``X.npy`` (N, T, 3) channels last at the
native rate, ``Y.npy`` (N,) labels and ``pid.npy`` (N,); windows are resampled to 300.

Every problem raises :class:`DataError` naming the file, the field and what is wrong.
Windows holding NaN/inf are refused unless ``drop_nan=True``, the documented repair that
drops them and records how many in ``ws.meta['dropped_nonfinite']``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .contract import CHANNELS, DataError, WINDOW_LEN, WINDOW_S, WindowSet, drop_nonfinite
from .resample import resample_windows

SSL_FILES = ("X.npy", "Y.npy", "pid.npy")


def load_npz(path: str | Path, *, drop_nan: bool = False) -> WindowSet:
    """Read a window file: ``X`` (N, 3, 300) in g, ``y`` (N,) or absent, ``pid`` (N,), ``classes``."""
    path = Path(path)
    fields = _read_npz(path)
    where = str(path)
    if "X" not in fields:
        raise DataError(f"{where}: field 'X' is missing (fields present: {sorted(fields) or 'none'}); "
                        f"expected windows of shape (N, 3, {WINDOW_LEN})")
    X = fields["X"]
    if X.ndim == 3 and X.shape[1:] == (WINDOW_LEN, len(CHANNELS)):
        raise DataError(f"{where}: field 'X' has shape {X.shape}, channels last; expected (N, 3, {WINDOW_LEN}) "
                        "channels first: save X.transpose(0, 2, 1)")
    classes = fields.get("classes")
    return _assemble(X, fields.get("y"), fields.get("pid"), classes, where, drop_nan)


def save_npz(path: str | Path, ws: WindowSet) -> Path:
    """Write ``ws`` to ``path`` exactly (no suffix is added): X float32, y, pid, classes when known."""
    path = Path(path)
    arrays = {"X": np.asarray(ws.X, dtype=np.float32), "pid": _plain(ws.pid)}
    if ws.y is not None:
        arrays["y"] = _plain(ws.y)
    if ws.classes is not None:
        arrays["classes"] = np.asarray([str(c) for c in ws.classes])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_ssl_dir(path: str | Path, rate: float, *, drop_nan: bool = False, method: str = "poly") -> WindowSet:
    """Read an SSL-Wearables directory: ``X.npy`` (N, T, 3) at ``rate`` Hz -> windows (N, 3, 300).

    ``Y.npy`` (labels) and ``pid.npy`` (subjects) sit beside it; ``T / rate`` must be 10 s.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: not a directory; expected an SSL-Wearables folder with {', '.join(SSL_FILES)}")
    if rate is None or not rate > 0:
        raise DataError(f"{path}: SSL-Wearables windows need their native sample rate (--rate), got {rate}")
    X = _read_npy(path / "X.npy", required=True)
    y = _read_npy(path / "Y.npy")
    pid = _read_npy(path / "pid.npy")
    where = str(path / "X.npy")
    if X.ndim != 3 or X.shape[2] != len(CHANNELS):
        raise DataError(f"{where}: field 'X' has shape {X.shape}; expected (N, T, 3) channels last")
    if len(X) == 0:
        raise DataError(f"{where}: field 'X' holds no windows")
    T = X.shape[1]
    if abs(T / rate - WINDOW_S) > 0.02 * WINDOW_S:
        raise DataError(f"{where}: windows of {T} samples at {rate:g} Hz last {T / rate:.2f} s; expected "
                        f"{WINDOW_S} s: check --rate (about {T / WINDOW_S:g} Hz for these windows)")
    finite = np.isfinite(X).all(axis=(1, 2))
    Xw = np.zeros((len(X), len(CHANNELS), WINDOW_LEN), np.float32)
    if finite.any():  # resample only finite windows: a NaN would smear over its neighbours' filter
        Xw[finite] = resample_windows(X[finite].transpose(0, 2, 1), WINDOW_LEN, method)  # (n, 3, 300)
    Xw[~finite] = np.nan
    ws = _assemble(Xw, y, pid, None, str(path), drop_nan)  # names the folder: fields come from three files
    ws.meta.update(rate_hz=float(rate), native_len=int(T), resample=method)
    return ws


# --- helpers -------------------------------------------------------------------------------


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; for the SSL-Wearables layout give its native rate (--rate)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); expected an .npz archive with X, y, pid")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not an .npz archive ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not an .npz archive (a single .npy array); save with np.savez(path, X=..., pid=...)")
    fields = {}
    with archive:
        for name in archive.files:
            try:
                fields[name] = archive[name]
            except ValueError as e:  # object arrays need pickle, which is never enabled
                raise DataError(f"{path}: field {name!r} is an object array ({e}); "
                                "store labels and ids as int or fixed-width str (np.asarray(a, dtype=str))") from e
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise DataError(f"{path}: field {name!r} cannot be read, the archive is damaged ({e})") from e
    if not fields:
        raise DataError(f"{path}: empty archive (no arrays); expected fields X, y, pid")
    return fields


def _read_npy(path: Path, required: bool = False) -> np.ndarray | None:
    if not path.exists():
        if required:
            raise DataError(f"{path}: file not found (SSL-Wearables layout needs {', '.join(SSL_FILES)})")
        return None
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{path}: cannot read ({e}); store labels and ids as int or fixed-width str") from e
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a .npy array ({e})") from e
    if not isinstance(a, np.ndarray):
        raise DataError(f"{path}: expected one .npy array, found an archive")
    return a


def _assemble(X, y, pid, classes, where: str, drop_nan: bool) -> WindowSet:
    """Check fields, encode labels, apply the NaN repair, and build the WindowSet."""
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1:] != (len(CHANNELS), WINDOW_LEN):
        raise DataError(f"{where}: field 'X' has shape {X.shape}; expected (N, 3, {WINDOW_LEN}) "
                        f"(x/y/z in g, 30 Hz, {WINDOW_S} s, channels first)")
    if len(X) == 0:
        raise DataError(f"{where}: field 'X' holds no windows; the file is empty")
    if not np.issubdtype(X.dtype, np.floating):
        raise DataError(f"{where}: field 'X' has dtype {X.dtype}; expected float acceleration in g")
    n = len(X)
    if y is not None and pid is None:
        raise DataError(f"{where}: labels without subjects: field 'y' is present but 'pid' is missing; "
                        "subject ids are needed to split without leaking subjects")
    meta: dict = {}
    if pid is None:
        pid = np.zeros(n, dtype=np.int64)
        meta["pid_absent"] = "no 'pid' field: every window assigned subject 0"
    for name, a in (("y", y), ("pid", pid)):
        if a is not None and (np.ndim(a) != 1 or len(a) != n):
            raise DataError(f"{where}: field {name!r} has shape {np.shape(a)}; expected ({n},), one per window")
    y, classes = _encode_labels(y, classes, where)
    bad = ~np.isfinite(X).all(axis=(1, 2))
    if bad.any():
        if not drop_nan:
            first = np.flatnonzero(bad)[:5].tolist()
            raise DataError(f"{where}: field 'X' has {int(bad.sum())} window(s) with NaN or inf "
                            f"(first at index {first}); pass drop_nan=True to drop them")
        X, (y, pid), dropped = drop_nonfinite(X, y, pid)
        meta["dropped_nonfinite"] = dropped
        if len(X) == 0:
            raise DataError(f"{where}: every window holds NaN or inf; nothing left after dropping them")
    else:
        meta["dropped_nonfinite"] = 0
    return WindowSet(X=X.astype(np.float32, copy=False), y=y, pid=np.asarray(pid), classes=classes,
                     source=where, meta=meta)


def _encode_labels(y, classes, where: str) -> tuple[np.ndarray | None, list[str] | None]:
    """String labels -> int codes into ``classes`` (sorted unless given); int labels kept."""
    names = None if classes is None else [str(c) for c in np.atleast_1d(classes)]
    if y is None:
        return None, names
    y = np.asarray(y)
    if y.dtype.kind in "US":
        y = y.astype(str)
        if names is None:
            names = sorted(set(y.tolist()))
        lookup = {c: i for i, c in enumerate(names)}
        unknown = sorted(set(y.tolist()) - set(lookup))
        if unknown:
            raise DataError(f"{where}: field 'y' holds label(s) {unknown[:5]} not in field 'classes' {names}")
        return np.array([lookup[v] for v in y.tolist()], dtype=np.int64), names
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise DataError(f"{where}: field 'y' holds non-integer numbers; expected int or str labels")
        y = y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise DataError(f"{where}: field 'y' has dtype {y.dtype}; expected int or str labels")
    y = y.astype(np.int64)
    if names is not None and len(y) and (y.min() < 0 or y.max() >= len(names)):
        raise DataError(f"{where}: field 'y' holds codes {int(y.min())}..{int(y.max())} "
                        f"outside the {len(names)} names in field 'classes'")
    return y, names


def _plain(a: np.ndarray) -> np.ndarray:
    """An array np.savez can write without pickle: object arrays become str."""
    a = np.asarray(a)
    return a.astype(str) if a.dtype == object else a
