"""Export: ONNX graphs, INT8 quantisation, the bundle and its manifest (SPEC 6).

Importing this package is cheap and torch-free: :mod:`.manifest`, :mod:`.metrics`,
:mod:`.prior` and :mod:`.targets` need only numpy, so runtimes can read bundles without
torch. The exporter itself (:func:`export_bundle`) loads torch, onnx and onnxruntime when
called.
"""

from ..bundle.targets import TARGETS, Target, get_target

__all__ = ["TARGETS", "Target", "get_target", "export_bundle", "ExportOptions", "Limits", "QualityGateError"]


def __getattr__(name: str):
    if name in ("export_bundle", "ExportOptions"):
        from . import exporter as bundle

        return getattr(bundle, name)
    if name in ("Limits", "QualityGateError"):
        from . import validation

        return getattr(validation, name)
    raise AttributeError(f"module 'flowfm_edge.export' has no attribute {name!r}")
