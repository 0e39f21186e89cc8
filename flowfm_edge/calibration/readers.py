"""Calibration data readers for ``onnxruntime.quantization`` (duck-typed: numpy only).

The quantiser asks ``get_next()`` for one feed dict at a time until it returns None.
"""

from __future__ import annotations

import numpy as np

from ..data.hashing import array_hash


class ArrayReader:
    """Feeds ``inputs`` ({input name: (N, ...) array}) to the calibrator in equal batches of at most ``batch_size``."""

    def __init__(self, inputs: dict[str, np.ndarray], batch_size: int = 16):
        sizes = {len(v) for v in inputs.values()}
        if len(sizes) != 1:
            raise ValueError(f"calibration inputs differ in length: { {k: len(v) for k, v in inputs.items()} }")
        self.inputs = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
        self.n = sizes.pop()
        # Equal batches: the histogram calibrators (entropy, percentile) stack every batch's
        # activations into one array, which fails on a short last batch.
        self.batch_size = max(d for d in range(1, max(1, min(batch_size, self.n)) + 1) if self.n % d == 0)
        self._pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._pos >= self.n:
            return None
        sl = slice(self._pos, self._pos + self.batch_size)
        self._pos += self.batch_size
        return {k: v[sl] for k, v in self.inputs.items()}

    def rewind(self) -> None:
        self._pos = 0

    def __len__(self) -> int:
        return self.n

    def describe(self) -> dict:
        """Size and hash of the calibration set, for the manifest."""
        return {"size": self.n, "hash": array_hash(*(self.inputs[k] for k in sorted(self.inputs))),
                "inputs": {k: list(v.shape) for k, v in self.inputs.items()}}
