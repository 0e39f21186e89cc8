"""The onnxruntime backend: runs a bundle's ONNX artefacts on CPU (numpy + onnxruntime, no torch)."""

from __future__ import annotations

import numpy as np

from ..bundle.manifest import bundle_path

from ..bundle.schema import BundleError
from .base import Backend


def _session(ort, path, opts):
    """An onnxruntime session of ``path``; a file onnxruntime cannot load is a BundleError naming it."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except (state.InvalidProtobuf, state.InvalidGraph, state.Fail, state.NotImplemented, state.InvalidArgument,
            state.NoSuchFile, state.RuntimeException) as exc:
        raise BundleError(f"{path}: onnxruntime cannot load this artefact ({type(exc).__name__}: "
                          f"{str(exc)[:200]}); re-export the bundle") from None


class OrtBackend(Backend):
    name = "onnxruntime"
    spinning = True  # worker threads busy-wait between ops; on a shared CPU (a gateway) turning it off is faster

    def __init__(self, bundle, manifest, threads=None):
        super().__init__(bundle, manifest, threads)
        self._sessions: dict[tuple[str, str], object] = {}

    def artefact(self, name: str, precision: str) -> dict:
        for a in self.manifest["artefacts"]:
            if a["name"] == name and a["precision"] == precision and a["format"] == "onnx":
                return a
        raise BundleError(f"{self.bundle}: no ONNX artefact {name!r} at precision {precision!r}; "
                          f"available: {', '.join(self.precisions(name)) or 'none'}")

    def precisions(self, name: str) -> list[str]:
        return [a["precision"] for a in self.manifest["artefacts"] if a["name"] == name and a["format"] == "onnx"]

    def session(self, name: str, precision: str):
        key = (name, precision)
        if key not in self._sessions:
            import onnxruntime as ort

            path = bundle_path(self.bundle, self.artefact(name, precision)["file"]["path"], f"artefact {name} {precision}")
            if not path.is_file():
                raise BundleError(f"{path}: artefact file is missing; re-export the bundle")
            opts = ort.SessionOptions()
            # an artefact may say how it was checked, e.g. TensorRT's INT8 QDQ with Q/DQ in float
            if self.artefact(name, precision).get("onnxruntime", {}).get("graph_optimization") == "disabled":
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            if self.threads:
                opts.intra_op_num_threads = self.threads
                opts.inter_op_num_threads = 1
            if not self.spinning:
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[key] = _session(ort, path, opts)
        return self._sessions[key]

    def run(self, name: str, precision: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        out = self.session(name, precision).run(None, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()})
        return out[0]
