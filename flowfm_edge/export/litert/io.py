"""Edits and summaries of LiteRT flatbuffers: float I/O for full-INT8 models, shared weights, op counts.

PT2E static INT8 through litert-torch gives a model whose signal input and output are INT8
(the converter folds the boundary quantise/dequantise into the I/O types). :func:`float_io`
puts the float interface back: a QUANTIZE op in front of every INT8 input and a DEQUANTIZE
op after every INT8 output, with the tensors' own scale and zero point, so the caller feeds
raw g and gets float32 (``--int8-io`` keeps the INT8 interface instead).

:func:`share_buffers` stores identical constant buffers once: the unrolled fused sampler
quantises the same weights at every step, and its file size must not grow with steps.

Needs ``ai-edge-litert`` (its flatbuffer schema), imported when called.
"""

from __future__ import annotations

import collections
import hashlib


def _schema():
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    return schema, flatbuffer_utils


def _opcode_index(model, schema, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _float_twin(schema, tensor, name: str):
    t = schema.TensorT()
    t.name, t.shape, t.shapeSignature = name.encode(), list(tensor.shape), tensor.shapeSignature
    t.type, t.buffer = schema.TensorType.FLOAT32, 0
    return t


def float_io(content: bytes) -> tuple[bytes, dict]:
    """Give an INT8-I/O model float32 inputs and outputs; returns (new model, what changed)."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(content))
    sg = model.subgraphs[0]
    sig = model.signatureDefs[0] if model.signatureDefs else None
    quantize = _opcode_index(model, schema, schema.BuiltinOperator.QUANTIZE)
    dequantize = _opcode_index(model, schema, schema.BuiltinOperator.DEQUANTIZE)
    changed = {"inputs": [], "outputs": []}

    def op(code: int, src: int, dst: int):
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code, [src], [dst]
        return o

    def retarget(maps, old: int, new: int) -> None:
        for m in maps or []:
            if m.tensorIndex == old:
                m.tensorIndex = new

    front, back = [], []
    for pos, idx in enumerate(sg.inputs):
        t = sg.tensors[idx]
        if t.type == schema.TensorType.FLOAT32:
            continue
        sg.tensors.append(_float_twin(schema, t, t.name.decode() + "_float"))
        new = len(sg.tensors) - 1
        front.append(op(quantize, new, idx))
        sg.inputs[pos] = new
        retarget(sig.inputs if sig else None, idx, new)
        changed["inputs"].append(t.name.decode())
    for pos, idx in enumerate(sg.outputs):
        t = sg.tensors[idx]
        if t.type == schema.TensorType.FLOAT32:
            continue
        sg.tensors.append(_float_twin(schema, t, t.name.decode() + "_float"))
        new = len(sg.tensors) - 1
        back.append(op(dequantize, idx, new))
        sg.outputs[pos] = new
        retarget(sig.outputs if sig else None, idx, new)
        changed["outputs"].append(t.name.decode())
    sg.operators = front + list(sg.operators) + back
    return bytes(fb.convert_object_to_bytearray(model)), changed


def share_buffers(content: bytes) -> tuple[bytes, int]:
    """Point tensors with identical constant data at one buffer; returns (new model, buffers merged)."""
    _, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(content))
    first: dict[str, int] = {}
    remap: dict[int, int] = {}
    for i, buf in enumerate(model.buffers):
        if buf.data is None or len(buf.data) == 0:
            continue
        key = hashlib.sha256(bytes(buf.data)).hexdigest()
        if key in first:
            remap[i] = first[key]
        else:
            first[key] = i
    if not remap:
        return content, 0
    for sg in model.subgraphs:
        for t in sg.tensors:
            t.buffer = remap.get(t.buffer, t.buffer)
    for i in remap:  # emptied, not removed: buffer indices stay valid
        model.buffers[i].data = None
    return bytes(fb.convert_object_to_bytearray(model)), len(remap)


def summary(content: bytes) -> dict:
    """Op counts, I/O dtypes, and how many FULLY_CONNECTED/CONV_2D ops take INT8 weights, for the manifest."""
    schema, fb = _schema()
    model = fb.read_model_from_bytearray(bytearray(content))
    sg = model.subgraphs[0]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops, int8_weights, float_weights = collections.Counter(), collections.Counter(), collections.Counter()
    for o in sg.operators:
        code = model.operatorCodes[o.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        ops[name] += 1
        if name in ("FULLY_CONNECTED", "CONV_2D") and len(o.inputs) > 1 and o.inputs[1] >= 0:
            w = sg.tensors[o.inputs[1]]
            (int8_weights if w.type == schema.TensorType.INT8 else float_weights)[name] += 1
    io = {"inputs": {sg.tensors[i].name.decode(): types[sg.tensors[i].type] for i in sg.inputs},
          "outputs": {sg.tensors[i].name.decode(): types[sg.tensors[i].type] for i in sg.outputs}}
    return {"ops": dict(sorted(ops.items())), "int8_weight_ops": dict(sorted(int8_weights.items())),
            "float_weight_ops": dict(sorted(float_weights.items())), "io_dtypes": io}
