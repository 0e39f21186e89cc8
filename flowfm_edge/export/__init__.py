"""Export: a run in, a validated bundle out (docs/design.md#export).

- :mod:`.exporter` (``export_bundle``) orchestrates; :mod:`.options` says what an export is
  asked for (read from the command line's options) and refuses options its target does not
  take; :mod:`.job` is what one export works on (:class:`~.job.ExportJob`) and what a model
  family brings to it (:class:`~.job.ModelKit`); :mod:`.graphs` declares every graph's
  signature once and builds its torch module; :mod:`.inputs` feeds, checks and references them
  (:class:`~.inputs.GraphKit`); :mod:`.validation` gates every artefact. The ``export`` and
  ``sign`` commands are :mod:`flowfm_edge.cli.export`.
- One package per target, each with one entry point ``export_graph(job, spec, kit)`` and a
  ``manifest_section(manifest, job)``: :mod:`.onnx` (cpu: ONNX for onnxruntime, INT8 QDQ,
  fused samplers as an ONNX Loop), :mod:`.tensorrt` (jetson: TensorRT-ready ONNX and build
  recipes), :mod:`.litert` (android: LiteRT models).
- One model kit per model family: :mod:`.flowfm` (FlowFM's graphs, with :mod:`.text_sampler`'s
  text samplers for text runs) and :mod:`.diffusion` (the diffusion twin's denoiser and DDIM
  samplers, cpu target only).

The bundle format itself (manifest, golden files, targets, recipes, prior) is
:mod:`flowfm_edge.bundle`; the code that runs on a device (engine building, the LiteRT
interpreter) is :mod:`flowfm_edge.runtimes`, below this package: the LiteRT exporter checks each
model with the interpreter runner the phone backend uses. Importing this package is cheap: the
exporter loads torch, onnx and onnxruntime when called.
"""

from ..bundle.targets import TARGETS, Target, get_target

__all__ = ["TARGETS", "Target", "get_target", "export_bundle", "ExportOptions", "Limits", "QualityGateError"]


def __getattr__(name: str):
    if name in ("export_bundle", "ExportOptions"):
        from . import exporter

        return getattr(exporter, name)
    if name in ("Limits", "QualityGateError"):
        from . import validation

        return getattr(validation, name)
    raise AttributeError(f"module 'flowfm_edge.export' has no attribute {name!r}")
