"""The hashes that runs and bundles record of their windows, so a later step can tell the same data from other data.

Two hashes, each kept exactly as records already written hold it:

- :func:`data_hash`: 16 hex digits of sha256 over the windows as float32. A run records it of its
  training data (``config.json``, ``prior.json``); ``train --resume``, ``quality`` and ``bench``
  compare against it. A shard store hashes its shards' sha256 instead of re-reading them.
- :func:`array_hash`: the whole sha256 over the shape and bytes of one or more arrays (floats as
  float32). A bundle's manifest records it of its calibration and validation windows and its
  calibration feeds.

>>> import numpy as np
>>> len(data_hash(np.zeros((2, 3, 300), np.float32))), len(array_hash(np.zeros(3)))
(16, 64)
"""

from __future__ import annotations

import hashlib

import numpy as np


def data_hash(X) -> str:
    """16 hex digits of sha256 over the windows; a shard store hashes its shards' sha256 instead of re-reading them."""
    if hasattr(X, "content_hash"):
        return X.content_hash()
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float32).tobytes()).hexdigest()[:16]


def array_hash(*arrays: np.ndarray) -> str:
    """sha256 over the bytes of ``arrays`` (float32 for floats): the calibration-set hash in manifests."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.float32 if np.issubdtype(np.asarray(a).dtype, np.floating) else None)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()
