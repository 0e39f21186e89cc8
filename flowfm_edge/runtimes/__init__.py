"""Run bundles: one API over every backend (docs/design.md#runtimes).

>>> from flowfm_edge import runtimes
>>> rt = runtimes.load("bundle", backend="onnxruntime", precision="fp32")   # doctest: +SKIP
>>> r = rt.embed(x); logits = rt.classify(x); xs = rt.generate(n=4, steps=8, seed=0)   # doctest: +SKIP

Backends (:mod:`.ort`, :mod:`.torch_backend`, :mod:`.litert`, :mod:`.tensorrt_backend`) behind
one :class:`Runtime`; :mod:`.validate` re-runs a bundle's golden checks; the gateway stream
(:mod:`.stream`), the MQTT gateway around it (:mod:`.gateway`) and cohort embedding (:mod:`.cohort`). The code that runs on a device lives
here too: the isolated LiteRT interpreter (:mod:`.litert_interpreter`), TensorRT device facts
(:mod:`.trt_device`) and engine building (:mod:`.engine_build`, ``flowfm-edge build-engine``).
Bundles are read through :mod:`flowfm_edge.bundle`; the exporter (:mod:`flowfm_edge.export`, above)
checks LiteRT models with :mod:`.litert_interpreter`; the device-side commands are
:mod:`flowfm_edge.cli.device` and :mod:`flowfm_edge.cli.gateway`, and :mod:`.stream_files` streams
sample files for ``flowfm-edge stream``.

Importing this package and running the onnxruntime backend never imports torch (an
import-linter contract in ``pyproject.toml`` holds every module but the torch backend to it).
"""

from ..bundle.schema import BundleError
from .base import Backend, NonFiniteError, Runtime, load, noise
from .registry import BACKENDS, BackendInfo, BackendUnavailable, backend_class, register_backend
from .validate import validate_bundle

__all__ = ["BACKENDS", "Backend", "BackendInfo", "BackendUnavailable", "BundleError", "NonFiniteError", "Runtime", "backend_class",
           "load", "noise", "register_backend", "validate_bundle"]
