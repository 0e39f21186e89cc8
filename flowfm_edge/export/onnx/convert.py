"""torch module -> one self-contained ONNX file, with a dynamic batch axis.

``torch.onnx.export(..., dynamo=True)`` at opset 18 is the default; a graph whose spec asks
for the legacy (TorchScript) exporter, or whose dynamo export raises, goes through
``dynamo=False``; the manifest records which exporter made each file and why. After export
the file is tidied: node metadata (stack traces with local paths) is dropped, identical
initializers are merged so shared weights are stored once, and every node gets a name (the
quantiser addresses nodes by name).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import time
import warnings
from pathlib import Path

import torch

from ..graphs import GraphSpec

OPSET = 18
EXAMPLE_BATCH = 2  # batch 1 would be specialised away by the tracer


@contextlib.contextmanager
def quiet_export():
    """Silence the exporters' progress prints, deprecation notes and registry warnings."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.__trace", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_dynamo(module, args: tuple, spec: GraphSpec, opset: int):
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic = tuple({0: batch} for _ in args)
    program = torch.onnx.export(module, args, dynamo=True, opset_version=opset, input_names=spec.input_names,
                                output_names=[spec.output_name], dynamic_shapes=dynamic, verbose=False)
    return program.model_proto


def _export_legacy(module, args: tuple, spec: GraphSpec, opset: int):
    names = spec.input_names + [spec.output_name]
    return trace_legacy(module, args, spec.input_names, [spec.output_name], set(names), opset)


def trace_legacy(module, args: tuple, inputs: list[str], outputs: list[str], batched: set[str], opset: int = OPSET):
    """The legacy (TorchScript) ONNX export of ``module`` on ``args`` -> ModelProto; axis 0 of ``batched`` is dynamic."""
    import onnx

    axes = {name: {0: "batch"} for name in inputs + outputs if name in batched}
    buf = io.BytesIO()
    torch.onnx.export(module, args, buf, dynamo=False, opset_version=opset, input_names=inputs,
                      output_names=outputs, dynamic_axes=axes, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def tidy(proto) -> dict:
    """Drop node metadata, turn Constant nodes into initializers, merge identical initializers, name nodes.

    The unrolled sampler repeats the same scalar constants at every step: as shared
    initializers they cost nothing per step. Returns counts for the manifest.
    """
    from onnx import numpy_helper

    _constants_to_initializers(proto)
    _short_value_names(proto)
    for node in proto.graph.node:
        del node.metadata_props[:]
    for i, node in enumerate(proto.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    seen: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    keep = []
    for init in proto.graph.initializer:
        key = (init.data_type, tuple(init.dims), hashlib.sha256(numpy_helper.to_array(init).tobytes()).hexdigest())
        if key in seen:
            rename[init.name] = seen[key]
        else:
            seen[key] = init.name
            keep.append(init)
    if rename:
        del proto.graph.initializer[:]
        proto.graph.initializer.extend(keep)
        graph_inputs = {i.name for i in proto.graph.input}
        for node in proto.graph.node:
            for j, name in enumerate(node.input):
                if name in rename and name not in graph_inputs:
                    node.input[j] = rename[name]
    return {"initializers": len(proto.graph.initializer), "merged_initializers": len(rename)}


def _constants_to_initializers(proto) -> None:
    keep = []
    for node in proto.graph.node:
        if node.op_type == "Constant" and not node.domain and len(node.attribute) == 1 and node.attribute[0].name == "value":
            init = node.attribute[0].t
            init.name = node.output[0]
            proto.graph.initializer.append(init)
        else:
            keep.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(keep)


def _short_value_names(proto) -> None:
    """Rename intermediate tensors v0, v1, ...: long scoped names are most of an unrolled graph's bytes."""
    graph = proto.graph
    fixed = {i.name for i in graph.input} | {o.name for o in graph.output} | {i.name for i in graph.initializer}
    rename: dict[str, str] = {}
    for node in graph.node:
        for j, name in enumerate(node.output):
            if name and name not in fixed:
                rename.setdefault(name, f"v{len(rename)}")
                node.output[j] = rename[name]
        for j, name in enumerate(node.input):
            if name in rename:
                node.input[j] = rename[name]
    for vi in graph.value_info:
        vi.name = rename.get(vi.name, vi.name)


def export_onnx(module: torch.nn.Module, args: tuple, spec: GraphSpec, path: Path, opset: int = OPSET) -> dict:
    """Export ``module`` called on ``args`` to ``path``; returns what the manifest records about it."""
    import onnx

    start = time.perf_counter()
    exporter, reason = spec.exporter, None
    with torch.no_grad(), quiet_export():
        if exporter == "dynamo":
            try:
                proto = _export_dynamo(module, args, spec, opset)
            except Exception as exc:  # noqa: BLE001  any exporter failure: fall back, and say so
                exporter, reason = "legacy", f"dynamo export failed: {type(exc).__name__}: {str(exc)[:200]}"
        if exporter == "legacy":
            reason = reason or "legacy exporter chosen for this graph: the unrolled solver loop shares weights"
            proto = _export_legacy(module, args, spec, opset)
    counts = tidy(proto)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise RuntimeError(f"{spec.name}: the exported ONNX graph is invalid ({exc}); "
                           "report this with the model config") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))
    info = {"exporter": exporter, "opset": opset, "export_seconds": round(time.perf_counter() - start, 2),
            "nodes": len(proto.graph.node), **counts}
    if reason:
        info["exporter_note"] = reason
    return info
