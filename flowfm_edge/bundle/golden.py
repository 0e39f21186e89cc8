"""Golden files: a few check rows per graph, with the PyTorch reference and each artefact's own output.

Written by every export target into ``golden/<artefact>/*.npy`` and re-run by ``flowfm-edge
validate`` on any machine, with whichever backend the bundle targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import file_entry

GOLDEN_ROWS = 4  # check rows kept per graph: enough to catch drift, small enough to ship


class Golden:
    """The golden files of one graph: its input rows, the reference rows and each precision's output."""

    def __init__(self, bundle: Path, name: str, check: dict[str, np.ndarray]):
        self.bundle, self.dir, self.files = bundle, bundle / "golden" / name, {}
        self.inputs = {k: v[:GOLDEN_ROWS] for k, v in check.items()}
        self.dir.mkdir(parents=True, exist_ok=True)
        for key, arr in self.inputs.items():
            self.save(key, arr)

    def save(self, key: str, arr: np.ndarray) -> None:
        path = self.dir / f"{key}.npy"
        np.save(path, np.ascontiguousarray(arr[:GOLDEN_ROWS], dtype=np.float32))
        self.files[key] = file_entry(self.bundle, path)

    def drop(self, key: str) -> None:
        (self.dir / f"{key}.npy").unlink()
        del self.files[key]

    def entry(self, input_names: list[str], output: str) -> dict:
        """The manifest's ``golden`` entry of this graph."""
        return {"inputs": input_names, "output": output, "files": self.files}
