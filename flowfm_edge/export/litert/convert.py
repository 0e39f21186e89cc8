"""torch graph -> LiteRT flatbuffers, straight from PyTorch with ``litert-torch`` (no TensorFlow).

Four precisions, all with fixed shapes (batch 1 by default: LiteRT cannot export the Conv1d
patch embedding with a dynamic batch, docs/design.md#toolchain):

- ``fp32``: ``litert_torch.convert``.
- ``fp16``: FP16 weights of every FULLY_CONNECTED/CONV_2D op (``ai-edge-quantizer`` float
  casting); activations and arithmetic stay float32.
- ``int8-dynamic``: dynamic-range INT8 (``ai-edge-quantizer``): per-channel INT8 weights,
  activations quantised at run time, on the signal path; the conditioning path (time
  embedding, RepProj, adaLN) keeps float activations and gets weight-only INT8.
- ``int8``: full INT8 with PT2E in torch: per-channel symmetric weights, activations
  calibrated on the same calibration feeds as the ONNX path (windows by class and subject,
  sampler trajectories), Q/DQ on linear/conv of the signal path only (docs/design.md#toolchain: the time
  embedding loses its phase at 8 bits). Float I/O unless ``int8_io``.

The signal path is every op the graph's signal input reaches, found on the graph itself
(FX graph for PT2E, flatbuffer for the quantiser), so no module names are hard-coded.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

import numpy as np
import torch

from ..graphs import GraphSpec
from .io import float_io, share_buffers

NEEDS = "pip install 'flowfm-edge[litert]' (installs litert-torch and ai-edge-litert)"
SIGNAL, CONDITION = "flowfm-signal-path:", "flowfm-condition-path:"  # op-name marks for the quantiser's regex
STATIC_OPS = ["linear", "addmm", "conv"]


def require_litert() -> str:
    """The litert-torch version; ImportError naming the extra when litert-torch or its quantiser is missing."""
    try:
        import ai_edge_quantizer  # noqa: F401
        import litert_torch
    except ImportError as exc:
        raise ImportError(f"the android target converts with litert-torch, which is not installed ({exc}); "
                          f"install it with: {NEEDS}") from None
    return litert_torch.__version__


@contextlib.contextmanager
def quiet_export(what: str = "litert-torch conversion"):
    """Hide litert-torch's progress lines and the converter's native log; show the log if ``what`` fails."""
    import litert_torch

    shown = litert_torch.config.show_progress
    litert_torch.config.show_progress = False
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except Exception as exc:
            os.dup2(saved, 2)
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"{what} failed: {type(exc).__name__}: {str(exc)[:400]}"
                               + (f" (converter log: {' | '.join(tail)})" if tail else "")) from exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            litert_torch.config.show_progress = shown


def _to_bytes(edge_model) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.tflite")
        edge_model.export(path)
        with open(path, "rb") as f:
            return f.read()


class NamedInputs(torch.nn.Module):
    """``module`` called with the graph's inputs in declared order, taking them by their declared names.

    torch.export names each graph input after the forward parameter it binds to, and litert-torch
    names the model's signature inputs (and PT2E its placeholders) the same way; a module's own
    parameter names (a fused sampler's ``cond_input``) need not be the declared ones (``r``).
    """

    def __init__(self, module: torch.nn.Module, names: list[str]):
        super().__init__()
        self.module, self.names = module, list(names)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.module(*(inputs[n] for n in self.names))


def sample_kwargs(spec: GraphSpec, feeds: dict[str, np.ndarray], batch: int = 1) -> dict[str, torch.Tensor]:
    """The first ``batch`` rows of ``feeds`` as torch tensors, in the graph's input order: the fixed export shapes."""
    return {n: torch.from_numpy(np.ascontiguousarray(feeds[n][:batch], dtype=np.float32)) for n in spec.input_names}


def convert_fp32(module: torch.nn.Module, kwargs: dict[str, torch.Tensor]) -> tuple[bytes, dict]:
    """FP32 flatbuffer of ``module`` traced at the shapes of ``kwargs``; returns (model, export info)."""
    import litert_torch

    start = time.perf_counter()
    with torch.no_grad(), quiet_export():
        content = _to_bytes(litert_torch.convert(module.eval(), sample_kwargs=kwargs))
    return content, {"exporter": "litert-torch", "litert_torch": litert_torch.__version__,
                     "batch": int(next(iter(kwargs.values())).shape[0]),
                     "export_seconds": round(time.perf_counter() - start, 2)}


# --- FP16 and dynamic-range INT8: ai-edge-quantizer on the FP32 flatbuffer --------------------------------

def mark_paths(content: bytes, signal_input: str) -> tuple[bytes, dict]:
    """Prefix the output name of every FULLY_CONNECTED/CONV_2D op with the path it lies on; returns counts."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(content))
    sg = model.subgraphs[0]
    sig = model.signatureDefs[0]
    reached = {m.tensorIndex for m in sig.inputs if m.name.decode() == signal_input}
    if not reached:
        raise ValueError(f"the LiteRT model has no input named {signal_input!r}; inputs are "
                         f"{', '.join(m.name.decode() for m in sig.inputs)}")
    weighted = {schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOperator.CONV_2D}
    counts = {"signal": 0, "condition": 0}
    for op in sg.operators:  # flatbuffer operators are in execution order
        on_signal = any(i in reached for i in op.inputs if i >= 0)
        if on_signal:
            reached.update(op.outputs)
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) in weighted:
            mark = SIGNAL if on_signal else CONDITION
            t = sg.tensors[op.outputs[0]]
            t.name = (mark + t.name.decode()).encode()
            counts["signal" if on_signal else "condition"] += 1
    return bytes(fb.convert_object_to_bytearray(model)), counts


def unmark(content: bytes) -> bytes:
    """Remove the path marks :func:`mark_paths` put on tensor names."""
    from ai_edge_litert.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(content))
    for t in model.subgraphs[0].tensors:
        name = t.name.decode()
        for mark in (SIGNAL, CONDITION):
            name = name.replace(mark, "")
        t.name = name.encode()
    return bytes(fb.convert_object_to_bytearray(model))


def quantize_weights(fp32: bytes, precision: str, signal_input: str) -> tuple[bytes, dict]:
    """``fp16`` or ``int8-dynamic`` model from the FP32 flatbuffer; returns (model, manifest info)."""
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

    ops = qtyping.TFLOperationName
    q = quantizer.Quantizer(bytearray(fp32))
    if precision == "fp16":
        for op in (ops.FULLY_CONNECTED, ops.CONV_2D):
            q.add_weight_only_config(".*", op, num_bits=16, algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
        info = {"mode": "fp16-weights", "tool": "ai-edge-quantizer", "weights": "float16",
                "activations": "float32", "op_types": ["FULLY_CONNECTED", "CONV_2D"]}
        with quiet_export("ai-edge-quantizer (fp16 weights)"):
            content = q.quantize(enable_progress_report=False).quantized_model
        return bytes(content), info
    marked, counts = mark_paths(fp32, signal_input)
    q = quantizer.Quantizer(bytearray(marked))
    for op in (ops.FULLY_CONNECTED, ops.CONV_2D):
        q.add_weight_only_config(CONDITION, op, num_bits=8)
        q.add_dynamic_config(SIGNAL, op, num_bits=8)
    with quiet_export("ai-edge-quantizer (dynamic-range int8)"):
        content = unmark(bytes(q.quantize(enable_progress_report=False).quantized_model))
    return content, {"mode": "dynamic-range", "tool": "ai-edge-quantizer", "per_channel": True, "weight_type": "int8",
                     "op_types": ["FULLY_CONNECTED", "CONV_2D"], "dynamic_ops": counts["signal"],
                     "weight_only_conditioning_ops": counts["condition"]}


# --- full INT8: PT2E in torch, calibrated, then converted ---------------------------------------------------

def _signal_quantizer(signal_input: str):
    """A litert-torch PT2E quantizer that annotates linear/conv on the signal path only."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.pt2e_quantizer_utils import OP_TO_ANNOTATOR, propagate_annotation

    class SignalPathQuantizer(PT2EQuantizer):
        def annotate(self, model):
            reached = set()
            for n in model.graph.nodes:  # FX graphs are topologically sorted
                if (n.op == "placeholder" and n.name == signal_input) or any(a in reached for a in n.all_input_nodes):
                    reached.add(n)
            if not reached:
                raise ValueError(f"no graph input named {signal_input!r} to quantise from")
            on_signal = lambda n: n.op != "call_function" or n in reached  # noqa: E731  weights pass
            for op in STATIC_OPS:
                OP_TO_ANNOTATOR[op](model, self.global_config, on_signal)
            propagate_annotation(model)
            return model

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    return SignalPathQuantizer().set_global(config)


def convert_int8(module: torch.nn.Module, kwargs: dict[str, torch.Tensor], calib: dict[str, np.ndarray],
                 signal_input: str, int8_io: bool = False) -> tuple[bytes, dict]:
    """Full-INT8 model: PT2E calibrated on ``calib`` ({input: (N, ...)}, fed in rows of the export batch)."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    start = time.perf_counter()
    batch = int(next(iter(kwargs.values())).shape[0])
    quantizer = _signal_quantizer(signal_input)
    n = len(next(iter(calib.values())))
    with torch.no_grad(), quiet_export():
        prepared = prepare_pt2e(torch.export.export(module.eval(), (), kwargs).module(), quantizer)
        rows = 0
        for i in range(0, n - batch + 1, batch):
            prepared(**{k: torch.from_numpy(np.ascontiguousarray(calib[k][i : i + batch], dtype=np.float32))
                        for k in kwargs})
            rows += batch
        quantized = convert_pt2e(prepared, fold_quantize=False)
        content = _to_bytes(litert_torch.convert(quantized, sample_kwargs=kwargs,
                                                 quant_config=QuantConfig(pt2e_quantizer=quantizer)))
    content, merged = share_buffers(content)
    io_note = "int8 signal input/output kept (--int8-io): quantise inputs with the tensor's scale and zero point"
    if not int8_io:
        content, changed = float_io(content)
        io_note = f"float32 I/O: QUANTIZE/DEQUANTIZE added at {', '.join(changed['inputs'] + changed['outputs']) or 'nothing'}"
    return content, {"mode": "static", "tool": "litert-torch PT2E", "per_channel": True, "weight_type": "int8",
                     "activation_type": "int8", "symmetric_weights": True, "op_types": STATIC_OPS,
                     "scope": "signal path (conditioning path stays float)", "calibration_rows": rows,
                     "io": io_note, "shared_buffers": merged, "seconds": round(time.perf_counter() - start, 2)}
