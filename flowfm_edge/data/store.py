"""An out-of-core shard store: one memory-mappable ``.npy`` window file per participant plus an index.

Layout of a store directory::

    index.json           the typed index (:mod:`.store_index`): version, window contract, sources, and per
                         participant: id, file, windows, source, native rate, non-wear fraction (where the
                         source knows it), sha256 and a sampled sha256; a digest over all of it
    shards/<key>.npy     float32 (n, 3, 300) windows of one participant, in g at 30 Hz; ``key`` is the
                         participant id's one-to-one file key (:mod:`.identity`)
    progress.jsonl       while writing: the sources asked for, then one line per finished source
    .staging/            while writing: shards of sources not yet checked and committed

``write_store`` (:mod:`.store_write`, the writer, apart from this reader) converts sources (any ``load_source`` spec, a store among them, or ``FORMAT:DIR``
for a raw dataset reader), several in parallel (``workers``; the workers die with the process
that started them). A worker writes its source's shards into ``.staging/``; the parent then
refuses a participant id that another source already holds, naming both sources, before a
finished shard is touched, renames the staged shards into ``shards/`` and records the source
in ``progress.jsonl``, so an interrupted conversion resumes with the sources not yet recorded and
ends with the same index and shards as an uninterrupted one. Windows holding NaN or Inf are
refused when written. A lock file keeps a second conversion out of the same store.

``load_store`` checks the index and every shard (``verify="quick"`` or ``"full"``, see
:mod:`.store_index`) and gives a :class:`~flowfm_edge.data.contract.WindowSet` whose ``X`` is a
:class:`StoreWindows`: it reads the windows a batch asks for through memory maps (a small LRU of
open maps, so the resident memory does not grow with the corpus), checks them finite, and never
loads the store whole. ``train --data STORE`` uses it with the same batch plan as in-memory data.

>>> from flowfm_edge.data.store_write import write_store
>>> index = write_store(["runs/a.npz", "capture24:~/data/capture24"], "stores/c24")  # doctest: +SKIP
>>> ws = load_store("stores/c24"); ws.X[[0, 5]].shape                              # doctest: +SKIP
(2, 3, 300)
"""

from __future__ import annotations

import hashlib
import mmap
from collections import OrderedDict
from pathlib import Path
from tokenize import TokenError

import numpy as np

from .contract import CHANNELS, WINDOW_LEN, DataError, WindowSet
from .store_index import VERIFY, check_shard, is_store, read_index, shard_name

OPEN_MAPS = 32  # memory maps kept open at once; each closed map leaves the resident set

__all__ = ["StoreWindows", "is_store", "load_store", "read_index", "shard_name"]


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

    ``X[idx]`` (integer array, list, boolean mask, slice or int) gathers rows shard by shard and
    refuses a window holding NaN or Inf, naming its shard; ``np.asarray(X)`` loads everything (for
    small stores only).
    """

    checked_finite = True  # every read checks the rows it returns
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

    def _open(self, k: int) -> np.ndarray:
        path = self.root / self.records[k]["file"]
        try:
            m = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, SyntaxError, TokenError) as exc:  # numpy tokenizes the header's dict
            raise DataError(f"{path}: cannot be read as a shard ({type(exc).__name__}: {exc})") from None
        if m.shape != (self.records[k]["windows"], len(CHANNELS), WINDOW_LEN) or m.dtype != np.float32:
            raise DataError(f"{path}: shape {m.shape} {m.dtype}; the index says "
                            f"({self.records[k]['windows']}, 3, {WINDOW_LEN}) float32")
        return m

    def _map(self, k: int) -> np.ndarray:
        if k in self._maps:
            self._maps.move_to_end(k)
            return self._maps[k]
        self._maps[k] = m = self._open(k)
        if len(self._maps) > OPEN_MAPS:
            self._maps.popitem(last=False)  # unmapped: its pages leave the resident set
        return m

    def _nonfinite(self, k: int, window: int) -> DataError:
        return DataError(f"{self.root / self.records[k]['file']}: window {window} of participant "
                         f"{self.records[k]['pid']!r} holds NaN or Inf; the shard was damaged after it was written")

    def _finite(self, X: np.ndarray, k: int, local: np.ndarray) -> np.ndarray:
        """``X`` (n, 3, 300), shard ``k``'s windows ``local`` (n,); a DataError naming the first that is not finite."""
        finite = np.isfinite(X).all(axis=(1, 2))
        if not finite.all():
            raise self._nonfinite(k, int(local[np.flatnonzero(~finite)[0]]))
        return X

    def _rows(self, idx) -> np.ndarray:
        if isinstance(idx, slice):
            return np.arange(len(self))[idx]
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean index of shape {idx.shape} for a store of {len(self)} windows")
            return np.flatnonzero(idx)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"window indices must be integers or a boolean mask, got {idx.dtype}")
        return idx.astype(np.int64).reshape(-1)

    def __getitem__(self, idx) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self[np.array([idx])][0]
        rows = self._rows(idx)
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"window index out of range for a store of {len(self)} windows")
        rows = rows % max(1, len(self))
        out = np.empty((len(rows), len(CHANNELS), WINDOW_LEN), np.float32)
        shard = np.searchsorted(self.offsets, rows, side="right") - 1  # (n,)
        for k in np.unique(shard):
            at = np.flatnonzero(shard == k)
            m = self._map(int(k))
            local = rows[at] - self.offsets[k]
            out[at] = self._finite(m[local], int(k), local)
            _release(m)
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        X = self[slice(None)]
        return X if dtype is None else X.astype(dtype)

    def chunks(self, size: int = 4096):
        """(start, windows) over the store in order, ``size`` windows at a time, each checked finite.

        A full pass opens each shard once and drops its map before the next, so it does not
        leave the whole store resident (the LRU is for random batches).
        """
        for k in range(len(self.records)):
            lo = int(self.offsets[k])
            m = self._open(k)
            for a in range(0, len(m), size):
                yield lo + a, self._finite(np.array(m[a:a + size]), k, np.arange(a, min(a + size, len(m))))
            del m

    def content_hash(self) -> str:
        """A hash of the store's contents: the shards' sha256 in order (16 hex digits, like data_hash)."""
        h = hashlib.sha256("".join(r["sha256"] for r in self.records).encode())
        return h.hexdigest()[:16]


def load_store(root: str | Path, verify: str | bool = "quick") -> WindowSet:
    """The store at ``root`` as an unlabelled WindowSet over memory maps, after the checks of ``verify``.

    ``verify``: "quick" (index, and every shard's place, size, header and sampled sha256) or
    "full" (also every byte's sha256 and every window finite); True means "full".
    """
    verify = {True: "full", False: "quick"}.get(verify, verify)
    if verify not in VERIFY:
        raise DataError(f"verify must be one of {', '.join(VERIFY)}, got {verify!r}")
    root = Path(root)
    index = read_index(root)
    for rec in index.participants:
        check_shard(root, rec, verify)
    records = [rec.model_dump() for rec in index.participants]
    X = StoreWindows(root, records)
    pid = np.repeat(np.array([r["pid"] for r in records]), [r["windows"] for r in records])
    nonwear = {r["pid"]: r["nonwear_fraction"] for r in records if r["nonwear_fraction"] is not None}
    return WindowSet(X=X, y=None, pid=pid, source=f"store:{root}",
                     meta={"store": str(root), "participants": len(records), "windows": len(X),
                           "verify": verify, **({"nonwear_fraction": nonwear} if nonwear else {})})
