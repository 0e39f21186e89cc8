"""An out-of-core shard store: one memory-mappable ``.npy`` window file per participant plus an index.

Layout of a store directory::

    index.json           version, window contract, and per participant: file, windows, source,
                         native rate, non-wear fraction (where the source knows it), sha256
    shards/<pid>.npy     float32 (n, 3, 300) windows of one participant, in g at 30 Hz
    progress.jsonl       participants finished so far (while writing; resumes an interrupted run)

``write_store`` converts sources (any ``load_source`` spec, or ``FORMAT:DIR`` for a raw
dataset reader) participant by participant, several source files in parallel
(``workers``); every shard is written to a temporary name, fsynced and renamed, then
recorded in ``progress.jsonl``, so an interrupted conversion continues where it stopped and
never keeps half a shard. Windows holding NaN or Inf are refused when written, so reading
needs no scan.

``load_store`` gives a :class:`~flowfm_edge.data.contract.WindowSet` whose ``X`` is a
:class:`StoreWindows`: it reads the windows a batch asks for through memory maps (a small
LRU of open maps, so the resident memory does not grow with the corpus) and never loads the
store whole. ``train --data STORE`` uses it with the same batch plan as in-memory data.

>>> index = write_store(["runs/a.npz", "capture24:~/data/capture24"], "stores/c24")  # doctest: +SKIP
>>> ws = load_store("stores/c24"); ws.X[[0, 5]].shape                              # doctest: +SKIP
(2, 3, 300)
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from .contract import CHANNELS, RATE_HZ, WINDOW_LEN, DataError, WindowSet

STORE_VERSION = 1
INDEX, PROGRESS, SHARDS = "index.json", "progress.jsonl", "shards"
OPEN_MAPS = 32  # memory maps kept open at once; each closed map leaves the resident set


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shard_name(pid: str) -> str:
    """A file name for participant ``pid``: unsafe characters escaped, so distinct ids never collide."""
    return re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"%{ord(m.group()):02X}", str(pid)) + ".npy"


def _load(spec: str):
    """The windows of one source: a ``load_source`` spec, or ``FORMAT:DIR`` for a raw dataset reader."""
    from .readers import FORMATS, convert
    from .sources import load_source

    fmt, _, rest = spec.partition(":")
    if rest and fmt in FORMATS:
        return convert(fmt, rest)
    return load_source(spec, split="pretrain")


def _write_shard(root: Path, pid: str, X: np.ndarray, source: str, nonwear: float | None) -> dict:
    X = np.ascontiguousarray(X, dtype=np.float32)
    bad = ~np.isfinite(X).all(axis=(1, 2))
    if bad.any():
        raise DataError(f"{source}: participant {pid!r} has {int(bad.sum())} window(s) with NaN or Inf "
                        f"(first at {np.flatnonzero(bad)[:5].tolist()}); repair or drop them before sharding")
    final = root / SHARDS / shard_name(pid)
    tmp = final.with_suffix(".tmp.npy")
    with open(tmp, "wb") as f:
        np.save(f, X)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(final)
    return {"pid": str(pid), "file": f"{SHARDS}/{final.name}", "windows": len(X), "source": source,
            "rate_hz": RATE_HZ, "nonwear_fraction": nonwear, "sha256": _sha256(final)}


def _convert(root: str, spec: str, done: list[str]) -> list[dict]:
    """Shard one source (a worker's job): one record per participant not already ``done``."""
    ws = _load(spec)
    nonwear = ws.meta.get("nonwear_fraction")
    records, pids = [], np.asarray(ws.pid).astype(str)
    for pid in dict.fromkeys(pids.tolist()):
        if pid in done:
            continue
        rows = pids == pid
        frac = nonwear.get(pid) if isinstance(nonwear, dict) else nonwear
        records.append(_write_shard(Path(root), pid, ws.X[rows], spec, frac))
    return records


def _progress(root: Path) -> list[dict]:
    path = root / PROGRESS
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by an interruption: its shard is converted again
            continue
    return [r for r in records if (root / r["file"]).is_file()]


def write_store(sources: list[str], out: str | Path, workers: int = 1, progress=None) -> dict:
    """Convert ``sources`` into the store at ``out`` (resuming an interrupted conversion); returns the index.

    ``progress(done, total, spec)`` is called after each source. Two sources holding the same
    participant id are refused (ids must be unique across a store).
    """
    root = Path(out)
    (root / SHARDS).mkdir(parents=True, exist_ok=True)
    if (root / INDEX).is_file() and not (root / PROGRESS).is_file():
        index = read_index(root)
        if index["sources"] == list(sources):
            return index
        raise DataError(f"{root}: already a finished store of other sources ({index['sources']}); "
                        "pass a new --out")
    records = {r["pid"]: r for r in _progress(root)}
    done_sources = {r["source"] for r in records.values()}
    todo = [s for s in sources if s not in done_sources]
    log_path = root / PROGRESS
    if log_path.is_file() and log_path.stat().st_size and not log_path.read_bytes().endswith(b"\n"):
        with open(log_path, "a") as log:  # end the line an interruption cut, so the next record starts clean
            log.write("\n")
    with open(log_path, "a") as log, ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = {pool.submit(_convert, str(root), s, [p for p, r in records.items() if r["source"] == s]): s
                for s in todo}
        for n, job in enumerate(as_completed(jobs), 1):
            for rec in job.result():
                if rec["pid"] in records and records[rec["pid"]]["source"] != rec["source"]:
                    raise DataError(f"participant {rec['pid']!r} appears in {records[rec['pid']]['source']} and "
                                    f"{rec['source']}; participant ids must be unique across a store")
                records[rec["pid"]] = rec
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if progress is not None:
                progress(n, len(todo), jobs[job])
    ordered = sorted(records.values(), key=lambda r: (sources.index(r["source"]), r["pid"]))
    index = {"version": STORE_VERSION, "window": {"channels": list(CHANNELS), "length": WINDOW_LEN,
                                                  "rate_hz": RATE_HZ, "units": "g", "dtype": "float32"},
             "sources": list(sources), "participants": ordered,
             "windows": int(sum(r["windows"] for r in ordered))}
    tmp = root / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=1))
    tmp.replace(root / INDEX)
    (root / PROGRESS).unlink()
    return index


def read_index(root: str | Path) -> dict:
    path = Path(root) / INDEX
    if not path.is_file():
        hint = " (conversion unfinished: run `flowfm-edge data shard` again to resume)" \
            if (Path(root) / PROGRESS).is_file() else ""
        raise DataError(f"{root}: not a shard store ({INDEX} is missing){hint}")
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if index.get("version") != STORE_VERSION:
        raise DataError(f"{path}: field 'version' is {index.get('version')!r}; this flowfm-edge reads version "
                        f"{STORE_VERSION}")
    for i, rec in enumerate(index.get("participants", [])):
        missing = [k for k in ("pid", "file", "windows", "sha256") if k not in rec]
        if missing:
            raise DataError(f"{path}: field 'participants[{i}]' lacks {missing}")
    return index


def _release(m: np.ndarray) -> None:
    """Drop a map's pages from this process's resident set (they stay in the page cache for the next read).

    Without it, the kernel's fault-around and read-ahead leave most of every open shard mapped
    in: with 32 maps of 100 MB shards, a 20 GB store held 2.4 GB of file pages resident.
    """
    mm = getattr(m, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED)


class StoreWindows:
    """A read-only ``(N, 3, 300)`` float32 view of a store's shards, read through memory maps on demand.

    ``X[idx]`` (integer array, list, slice or int) gathers rows shard by shard; ``np.asarray(X)``
    loads everything (for small stores only). Windows were checked finite when written.
    """

    checked_finite = True
    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, root: Path, records: list[dict]):
        self.root, self.records = root, records
        counts = np.array([r["windows"] for r in records], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.shape = (int(self.offsets[-1]), len(CHANNELS), WINDOW_LEN)
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self.shape[0]

    def _map(self, k: int) -> np.ndarray:
        if k in self._maps:
            self._maps.move_to_end(k)
            return self._maps[k]
        path = self.root / self.records[k]["file"]
        try:
            m = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot be read as a shard ({exc})") from None
        if m.shape != (self.records[k]["windows"], len(CHANNELS), WINDOW_LEN) or m.dtype != np.float32:
            raise DataError(f"{path}: shape {m.shape} {m.dtype}; the index says "
                            f"({self.records[k]['windows']}, 3, {WINDOW_LEN}) float32")
        self._maps[k] = m
        if len(self._maps) > OPEN_MAPS:
            self._maps.popitem(last=False)  # unmapped: its pages leave the resident set
        return m

    def __getitem__(self, idx) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self[np.array([idx])][0]
        rows = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"window index out of range for a store of {len(self)} windows")
        rows = rows % max(1, len(self))
        out = np.empty((len(rows), len(CHANNELS), WINDOW_LEN), np.float32)
        shard = np.searchsorted(self.offsets, rows, side="right") - 1  # (n,)
        for k in np.unique(shard):
            at = np.flatnonzero(shard == k)
            m = self._map(int(k))
            out[at] = m[rows[at] - self.offsets[k]]
            _release(m)
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        X = self[slice(None)]
        return X if dtype is None else X.astype(dtype)

    def chunks(self, size: int = 4096):
        """(start, windows) over the store in order, ``size`` windows at a time.

        A full pass opens each shard once and drops its map before the next, so it does not
        leave the whole store resident (the LRU is for random batches).
        """
        for k in range(len(self.records)):
            lo = int(self.offsets[k])
            m = np.load(self.root / self.records[k]["file"], mmap_mode="r")
            for a in range(0, len(m), size):
                yield lo + a, np.array(m[a:a + size])
            del m

    def content_hash(self) -> str:
        """A hash of the store's contents: the shards' sha256 in order (16 hex digits, like data_hash)."""
        h = hashlib.sha256("".join(r["sha256"] for r in self.records).encode())
        return h.hexdigest()[:16]


def load_store(root: str | Path, verify: bool = False) -> WindowSet:
    """The store at ``root`` as an unlabelled WindowSet over memory maps; ``verify`` checks every sha256."""
    root = Path(root)
    index = read_index(root)
    records = index["participants"]
    for rec in records:
        path = root / rec["file"]
        if not path.is_file():
            raise DataError(f"{root}: shard {rec['file']} of participant {rec['pid']!r} is missing")
        if verify and _sha256(path) != rec["sha256"]:
            raise DataError(f"{path}: sha256 differs from the index; the shard was modified or damaged")
    if not records:
        raise DataError(f"{root}: the store holds no participants")
    X = StoreWindows(root, records)
    pid = np.repeat(np.array([r["pid"] for r in records]), [r["windows"] for r in records])
    return WindowSet(X=X, y=None, pid=pid, source=f"store:{root}",
                     meta={"store": str(root), "participants": len(records), "windows": len(X)})


def is_store(path: str | Path) -> bool:
    return (Path(path) / INDEX).is_file() or (Path(path) / PROGRESS).is_file()
