"""Files by path: flushed to disk (``fsync``) so a rename after it survives a crash, and hashed by content
(``sha256``, read in 1 MiB blocks). Used by the run checkpoints, the shard store's writer, the gateway's
state file and the bundle manifests; it imports nothing of the package, so the torch-free runtime may use it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def fsync(path: str | Path) -> None:
    """Flush ``path`` (a file, or a directory after files in it were renamed) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256(path: str | Path) -> str:
    """Hex sha256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
