"""Device buffers, copies, a stream and CUDA graphs for the TensorRT backend: cuda-python, else pycuda.

>>> mem = open_cuda()                       # doctest: +SKIP
>>> ptr = mem.alloc(4 * 3 * 300); mem.h2d(ptr, x); mem.sync()   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .registry import BackendUnavailable

NEEDS = ("the TensorRT backend needs a CUDA Python binding for device buffers: `pip install cuda-python` "
         "(matching the CUDA major version of JetPack/the driver), or JetPack's pycuda")


class CudaPython:
    """cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` before 12.6)."""

    via = "cuda-python"
    graphs = True

    def __init__(self):
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart
        self.rt = cudart
        self.stream = self._ok(cudart.cudaStreamCreate())

    def _ok(self, result):
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            msg = self.rt.cudaGetErrorString(err)[1]
            raise RuntimeError(f"CUDA error {int(err)}: {msg.decode() if isinstance(msg, bytes) else msg}")
        return rest[0] if len(rest) == 1 else rest

    @property
    def stream_handle(self) -> int:
        return int(self.stream)

    def alloc(self, nbytes: int) -> int:
        return int(self._ok(self.rt.cudaMalloc(max(int(nbytes), 1))))

    def free(self, ptr: int) -> None:
        self._ok(self.rt.cudaFree(ptr))

    def h2d(self, ptr: int, host: np.ndarray) -> None:
        self._ok(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes,
                                         self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))

    def d2h(self, host: np.ndarray, ptr: int) -> None:
        self._ok(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes,
                                         self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))

    def sync(self) -> None:
        self._ok(self.rt.cudaStreamSynchronize(self.stream))

    def capture(self, enqueue) -> object:
        """Record what ``enqueue()`` launches on the stream as an instantiated CUDA graph."""
        self._ok(self.rt.cudaStreamBeginCapture(self.stream, self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal))
        try:
            enqueue()
        finally:
            graph = self._ok(self.rt.cudaStreamEndCapture(self.stream))
        return self._ok(self.rt.cudaGraphInstantiate(graph, 0))

    def launch(self, graph_exec) -> None:
        self._ok(self.rt.cudaGraphLaunch(graph_exec, self.stream))


class PyCuda:
    """pycuda (ships with some JetPack images); no CUDA graphs."""

    via = "pycuda"
    graphs = False

    def __init__(self):
        import pycuda.autoinit  # noqa: F401  creates the context
        import pycuda.driver as cuda

        self.cuda = cuda
        self.stream = cuda.Stream()
        self._allocs: dict[int, object] = {}

    @property
    def stream_handle(self) -> int:
        return self.stream.handle

    def alloc(self, nbytes: int) -> int:
        buf = self.cuda.mem_alloc(max(int(nbytes), 1))
        self._allocs[int(buf)] = buf
        return int(buf)

    def free(self, ptr: int) -> None:
        self._allocs.pop(ptr).free()

    def h2d(self, ptr: int, host: np.ndarray) -> None:
        self.cuda.memcpy_htod_async(ptr, host, self.stream)

    def d2h(self, host: np.ndarray, ptr: int) -> None:
        self.cuda.memcpy_dtoh_async(host, ptr, self.stream)

    def sync(self) -> None:
        self.stream.synchronize()

    def capture(self, enqueue):
        raise RuntimeError("CUDA graph capture needs cuda-python (`pip install cuda-python`); pycuda cannot capture")

    def launch(self, graph_exec) -> None:
        raise RuntimeError("CUDA graphs need cuda-python")


def open_cuda():
    """A :class:`CudaPython` or :class:`PyCuda`; raises :class:`BackendUnavailable` naming both when neither imports."""
    errors = []
    for cls, module in ((CudaPython, "cuda"), (PyCuda, "pycuda")):
        try:
            return cls()
        except ImportError as exc:
            errors.append(f"{module}: {exc}")
    raise BackendUnavailable(f"{NEEDS} ({'; '.join(errors)})")
