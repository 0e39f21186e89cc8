"""The TensorRT backend: runs the plans ``flowfm-edge build-engine`` wrote, on the GPU it runs on.

Before deserialising a plan it checks the file's sha256 and that the engine was built by
this TensorRT release for this compute capability (:func:`~flowfm_edge.runtimes.trt_device.engine_problem`),
and refuses with a message that says how to rebuild. Buffers come from cuda-python (or
pycuda); batches larger than the profile's maximum run in chunks, smaller than its minimum
are padded. Fused samplers can replay a captured CUDA graph (``cuda_graph=True``).

>>> rt = load_tensorrt("bundle", precision="fp16", cuda_graph=True)   # doctest: +SKIP
>>> rt.generate(n=8, steps=8).shape                                   # doctest: +SKIP
(8, 3, 300)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle.manifest import bundle_path, check_files, read_manifest, sha256

from ..bundle.schema import BundleError
from .trt_device import engine_problem, gpu, import_tensorrt
from .base import Backend, Runtime


class EngineMismatch(BundleError):
    """An engine was built by another TensorRT release or for another GPU architecture."""


class _Engine:
    """One deserialised plan: execution context and device buffers sized for the profile's largest batch."""

    def __init__(self, trt, runtime, mem, path: Path):
        self.trt, self.mem = trt, mem
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BundleError(f"{path}: TensorRT {trt.__version__} could not deserialise this plan; rebuild it with "
                              "`flowfm-edge build-engine`")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self.dtype = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        lo, _, hi = self.engine.get_tensor_profile_shape(self.inputs[0], 0)
        self.min_batch, self.max_batch = int(lo[0]), int(hi[0])
        for n in self.inputs:
            self.context.set_input_shape(n, tuple(self.engine.get_tensor_profile_shape(n, 0)[2]))
        self.ptr = {}
        for n in names:
            shape = tuple(self.context.get_tensor_shape(n))
            self.ptr[n] = mem.alloc(int(np.prod(shape)) * self.dtype[n].itemsize)
            self.context.set_tensor_address(n, self.ptr[n])
        self.graph, self.graph_batch = None, None

    def infer(self, feeds: dict[str, np.ndarray], cuda_graph: bool = False) -> np.ndarray:
        """feeds {input: (b, ...)} with min_batch <= b <= max_batch -> first output (b, ...)."""
        b = len(next(iter(feeds.values())))
        for n in self.inputs:
            host = np.ascontiguousarray(feeds[n], dtype=self.dtype[n])
            self.context.set_input_shape(n, host.shape)
            self.mem.h2d(self.ptr[n], host)
        out = self.outputs[0]
        host_out = np.empty(tuple(self.context.get_tensor_shape(out)), self.dtype[out])
        enqueue = lambda: self.context.execute_async_v3(self.mem.stream_handle)  # noqa: E731
        if cuda_graph:
            if self.graph_batch != b:  # shapes changed: run once (TensorRT settles its state), then capture
                enqueue()
                self.graph, self.graph_batch = self.mem.capture(enqueue), b
            self.mem.launch(self.graph)
        elif not enqueue():
            raise RuntimeError("TensorRT execute_async_v3 failed; see the TensorRT log")
        self.mem.d2h(host_out, self.ptr[out])
        self.mem.sync()
        return host_out.astype(np.float32, copy=False)


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, bundle, manifest, threads=None, cuda_graph: bool = False):
        super().__init__(bundle, manifest, threads)
        self.records = manifest.get("engines") or []
        if not self.records:
            raise BundleError(f"{self.bundle}: no TensorRT engines yet; build them on this device with "
                              f"`flowfm-edge build-engine {self.bundle} --precision fp16`")
        self.trt = import_tensorrt()
        from .cuda_mem import open_cuda

        self.mem = open_cuda()
        self.cuda_graph = cuda_graph and self.mem.graphs
        self.here = {"tensorrt": self.trt.__version__, **{k: v for k, v in gpu().items() if k != "via"}}
        self.here["gpu"] = self.here.pop("name", None)
        self.runtime = self.trt.Runtime(self.trt.Logger(self.trt.Logger.WARNING))
        self._engines: dict[tuple[str, str], _Engine] = {}

    def precisions(self, name: str) -> list[str]:
        return [e["precision"] for e in self.records if e["name"] == name]

    def record(self, name: str, precision: str) -> dict:
        for e in self.records:
            if e["name"] == name and e["precision"] == precision:
                return e
        raise BundleError(f"{self.bundle}: no {precision} engine for {name!r}; built: "
                          f"{', '.join(self.precisions(name)) or 'none'}. Build it with `flowfm-edge build-engine "
                          f"{self.bundle} --precision {precision}`")

    def engine(self, name: str, precision: str) -> _Engine:
        key = (name, precision)
        if key not in self._engines:
            rec = self.record(name, precision)
            problem = engine_problem(rec, self.here, self.bundle)
            if problem:
                raise EngineMismatch(problem)
            path = bundle_path(self.bundle, rec["file"]["path"], f"engine {name} {precision}")
            if not path.is_file() or sha256(path) != rec["file"]["sha256"]:
                raise BundleError(f"{path}: missing or modified since it was built; rebuild with "
                                  f"`flowfm-edge build-engine {self.bundle} --precision {rec.get('requested', precision)}`")
            self._engines[key] = _Engine(self.trt, self.runtime, self.mem, path)
        return self._engines[key]

    def run(self, name: str, precision: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        eng = self.engine(name, precision)
        graph = self.manifest["graphs"].get(name, {}).get("graph")
        use_graph = self.cuda_graph and graph == "sampler"
        n = len(next(iter(feeds.values())))
        outs = []
        for i in range(0, n, eng.max_batch):
            chunk = {k: v[i : i + eng.max_batch] for k, v in feeds.items()}
            b = len(next(iter(chunk.values())))
            if b < eng.min_batch:  # pad with copies of the last row, drop their outputs
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], eng.min_batch - b, axis=0)]) for k, v in chunk.items()}
            outs.append(eng.infer(chunk, cuda_graph=use_graph)[:b])
        return np.concatenate(outs)

    def golden_rows(self) -> list[tuple[str, str, dict]]:
        """(artefact, precision, golden check) of every engine, for ``validate_bundle``."""
        return [(e["name"], e["precision"], e["golden_check"]) for e in self.records]


def load_tensorrt(bundle: str | Path, precision: str = "fp16", cuda_graph: bool = False) -> Runtime:
    """A :class:`Runtime` over the bundle's engines; ``cuda_graph`` replays fused samplers as CUDA graphs."""
    manifest = read_manifest(bundle)
    check_files(bundle, manifest)
    return Runtime(TensorRTBackend(Path(bundle), manifest, cuda_graph=cuda_graph), precision)
