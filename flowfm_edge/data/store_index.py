"""The typed ``index.json`` of a shard store, and the checks a shard passes before a window is read from it.

:func:`read_index` is the only way an index is read: every field is checked by a pydantic schema
(a bad one becomes a :class:`~flowfm_edge.data.contract.DataError` naming it, e.g.
``participants[3].sha256``), and ``digest``, the sha256 of the rest of the index, must match, so
an index edited by hand (a sha256 swapped, a window count changed) is refused as a whole. A
shard's path is fixed by its participant id (``shards/<file_key(pid)>.npy``), so no index can
point outside the store.

:func:`check_shard` is the check at open (``verify="quick"``): the shard is a regular file
inside the store (no symlink), its size and ``.npy`` header say ``(windows, 3, 300)`` float32,
and ``sample_sha256``, the sha256 of eight 4 KiB blocks spread over the file, matches: a shard
rewritten, zeroed or truncated is caught for a few reads per shard. ``verify="full"`` also
hashes every byte against ``sha256`` and checks every window finite; reading checks finiteness
of every window it returns either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from tokenize import TokenError
from typing import Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .contract import CHANNELS, RATE_HZ, WINDOW_LEN, DataError
from ..validation import one_line
from .identity import file_key

STORE_VERSION = 2
INDEX, PROGRESS, SHARDS = "index.json", "progress.jsonl", "shards"
SHA256 = r"^[0-9a-f]{64}$"
SAMPLE_BLOCKS, SAMPLE_BYTES = 8, 4096
VERIFY = ("quick", "full")


def shard_name(pid: str) -> str:
    """The file name of participant ``pid``'s shard: one-to-one (see :mod:`.identity`)."""
    return file_key(str(pid)) + ".npy"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WindowSpec(_Strict):
    channels: list[Literal["x", "y", "z"]]
    length: Literal[WINDOW_LEN]
    rate_hz: Literal[RATE_HZ]
    units: Literal["g"]
    dtype: Literal["float32"]

    @field_validator("channels")
    @classmethod
    def _xyz(cls, v: list[str]) -> list[str]:
        if tuple(v) != CHANNELS:
            raise ValueError(f"must be {list(CHANNELS)}")
        return v


class Participant(_Strict):
    pid: str = Field(min_length=1)
    file: str
    windows: int = Field(ge=1)
    source: str
    rate_hz: Literal[RATE_HZ]
    nonwear_fraction: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    sha256: str = Field(pattern=SHA256)
    sample_sha256: str = Field(pattern=SHA256)

    @model_validator(mode="after")
    def _own_file(self) -> "Participant":
        if self.file != f"{SHARDS}/{shard_name(self.pid)}":
            raise ValueError(f"file {self.file!r} is not {SHARDS}/{shard_name(self.pid)}, the shard of pid {self.pid!r}")
        return self


class StoreIndex(_Strict):
    version: int
    window: WindowSpec
    sources: list[str] = Field(min_length=1)
    participants: list[Participant] = Field(min_length=1)
    windows: int = Field(ge=1)
    digest: str = Field(pattern=SHA256)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != STORE_VERSION:
            raise ValueError(f"is {v}; this flowfm-edge reads version {STORE_VERSION}: convert the sources again "
                             "with `flowfm-edge data shard` into a new --out")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "StoreIndex":
        pids = [p.pid for p in self.participants]
        if len(set(pids)) != len(pids):
            twice = next(p for p in pids if pids.count(p) > 1)
            raise ValueError(f"field 'participants' lists participant {twice!r} twice")
        stray = [i for i, p in enumerate(self.participants) if p.source not in self.sources]
        if stray:
            raise ValueError(f"field 'participants[{stray[0]}].source' is not one of 'sources'")
        total = sum(p.windows for p in self.participants)
        if total != self.windows:
            raise ValueError(f"field 'windows' is {self.windows}, the participants hold {total}")
        return self


def is_store(path: str | Path) -> bool:
    """Whether ``path`` holds a shard store, finished or being written."""
    return (Path(path) / INDEX).is_file() or (Path(path) / PROGRESS).is_file()


def index_digest(index: dict) -> str:
    """sha256 of the index without its ``digest`` (canonical JSON)."""
    body = {k: v for k, v in index.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def new_index(sources: list[str], participants: list[dict]) -> dict:
    """The index of a finished store, digest included."""
    index = {"version": STORE_VERSION, "window": {"channels": list(CHANNELS), "length": WINDOW_LEN,
                                                  "rate_hz": RATE_HZ, "units": "g", "dtype": "float32"},
             "sources": list(sources), "participants": participants,
             "windows": int(sum(r["windows"] for r in participants))}
    return {**index, "digest": index_digest(index)}


def read_index(root: str | Path) -> StoreIndex:
    """The checked index of the store at ``root``; a DataError naming the file and field otherwise."""
    root = Path(root)
    path = root / INDEX
    if not path.is_file():
        hint = " (conversion unfinished: run `flowfm-edge data shard` again to resume)" \
            if (root / PROGRESS).is_file() else ""
        raise DataError(f"{root}: not a shard store ({INDEX} is missing){hint}")
    try:
        raw = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: the index is a JSON {type(raw).__name__}, not an object")
    try:
        index = StoreIndex.model_validate(raw)
    except ValidationError as exc:
        raise DataError(f"{path}: {one_line(exc)}") from None
    if index.digest != index_digest(raw):
        raise DataError(f"{path}: field 'digest' does not match the index: it was edited after `data shard` wrote "
                        "it; convert the sources again into a new --out")
    return index


def sample_sha256(path: Path, size: int | None = None) -> str:
    """sha256 of the file's size and ``SAMPLE_BLOCKS`` blocks of ``SAMPLE_BYTES`` spread from its start to its end."""
    size = path.stat().st_size if size is None else size
    h = hashlib.sha256(str(size).encode())
    last = max(0, size - SAMPLE_BYTES)
    with open(path, "rb") as f:
        for k in range(SAMPLE_BLOCKS):
            f.seek(last * k // (SAMPLE_BLOCKS - 1))
            h.update(f.read(SAMPLE_BYTES))
    return h.hexdigest()


def check_shard(root: Path, rec: Participant, verify: str = "quick") -> Path:
    """The shard file of ``rec`` after the checks of ``verify`` (see the module docstring); a DataError otherwise."""
    path = root / rec.file
    where = f"{path} (participant {rec.pid!r})"
    try:
        shards, st = os.lstat(root / SHARDS), os.lstat(path)
    except FileNotFoundError:
        raise DataError(f"{where}: the shard is missing") from None
    if stat.S_ISLNK(shards.st_mode) or not stat.S_ISREG(st.st_mode):  # lstat: a symbolic link is not S_ISREG
        raise DataError(f"{where}: a symbolic link or not a regular file; shards are plain files inside the store")
    expected = (rec.windows, len(CHANNELS), WINDOW_LEN)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError, EOFError, TokenError) as exc:  # numpy tokenizes the header's dict
        raise DataError(f"{where}: not a .npy shard ({type(exc).__name__}: {str(exc)[:120]})") from None
    if shape != expected or fortran or dtype != np.dtype("<f4"):
        raise DataError(f"{where}: holds {shape} {dtype}{' (Fortran order)' if fortran else ''}; the index says "
                        f"{expected} float32")
    if st.st_size != offset + rec.windows * len(CHANNELS) * WINDOW_LEN * 4:
        raise DataError(f"{where}: {st.st_size} bytes; {expected} float32 takes "
                        f"{offset + rec.windows * len(CHANNELS) * WINDOW_LEN * 4} (truncated or padded)")
    if sample_sha256(path, st.st_size) != rec.sample_sha256:
        raise DataError(f"{where}: its content differs from the index (sample_sha256); the shard was modified or "
                        "damaged after it was written")
    if verify == "full":
        _check_full(path, where, rec, offset)
    return path


def _check_full(path: Path, where: str, rec: Participant, offset: int) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(offset))
        for block in iter(lambda: f.read(len(CHANNELS) * WINDOW_LEN * 4 * 1024), b""):
            h.update(block)
            X = np.frombuffer(block, "<f4")
            if not np.isfinite(X).all():
                raise DataError(f"{where}: holds NaN or Inf")
    if h.hexdigest() != rec.sha256:
        raise DataError(f"{where}: sha256 differs from the index; the shard was modified or damaged")
