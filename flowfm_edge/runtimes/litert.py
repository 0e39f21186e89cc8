"""The LiteRT backend: runs a bundle's ``.tflite`` models (``--target android``) with ai-edge-litert, no torch.

LiteRT models have fixed shapes (batch 1 unless exported with ``--fixed-batch``); any batch
is fed through them in chunks (:class:`~flowfm_edge.runtimes.litert_interpreter.TFLiteModel`), and
INT8-I/O models (``--int8-io``) are quantised and dequantised here, so ``embed``,
``classify`` and ``generate`` take and return float32 like every other backend. A model's
sha256 is checked against the manifest before it is loaded. ``golden_rows`` (used by
``flowfm-edge validate --backend litert``) first runs every model once in a child process,
because ai-edge-litert can abort the process on a malformed model.

>>> rt = runtimes.load("bundle", backend="litert", precision="int8", threads=2)   # doctest: +SKIP
>>> rt.classify(x).shape                                                          # doctest: +SKIP
(B, classes)
"""

from __future__ import annotations

import numpy as np

from .litert_interpreter import TFLiteModel, import_interpreter, run_isolated
from ..bundle.manifest import bundle_path, load_golden, sha256
from ..bundle.schema import BundleError
from .base import Backend


class LiteRTBackend(Backend):
    name = "litert"

    def __init__(self, bundle, manifest, threads=None, xnnpack: bool = True):
        super().__init__(bundle, manifest, threads)
        import_interpreter()
        self.xnnpack = xnnpack
        self._models: dict[tuple[str, str], TFLiteModel] = {}
        if not self.entries():
            raise BundleError(f"{self.bundle}: no LiteRT models in this bundle (target "
                              f"{manifest.get('target', {}).get('name')!r}); export them with "
                              f"`flowfm-edge export RUN --target android --out BUNDLE`")

    def entries(self) -> list[dict]:
        return [a for a in self.manifest["artefacts"] if a["format"] == "tflite"]

    def precisions(self, name: str) -> list[str]:
        return [a["precision"] for a in self.entries() if a["name"] == name]

    def artefact(self, name: str, precision: str) -> dict:
        for a in self.entries():
            if a["name"] == name and a["precision"] == precision:
                return a
        raise BundleError(f"{self.bundle}: no LiteRT model {name!r} at precision {precision!r}; available: "
                          f"{', '.join(self.precisions(name)) or 'none'}")

    def _path(self, entry: dict):
        path = bundle_path(self.bundle, entry["file"]["path"], f"artefact {entry['name']}")
        if not path.is_file():
            raise BundleError(f"{path}: LiteRT model file is missing; re-export the bundle")
        if sha256(path) != entry["file"]["sha256"]:
            raise BundleError(f"{path}: sha256 does not match the manifest (modified after export); "
                              "re-export the bundle rather than run it")
        return path

    def model(self, name: str, precision: str) -> TFLiteModel:
        key = (name, precision)
        if key not in self._models:
            path = self._path(self.artefact(name, precision))
            self._models[key] = TFLiteModel(path, threads=self.threads, xnnpack=self.xnnpack)
        return self._models[key]

    def run(self, name: str, precision: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.model(name, precision).run(feeds)

    def golden_rows(self) -> list[tuple[str, str, dict]]:
        """(artefact, precision, golden check) of every LiteRT model, each first run once in a child process."""
        rows = [(a["name"], a["precision"], a["golden_check"]) for a in self.entries()]
        jobs = []
        for name, precision, _ in rows:
            golden = load_golden(self.bundle, self.manifest, name)
            inputs = self.manifest["golden"][name]["inputs"]
            jobs.append((self._path(self.artefact(name, precision)), {k: golden[k] for k in inputs}))
        run_isolated(jobs, threads=self.threads)
        return rows
