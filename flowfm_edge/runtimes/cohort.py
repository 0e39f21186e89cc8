"""Embed a whole cohort with an exported bundle, without torch: one Parquet file per recording.

``embed_files(files, bundle, out)`` reads each recording, cuts it into 10 s windows, runs the
bundle's encoder (and its classifier, where the bundle has one) in onnxruntime, and writes
``OUT/<key>.parquet`` with one row per window, ``key`` being the recording's one-to-one file key
(its name without extensions, as a readable slug plus a short hash: :mod:`flowfm_edge.data.identity`):

==============  =======================================================================
participant     the recording's participant id (the file or folder name; a window file's
                single ``pid`` when it has one)
file            the recording's path
window          the window's index in the recording, counted over every window the recording
                could hold, so a window dropped for NaN leaves a gap in the numbering
start           the window's start (UTC timestamp, ns) where the recording has clock times
r               the representation, a fixed-size list of ``r_dim`` float32
probabilities   the classifier's class probabilities (fixed-size list; classes in the
                schema metadata), where the bundle has a classifier
==============  =======================================================================

A recording is a device file (``.cwa``, ``.cwa.gz``, ``.gt3x``, ``.bin``, read through actipy:
the ``[devices]`` extra), a Sensor Logger export (folder or ``.zip``; clock times kept for both)
or an ``.npz`` window file (no clock times). A finished file is written to a temporary name and renamed,
so a file already in ``OUT`` is done and skipped: re-running after an interruption does
only what is left. Before anything is written every output is checked: two recordings of one
name (``siteA/P01.zip``, ``siteB/P01.zip``) are refused naming both, and a file already in ``OUT``
counts as done only when it opens as Parquet and was written from the same recording with the
same bundle, precision and hop; one from another recording or bundle is refused naming both, a
damaged one is embedded again (``replaced``). Windows dropped for NaN are counted
(``dropped_nan``). ``part=(i, n)`` takes every n-th recording from the i-th (1-based, over
the sorted list), so n jobs of a SLURM array (``--part $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``)
or any scheduler split a cohort without talking to each other. The ``[cohort]`` extra
brings pyarrow.

>>> embed_files(["p01.zip", "p02.zip"], "bundles/tiny", "emb")  # doctest: +SKIP
{'written': 2, 'skipped': 0, 'windows': 1234, ...}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..data.contract import DataError
from ..data.identity import file_key, refuse_duplicates

BATCH = 256


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("embedding a cohort to Parquet needs pyarrow: pip install 'flowfm-edge[cohort]'") from None
    return pa, pq


def parse_part(part: str) -> tuple[int, int]:
    """``"i/n"`` (1-based) -> (i, n); a clear error otherwise."""
    try:
        i, n = (int(v) for v in part.split("/"))
    except ValueError:
        raise ValueError(f"--part must look like i/n (e.g. 3/8), got {part!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"--part {part}: i must lie in 1..n")
    return i, n


class RecordingWindows(NamedTuple):
    """One recording cut into windows: X (N, 3, 300) float32 in g, start ns (N,) or None, window numbers (N,)."""

    participant: str
    X: np.ndarray
    start: np.ndarray | None
    window: np.ndarray
    dropped_nan: int


def recording_windows(path: str | Path, hop_s: float = 10.0) -> RecordingWindows:
    """The windows of one recording (see :class:`RecordingWindows`); windows holding NaN are dropped and counted."""
    from ..data.readers import devices, sensor_logger
    from ..data.windowing import window_stream

    path = Path(path)
    if sensor_logger.is_recording(path) or devices.is_device_file(path):
        if devices.is_device_file(path):
            runs, rate = devices.device_runs(path)[0], 30.0
        else:
            runs, rate = sensor_logger.recording_runs(path)[0], sensor_logger.RATE_HZ
        win, hop = int(round(10 * rate)), max(1, int(round(hop_s * rate)))
        X, start, number, dropped, offset = [], [], [], 0, 0
        for t0, acc in runs:  # acc (T, 3) in g at ``rate``
            w = window_stream(acc, rate, None, hop_s, where=str(path))
            X.append(w.X)
            start.append(t0 + np.round(w.start / rate * 1e9).astype(np.int64))
            number.append(offset + w.start // hop)
            dropped += w.dropped_nan
            offset += (len(acc) - win) // hop + 1 if len(acc) >= win else 0
        if not X:
            return RecordingWindows(recording_name(path), np.zeros((0, 3, 300), np.float32), np.zeros(0, np.int64),
                                    np.zeros(0, np.int64), dropped)
        return RecordingWindows(recording_name(path), np.concatenate(X), np.concatenate(start),
                                np.concatenate(number).astype(np.int64), dropped)
    if path.suffix.lower() == ".npz":
        from ..data.npz import load_npz

        ws = load_npz(path)
        pids = np.unique(np.asarray(ws.pid).astype(str))
        return RecordingWindows(pids[0] if len(pids) == 1 else path.stem, ws.X, None, np.arange(len(ws.X)), 0)
    raise DataError(f"{path}: not a recording flowfm-edge can read: expected a device file (.cwa, .cwa.gz, .gt3x, "
                    ".bin), a Sensor Logger export (folder or .zip) or an .npz window file")


def _table(rec: RecordingWindows, file: str, r: np.ndarray, probs: np.ndarray | None, meta: dict):
    pa, _ = _pyarrow()
    n, start = len(r), rec.start
    columns = {
        "participant": pa.array([rec.participant] * n, pa.string()),
        "file": pa.array([file] * n, pa.string()),
        "window": pa.array(np.asarray(rec.window, dtype=np.int64)),
        "start": pa.array(start if start is not None else [None] * n, pa.timestamp("ns", tz="UTC")),
        "r": pa.FixedSizeListArray.from_arrays(pa.array(r.astype(np.float32).ravel()), r.shape[1]),
    }
    if probs is not None:
        columns["probabilities"] = pa.FixedSizeListArray.from_arrays(pa.array(probs.astype(np.float32).ravel()),
                                                                     probs.shape[1])
    table = pa.table(columns)
    return table.replace_schema_metadata({"flowfm_edge": json.dumps(meta)})


def recording_name(path: str | Path) -> str:
    """A recording's name: its file or folder name without the recording's extensions."""
    from ..data.identity import strip_suffix
    from ..data.readers.devices import SUFFIXES

    return strip_suffix(Path(path).name, SUFFIXES + (".zip", ".npz"))


def output_name(path: str | Path) -> str:
    """``<file key of the recording's name>.parquet``: one-to-one, safe on any filesystem."""
    return file_key(recording_name(path)) + ".parquet"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _done(target: Path, f: str, meta: dict, same: tuple[str, ...]) -> bool:
    """Whether ``target`` is this recording's finished output; a DataError when it belongs to another."""
    _, pq = _pyarrow()
    if not target.is_file():
        return False
    try:
        raw = (pq.read_schema(target).metadata or {}).get(b"flowfm_edge")
        old = json.loads(raw) if raw else {}
    except (OSError, ValueError, UnicodeDecodeError):  # pyarrow's ArrowInvalid is a ValueError: a damaged file
        return False
    if not isinstance(old, dict) or old.get("recording") != meta["recording"]:
        raise DataError(f"{target}: holds the embeddings of {old.get('recording') if isinstance(old, dict) else '?'}, "
                        f"not of {f}; same-named recordings are never merged: pass another --out")
    if any(old.get(k) != meta[k] for k in same):
        was = ", ".join(f"{k} {old.get(k)!r}" for k in same if old.get(k) != meta[k])
        raise DataError(f"{target}: embedded with {was}; this run uses "
                        f"{', '.join(f'{k} {meta[k]!r}' for k in same if old.get(k) != meta[k])}: pass another --out")
    return True


def embed_files(files: list[str | Path], bundle: str | Path, out: str | Path, part: tuple[int, int] = (1, 1),
                precision: str = "int8", threads: int | None = None, hop_s: float = 10.0, runtime=None,
                progress=None) -> dict:
    """Write ``OUT/<key>.parquet`` for this part's share of ``files``; returns counts (see the module docstring)."""
    from . import load

    _, pq = _pyarrow()
    i, n = part
    every = sorted(str(f) for f in files)
    refuse_duplicates({Path(f): recording_name(f) for f in every}, "embed-files")
    files = every[i - 1::n]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: --out exists and is not a directory")
    rt = runtime or load(bundle, backend="onnxruntime", precision=precision, threads=threads)
    classifier = "classifier" in rt.manifest["graphs"]
    model = hashlib.sha256(json.dumps(rt.manifest, sort_keys=True, default=str).encode()).hexdigest()[:16]
    meta = {"bundle": str(bundle), "bundle_manifest_sha256": model, "precision": rt.precision, "r_dim": rt.r_dim,
            "hop_s": hop_s, "classes": rt.classes if classifier else None}
    same = ("bundle_manifest_sha256", "precision", "hop_s")
    todo = {}
    for f in files:  # every output checked before the first is written
        target, own = out / output_name(f), {**meta, "recording": str(Path(f).resolve())}
        todo[f] = (target, own, _done(target, f, own, same))
    out.mkdir(parents=True, exist_ok=True)
    counts = {"written": 0, "skipped": 0, "replaced": 0, "empty": 0, "windows": 0, "dropped_nan": 0,
              "files": len(files), "part": f"{i}/{n}"}
    for k, (f, (target, own, done)) in enumerate(todo.items(), 1):
        if done:
            counts["skipped"] += 1
        else:
            counts["replaced"] += int(target.exists())  # a damaged output, embedded again
            rec = recording_windows(f, hop_s)
            X = rec.X
            r = np.concatenate([rt.embed(X[j:j + BATCH]) for j in range(0, len(X), BATCH)]) if len(X) else \
                np.zeros((0, rt.r_dim), np.float32)
            probs = None
            if classifier:
                probs = np.concatenate([softmax(rt.classify(X[j:j + BATCH])) for j in range(0, len(X), BATCH)]) \
                    if len(X) else np.zeros((0, len(rt.classes)), np.float32)
            tmp = target.with_suffix(".parquet.tmp")
            pq.write_table(_table(rec, f, r, probs, {**own, "dropped_nan": rec.dropped_nan}), tmp)
            tmp.replace(target)
            counts["written"] += 1
            counts["empty"] += int(len(X) == 0)
            counts["windows"] += len(X)
            counts["dropped_nan"] += rec.dropped_nan
        if progress is not None:
            progress(k, len(files), f)
    return counts


class RecordingEmbedder:
    """A Ray Data ``map_batches`` class holding one onnxruntime session: recording paths in, one row per window out.

    Ray builds one instance per actor and feeds it batches of a ``path`` column; the rows it
    returns are the columns of :func:`embed_files`' Parquet files (``start`` as int64 ns since
    the epoch, -1 where the recording has no clock times)::

        import ray
        from flowfm_edge.runtimes.cohort import RecordingEmbedder

        ds = ray.data.from_items([{"path": str(p)} for p in files])
        rows = ds.map_batches(RecordingEmbedder, fn_constructor_kwargs={"bundle": "bundles/tiny"},
                              batch_size=1, concurrency=8)   # 8 actors, one session each
        rows.write_parquet("s3://bucket/embeddings/")          # or any path Ray can write
    """

    def __init__(self, bundle: str, precision: str = "int8", threads: int = 1, hop_s: float = 10.0):
        from . import load

        self.rt = load(bundle, backend="onnxruntime", precision=precision, threads=threads)
        self.hop_s = hop_s
        self.classifier = "classifier" in self.rt.manifest["graphs"]

    def __call__(self, batch: dict) -> dict[str, np.ndarray]:
        cols: dict[str, list] = {"participant": [], "file": [], "window": [], "start": [], "r": [], "probabilities": []}
        for path in batch["path"]:
            rec = recording_windows(str(path), self.hop_s)
            X, start, n = rec.X, rec.start, len(rec.X)
            cols["participant"] += [rec.participant] * n
            cols["file"] += [str(path)] * n
            cols["window"].append(np.asarray(rec.window, dtype=np.int64))
            cols["start"].append(start if start is not None else np.full(n, -1, np.int64))
            cols["r"].append(self.rt.embed(X) if n else np.zeros((0, self.rt.r_dim), np.float32))
            if self.classifier:
                cols["probabilities"].append(softmax(self.rt.classify(X)) if n else
                                             np.zeros((0, len(self.rt.classes)), np.float32))
        out = {"participant": np.array(cols["participant"], dtype=object), "file": np.array(cols["file"], dtype=object),
               "window": np.concatenate(cols["window"]), "start": np.concatenate(cols["start"]),
               "r": np.concatenate(cols["r"]).astype(np.float32)}
        if self.classifier:
            out["probabilities"] = np.concatenate(cols["probabilities"]).astype(np.float32)
        return out
