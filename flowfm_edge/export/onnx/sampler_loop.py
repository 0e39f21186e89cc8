"""Fused samplers for onnxruntime as an ONNX ``Loop`` over one step graph: FP32 or INT8, any step count.

Tracing a fused sampler unrolls its solver loop: a tiny DDIM-250 sampler has 98,000 nodes,
onnxruntime takes over a minute to open it, and ``quantize_static`` (which rewires node
inputs in a loop over every node for every tensor it quantises) ran for over 20 minutes on a
100-step one. Here the graph holds one step, whatever the step count:

1. The step body (:meth:`VelocityNet.forward_from_condition`: z (B, 3, 300) and the condition c
   (B, D) in, v or eps (B, 3, 300) out) is exported once. For INT8 it is quantised under the
   rules of :mod:`.quantize`, calibrated on the (z, c) of every step call the sampler makes
   on the calibration inputs (found by running the sampler module itself in torch).
2. The condition (:meth:`.graphs.FusedSampler.condition`) and one solver step
   (:meth:`~.graphs.FusedSampler.advance`) are traced with the step call as a placeholder
   node, so the solver arithmetic and the conditioning stay float.
3. The step graph replaces the placeholders in the traced solver step, which becomes the body
   of a ``Loop`` over the sampler's K steps. The body reads its step's row of each per-step
   table (time embeddings, step sizes or DDIM coefficients, (K, ...) initializers) with
   ``Gather`` on the iteration number.

The file and the session's start-up stay the size of one step. INT8 activation scales are
shared by all steps: one set, calibrated over all of them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..graphs import GraphSpec
from .step import StepGraph, step_inputs, step_replaced, step_spec

DOMAIN, PLACEHOLDER = "flowfm_edge", "Step"


@torch.library.custom_op(f"{DOMAIN}::step_placeholder", mutates_args=())
def _step_placeholder(z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Stands for one step call while the solver is traced; only its shape is used, so it returns a copy of z."""
    return z.clone()


def _placeholder_symbolic(g, z, c):
    return g.op(f"{DOMAIN}::{PLACEHOLDER}", z, c).setType(z.type())


class _Condition(nn.Module):
    def __init__(self, sampler: nn.Module):
        super().__init__()
        self.sampler = sampler

    def forward(self, cond_input: torch.Tensor):
        return self.sampler.condition(cond_input)


class _Advance(nn.Module):
    def __init__(self, sampler: nn.Module, guidance: bool):
        super().__init__()
        self.sampler, self.guidance = sampler, guidance

    def forward(self, z: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        names = list(self.sampler.tables)
        rows, rest = dict(zip(names, args[: len(names)])), args[len(names) :]
        conds, w = (rest[:-1], rest[-1]) if self.guidance else (rest, None)
        return self.sampler.advance(z, rows, conds, w)


def _trace(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str], batched: set[str]):
    """:func:`.to_onnx.trace_legacy`, with the step placeholder's ONNX symbolic registered."""
    from .convert import OPSET, quiet_export, trace_legacy

    torch.onnx.register_custom_op_symbolic(f"{DOMAIN}::step_placeholder", _placeholder_symbolic, OPSET)
    with torch.no_grad(), quiet_export():
        return trace_legacy(module, args, inputs, outputs, batched, OPSET)


def _prefixed(graph, prefix: str, keep: set[str]) -> None:
    """Rename every tensor of ``graph`` (in place) to ``prefix + name``, except those in ``keep`` and empty names."""
    ren = lambda n: n if (not n or n in keep) else prefix + n  # noqa: E731
    for init in graph.initializer:
        init.name = ren(init.name)
    for node in graph.node:
        node.input[:] = [ren(n) for n in node.input]
        node.output[:] = [ren(n) for n in node.output]
        node.name = prefix + (node.name or node.op_type)
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        v.name = ren(v.name)


def inline_steps(graph, step) -> int:
    """Replace every placeholder node of ``graph`` (a GraphProto, in place) by ``step``'s nodes; returns how many.

    ``step`` (a ModelProto) has inputs (z, c) and one output. Its initializers are added once,
    under a ``step.`` prefix, and shared by every copy.
    """
    import onnx

    inner = step.graph
    inputs, output = [i.name for i in inner.input], inner.output[0].name
    shared = {i.name for i in inner.initializer}
    for init in inner.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = "step." + init.name
        graph.initializer.append(copy)
    nodes, k = [], 0
    for node in graph.node:
        if not (node.domain == DOMAIN and node.op_type == PLACEHOLDER):
            nodes.append(node)
            continue
        outer = dict(zip(inputs, node.input)) | {output: node.output[0]}

        def rename(name: str) -> str:
            if not name or name in outer:
                return outer.get(name, name)
            return "step." + name if name in shared else f"s{k}/{name}"

        for n in inner.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            copy.name = f"s{k}/{n.name}"
            copy.input[:] = [rename(i) for i in n.input]
            copy.output[:] = [rename(o) for o in n.output]
            nodes.append(copy)
        k += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return k


class LoopedSampler:
    """One fused sampler ``module`` (a :class:`~.graphs.FusedSampler`) as a Loop graph, FP32 or INT8.

    Traces the condition and one solver step on construction; ``tmp`` holds the step graphs
    while the bundle is written.
    """

    def __init__(self, module: nn.Module, spec: GraphSpec, example: tuple, tmp: Path):
        from .convert import export_onnx

        start = time.perf_counter()
        self.module, self.spec, self.tmp = module, spec, Path(tmp)
        self.guidance = "w" in spec.input_names
        noise, cond_input = example[0], example[1]
        with torch.no_grad():
            conds = tuple(module.condition(cond_input))
        self.n_conds = len(conds)
        cond_names = [f"cond{i}" for i in range(self.n_conds)]
        self.condition = _trace(_Condition(module), (cond_input,), [spec.input_names[1]], cond_names,
                                {spec.input_names[1], *cond_names})
        rows = module.rows(0)
        row_names = [f"row_{n}" for n in rows]
        args = (noise, *rows.values(), *conds) + ((example[2],) if self.guidance else ())
        inputs = ["z", *row_names, *cond_names] + (["w"] if self.guidance else [])
        with step_replaced(module, lambda _net, z, c: _step_placeholder(z, c)):
            self.advance = _trace(_Advance(module, self.guidance), args, inputs, ["z_next"],
                                  {"z", "z_next", "w", *cond_names})
        cfg, dim = module.net.cfg, conds[0].shape[1]
        g = torch.Generator().manual_seed(0)
        step_args = (torch.randn(2, cfg.channels, cfg.window, generator=g), torch.randn(2, dim, generator=g))
        self.step_fp32 = self.tmp / f"{spec.name}.step.fp32.onnx"
        export_onnx(StepGraph(module.net).eval(), step_args, step_spec(cfg.channels, cfg.window, dim), self.step_fp32)
        self.trace_seconds = time.perf_counter() - start

    def build(self, step_path: Path, dst: Path) -> dict:
        """Write the Loop sampler with the step graph at ``step_path``; returns node counts."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        step = onnx.load(str(step_path))
        spec, m = self.spec, self.module
        noise_name, cond_input = spec.input_names[0], spec.input_names[1]
        cond_names = [f"cond{i}" for i in range(self.n_conds)]
        # outer graph: condition (prefixed), per-step tables, Loop, x = z * std + mean
        condition = onnx.GraphProto()
        condition.CopyFrom(self.condition.graph)
        _prefixed(condition, "cond/", {cond_input, *cond_names})
        body, calls = self._body(step, cond_names)
        tables = {f"table_{n}": getattr(m, n).detach().float().numpy() for n in m.tables}
        loop = helper.make_node("Loop", ["loop_steps", "loop_cond", noise_name], ["z_final"], name="loop", body=body)
        out = [helper.make_node("Mul", ["z_final", "std"], ["z_scaled"], name="denormalise_scale"),
               helper.make_node("Add", ["z_scaled", "mean"], [spec.output_name], name="denormalise_shift")]
        inits = list(condition.initializer) + [numpy_helper.from_array(v, k) for k, v in tables.items()] + [
            numpy_helper.from_array(np.array(m.n_steps, np.int64), "loop_steps"),
            numpy_helper.from_array(np.array(True), "loop_cond"),
            numpy_helper.from_array(m.std.numpy().astype(np.float32), "std"),
            numpy_helper.from_array(m.mean.numpy().astype(np.float32), "mean")]
        graph = helper.make_graph(list(condition.node) + [loop] + out, spec.name,
                                  [self._input(n) for n in spec.input_names],
                                  [helper.make_tensor_value_info(spec.output_name, TensorProto.FLOAT,
                                                                 ["batch", m.net.cfg.channels, m.net.cfg.window])],
                                  inits)
        versions: dict[str, int] = {}
        for proto in (self.condition, self.advance, step):
            for o in proto.opset_import:
                if o.domain != DOMAIN:
                    versions[o.domain] = max(versions.get(o.domain, 0), o.version)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in versions.items()],
                                  producer_name="flowfm-edge")
        model.ir_version = self.advance.ir_version
        onnx.checker.check_model(model)
        dst.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, str(dst))
        return {"steps": m.n_steps, "step_calls_per_step": calls, "step_nodes": len(step.graph.node),
                "loop_body_nodes": len(body.node), "nodes": len(graph.node)}

    def _body(self, step, cond_names: list[str]):
        """The Loop body: (iter, cond_in, z) -> (cond_out, z_next), the traced solver step with ``step`` inlined.

        It reads its row of each per-step table (``table_<name>``) and the conditions from the
        outer graph. Returns the body and the step calls per solver step.
        """
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        m = self.module
        body = onnx.GraphProto()
        body.CopyFrom(self.advance.graph)
        calls = inline_steps(body, step)
        outer_refs = set(cond_names) | ({"w"} if self.guidance else set())
        _prefixed(body, "body/", outer_refs | {f"row_{n}" for n in m.tables} | {"z", "z_next"})
        gathers = [helper.make_node("Unsqueeze", ["iter", "body/axis0"], ["body/idx"], name="body/idx")]
        gathers += [helper.make_node("Gather", [f"table_{n}", "body/idx"], [f"row_{n}"], name=f"body/row_{n}", axis=0)
                    for n in m.tables]
        body.initializer.append(numpy_helper.from_array(np.array([0], np.int64), "body/axis0"))
        nodes = list(body.node)
        del body.node[:]
        body.node.extend(gathers + nodes + [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body/cond")])
        del body.input[:]
        body.input.extend([helper.make_tensor_value_info("iter", TensorProto.INT64, []),
                           helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
        del body.output[:]
        body.output.extend([helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                            helper.make_tensor_value_info("z_next", TensorProto.FLOAT, None)])
        del body.value_info[:]
        body.name = "step"
        return body, calls

    def _input(self, name: str):
        from onnx import TensorProto, helper

        shape = next(t.shape for t in self.spec.inputs if t.name == name)
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    def export_fp32(self, dst: Path) -> dict:
        """The FP32 sampler; returns the manifest's export entry."""
        from .convert import OPSET

        start = time.perf_counter()
        counts = self.build(self.step_fp32, dst)
        return {"exporter": "legacy", "opset": OPSET, "graph": "loop",
                "export_seconds": round(self.trace_seconds + time.perf_counter() - start, 2), **counts,
                "exporter_note": f"an ONNX Loop over {counts['steps']} steps of one traced solver step, with "
                                 f"{counts['step_calls_per_step']} step graph(s) of {counts['step_nodes']} nodes inside"}

    def quantize(self, dst: Path, calib: dict[str, np.ndarray], method: str = "minmax", seed: int = 0) -> dict:
        """Static INT8: the step quantised once (calibrated on its (z, c) along the calibration runs), in the Loop.

        ``calib`` holds the sampler's own calibration inputs (noise, r or e[, w]). Returns the
        manifest's quantisation entry.
        """
        from ...calibration import ArrayReader
        from .quantize import quantize_static

        start = time.perf_counter()
        reader = ArrayReader(step_inputs(self.module, calib, self.spec.input_names, seed=seed))
        step_int8 = self.tmp / f"{self.spec.name}.step.int8.onnx"
        info = quantize_static(self.step_fp32, step_int8, reader, "z", method)
        quantised = time.perf_counter()
        counts = self.build(step_int8, dst)
        return {**info, "calibration_set": reader.describe() | {"of": "(z, c) of step calls on the calibration inputs"},
                "loop": {**counts, "quantise_seconds": round(quantised - start, 2),
                         "build_seconds": round(time.perf_counter() - quantised, 2)}}

    def quantize_dynamic(self, dst: Path) -> dict:
        """Dynamic INT8 of the step (activation scales at run time), in the Loop; returns the quantisation entry."""
        from .quantize import quantize_dynamic

        start = time.perf_counter()
        step_int8 = self.tmp / f"{self.spec.name}.step.int8-dynamic.onnx"
        info = quantize_dynamic(self.step_fp32, step_int8, "z")
        quantised = time.perf_counter()
        counts = self.build(step_int8, dst)
        return {**info, "loop": {**counts, "quantise_seconds": round(quantised - start, 2),
                                 "build_seconds": round(time.perf_counter() - quantised, 2)}}
