"""Writing a shard store: sources converted in parallel, checked, then committed; resumable and exact.

A worker process loads one source and writes its participants' shards into
``STORE/.staging/<n>/``; nothing under ``shards/`` is touched before the parent has checked the
source's participant ids against every source already committed. A commit renames the staged
shards into ``shards/`` and appends one line to ``progress.jsonl`` (fsynced); a source without its
line is converted again, whole, by the next run. The index is written last, then every file in
``shards/`` it does not list is removed, so an interrupted and resumed conversion ends with the
same files, byte for byte, as an uninterrupted one. See :mod:`.store` for the layout and the reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from ..files import fsync, sha256
from .contract import RATE_HZ, DataError
from .store_index import (INDEX, PROGRESS, SHARDS, STORE_VERSION, Participant, is_store, new_index, read_index,
                          sample_sha256, shard_name)

STAGING, LOCK = ".staging", ".lock"
LOCK_WAIT_S = 3.0  # a killed conversion's workers may hold the lock for a moment while they exit


def _load(spec: str):
    """The windows of one source: a ``load_source`` spec, or ``FORMAT:DIR`` for a raw dataset reader."""
    from .readers import FORMATS, convert
    from .sources import load_source

    fmt, _, rest = spec.partition(":")
    if rest and fmt in FORMATS:
        return convert(fmt, rest)
    return load_source(spec, split="pretrain")


def _write_shard(folder: Path, pid: str, X: np.ndarray, source: str, nonwear: float | None) -> dict:
    """Write participant ``pid``'s windows ``X`` (n, 3, 300) as ``folder/<shard name>``; its index record."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    bad = ~np.isfinite(X).all(axis=(1, 2))
    if bad.any():
        raise DataError(f"{source}: participant {pid!r} has {int(bad.sum())} window(s) with NaN or Inf "
                        f"(first at {np.flatnonzero(bad)[:5].tolist()}); repair or drop them before sharding")
    if not pid:
        raise DataError(f"{source}: a participant id is empty; every window needs a non-empty pid")
    final = folder / shard_name(pid)
    tmp = final.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        np.save(f, X)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(final)
    return {"pid": pid, "file": f"{SHARDS}/{final.name}", "windows": len(X), "source": source, "rate_hz": RATE_HZ,
            "nonwear_fraction": None if nonwear is None else float(nonwear), "sha256": sha256(final),
            "sample_sha256": sample_sha256(final)}


def _stage(folder: str, spec: str) -> list[dict]:
    """Shard one source into ``folder`` (a worker's job): one record per participant, in the source's order."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ws = _load(spec)
    nonwear = ws.meta.get("nonwear_fraction")
    pids = np.asarray(ws.pid).astype(str)
    records = []
    for pid in dict.fromkeys(pids.tolist()):
        frac = nonwear.get(pid) if isinstance(nonwear, dict) else nonwear
        records.append(_write_shard(folder, pid, ws.X[pids == pid], spec, frac))
    return records


def _die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker as soon as the process that started it is gone (even by SIGKILL)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


@contextlib.contextmanager
def _locked(root: Path):
    """Hold ``root/.lock`` (flock) while writing; another conversion of the same store is refused."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        yield
        return
    with open(root / LOCK, "a") as f:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DataError(f"{root}: another `data shard` is writing this store; wait for it to end") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_out(root: Path, sources: list[str]) -> None:
    """Refuse an ``--out`` that is a file, a folder holding other things, or one of the sources."""
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: --out exists and is not a directory; pass a new directory for the store")
    ours = {LOCK, STAGING, SHARDS}  # left by a conversion cut before its progress file was written
    if root.is_dir() and not is_store(root) and any(p.name not in ours for p in root.iterdir()):
        raise DataError(f"{root}: --out is not empty and not a shard store; pass a new or empty directory")
    here = root.resolve()
    for spec in sources:
        path = Path(spec.partition(":")[2] if ":" in spec and not Path(spec).exists() else spec).expanduser()
        if path.exists() and (path.resolve() == here or here in path.resolve().parents):
            raise DataError(f"{root}: --out is the source {spec!r} (or holds it); pass another --out")


class _Progress:
    """``progress.jsonl``: a header naming the sources, then one line per committed source."""

    def __init__(self, root: Path, sources: list[str]):
        self.root, self.path, self.sources = root, root / PROGRESS, list(sources)
        self.done: dict[str, list[dict]] = {}
        if not self.path.is_file():
            self.path.write_text(json.dumps({"version": STORE_VERSION, "sources": self.sources}) + "\n")
            return
        lines = self.path.read_text(errors="replace").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if not isinstance(header, dict) or header.get("sources") != self.sources:
            raise DataError(f"{self.path}: an unfinished conversion of other sources "
                            f"({header.get('sources') if isinstance(header, dict) else '?'}); run it again with "
                            "those sources, or pass a new --out")
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                records = [Participant.model_validate(r).model_dump() for r in entry["participants"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line cut by an interruption: its source is converted again
            if entry.get("source") in self.sources and all(self._intact(r) for r in records):
                self.done[entry["source"]] = records
        with open(self.path, "rb+") as f:  # end a cut line, so the next record starts clean
            f.seek(0, os.SEEK_END)
            if f.tell() and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
                f.write(b"\n")

    def _intact(self, rec: dict) -> bool:
        path = self.root / rec["file"]
        return path.is_file() and not path.is_symlink() and sample_sha256(path) == rec["sample_sha256"]

    def commit(self, source: str, records: list[dict], staged: Path) -> None:
        """Refuse ids or files another source holds, then move the staged shards in and record the source."""
        owners = {r["pid"]: s for s, recs in self.done.items() for r in recs}
        files = {r["file"] for recs in self.done.values() for r in recs}
        for rec in records:
            if rec["pid"] in owners:
                shutil.rmtree(staged, ignore_errors=True)
                raise DataError(f"participant {rec['pid']!r} appears in {owners[rec['pid']]} and {source}; participant "
                                "ids must be unique across a store (rename one, or shard the sources apart)")
            if rec["file"] in files:
                raise DataError(f"{source}: participant {rec['pid']!r} maps to {rec['file']}, which another "
                                "participant holds; rename one of them")
        for rec in records:
            (staged / Path(rec["file"]).name).replace(self.root / rec["file"])
        fsync(self.root / SHARDS)
        with open(self.path, "a") as log:
            log.write(json.dumps({"source": source, "participants": records}) + "\n")
            log.flush()
            os.fsync(log.fileno())
        shutil.rmtree(staged, ignore_errors=True)
        self.done[source] = records


def write_store(sources: list[str], out: str | Path, workers: int = 1, progress=None) -> dict:
    """Convert ``sources`` into the store at ``out`` (resuming an interrupted conversion); returns the index.

    ``progress(done, total, spec)`` is called after each source. A participant id held by two
    sources is refused before either's shard is written over.
    """
    sources, root = [str(s) for s in sources], Path(out)
    if not sources:
        raise DataError("data shard: no sources given")
    if len(set(sources)) != len(sources):
        raise DataError(f"data shard: a source is given twice ({sources}); give each once")
    _check_out(root, sources)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        if (root / INDEX).is_file() and not (root / PROGRESS).is_file():
            index = read_index(root)
            if index.sources == sources:
                return index.model_dump()
            raise DataError(f"{root}: already a finished store of other sources ({index.sources}); pass a new --out")
        (root / SHARDS).mkdir(exist_ok=True)
        shutil.rmtree(root / STAGING, ignore_errors=True)
        log = _Progress(root, sources)
        todo = [s for s in sources if s not in log.done]
        staging = {s: root / STAGING / str(sources.index(s)) for s in todo}
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1)), initializer=_die_with_parent,
                                   initargs=(os.getpid(),))
        try:
            jobs = {pool.submit(_stage, str(staging[s]), s): s for s in todo}
            for n, job in enumerate(as_completed(jobs), 1):
                log.commit(jobs[job], job.result(), staging[jobs[job]])
                if progress is not None:
                    progress(n, len(todo), jobs[job])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        ordered = [r for s in sources for r in sorted(log.done[s], key=lambda r: r["pid"])]
        index = new_index(sources, ordered)
        tmp = root / (INDEX + ".tmp")
        tmp.write_text(json.dumps(index, indent=1))
        fsync(tmp)
        tmp.replace(root / INDEX)
        keep = {Path(r["file"]).name for r in ordered}
        for f in (root / SHARDS).iterdir():
            if f.name not in keep and (f.suffix in (".npy", ".tmp")):
                f.unlink()
        (root / PROGRESS).unlink()
        shutil.rmtree(root / STAGING, ignore_errors=True)
    (root / LOCK).unlink(missing_ok=True)
    return index
