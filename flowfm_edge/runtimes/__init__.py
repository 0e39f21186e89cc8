"""Run bundles: one API over every backend (SPEC 7).

>>> from flowfm_edge import runtimes
>>> rt = runtimes.load("bundle", backend="onnxruntime", precision="fp32")   # doctest: +SKIP
>>> r = rt.embed(x); logits = rt.classify(x); xs = rt.generate(n=4, steps=8, seed=0)   # doctest: +SKIP

Importing this package and running the onnxruntime backend never imports torch.
"""

from ..bundle.manifest import BundleError
from .base import Backend, NonFiniteError, Runtime, load, noise
from .registry import BACKENDS, BackendInfo, BackendUnavailable, backend_class, register_backend
from .validate import validate_bundle

__all__ = ["BACKENDS", "Backend", "BackendInfo", "BackendUnavailable", "BundleError", "NonFiniteError", "Runtime", "backend_class",
           "load", "noise", "register_backend", "validate_bundle"]
