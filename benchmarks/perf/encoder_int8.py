"""INT8 encoder and classifier latency against torch eager, over the ways onnxruntime can be asked to run them.

From one run (a probe head in it, for the classifier), the encoder and classifier graphs are
exported to FP32 ONNX as ``flowfm-edge export`` writes them, and each variant below is built
from those files:

- ``fp32``: the exported graph; ``fused-fp32``: after onnxruntime's transformer optimiser
  (``onnxruntime.transformers.optimizer``, model type vit: SkipLayerNormalization, FastGelu,
  Attention where its pattern is found);
- ``static``: static QDQ INT8 as the export writes it (U8 activations, 7-bit S8 per-channel
  weights, MinMax on the calibration windows); ``static-8bit``: the same with 8-bit weights
  (this CPU has VNNI, so its U8S8 kernels do not saturate); ``static-qop``: QOperator format;
  ``fused-static``: the transformer optimiser first, then static QDQ;
- ``dynamic``: dynamic INT8 as the export writes it; ``fused-dynamic``: optimiser first;
- ``attn-fp32``, ``attn-dynamic``: the encoder re-exported with its attention written as the
  pattern onnxruntime's Attention fusion matches (separate q, k and v projections, explicit
  softmax(q k^T / sqrt(d)) v; the same function, checked against torch), then the optimiser,
  which now fuses Attention too; ``attn-dynamic`` quantises MatMul and Attention dynamically
  (QAttention);
- ``slim-fp32``, ``slim-dynamic``: the exported graph simplified by onnxslim (``pip install
  onnxslim``; without it these two are reported as not built), then dynamic INT8 as the export
  writes it.

Each variant runs at batch 1 on 1 and 2 threads, with onnxruntime's default session options,
with spinning off (``nospin``), and with spinning off and IO binding (``iobind``: the input and
preallocated outputs bound once as OrtValues, ``run_with_iobinding`` per call, so no output is
allocated or copied per call); ``--sessions`` and ``--variants`` choose among them. Latency is
the median of ``--rounds`` rounds of ``--calls`` calls, the variants interleaved in every round so machine load falls on all of
them alike. The classifier variants also label HAPT's held-out subjects (the probe's
subject-wise split, seed 42); the macro-F1 drop against torch is reported (gate: 0.5 point).

    python -m benchmarks.perf.encoder_int8 --run runs/hapt-tiny --calib hapt --f1-data hapt
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.kit import ints, interleaved_ms, result_path, start_environment, write_result
from flowfm_edge.bench.report import table
from flowfm_edge.data import load_source, subject_split
VARIANTS = ("fp32", "fused-fp32", "static", "static-8bit", "static-qop", "fused-static", "dynamic", "fused-dynamic",
            "attn-fp32", "attn-dynamic", "slim-fp32", "slim-dynamic")


class SplitAttention(torch.nn.Module):
    """``layers.Attention`` with q, k and v as three projections and the attention written out, for the fusion."""

    def __init__(self, attn):
        super().__init__()
        dim = attn.out.in_features
        self.heads, self.out = attn.heads, attn.out
        self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))
        with torch.no_grad():
            for lin, w, b in zip((self.q, self.k, self.v), attn.qkv.weight.chunk(3), attn.qkv.bias.chunk(3)):
                lin.weight.copy_(w)
                lin.bias.copy_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        H = self.heads
        q = self.q(x).reshape(B, T, H, D // H).transpose(1, 2)
        k = self.k(x).reshape(B, T, H, D // H).permute(0, 2, 3, 1)
        v = self.v(x).reshape(B, T, H, D // H).transpose(1, 2)
        a = (torch.matmul(q, k) / math.sqrt(D // H)).softmax(dim=-1)
        return self.out(torch.matmul(a, v).transpose(1, 2).reshape(B, T, D))


def split_attention(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` with every attention layer a :class:`SplitAttention`."""
    from flowfm_edge.models.layers import Attention

    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Attention):
                setattr(parent, name, SplitAttention(child))
    return module


def fused(src: Path, dst: Path, cfg) -> dict:
    from onnxruntime.transformers import optimizer

    m = optimizer.optimize_model(str(src), model_type="vit", num_heads=cfg.heads, hidden_size=cfg.dim, opt_level=0)
    m.save_model_to_file(str(dst))
    return {k: v for k, v in m.get_fused_operator_statistics().items() if v}


def slimmed(src: Path, dst: Path) -> dict:
    """``src`` simplified by onnxslim; its node count before and after."""
    import onnx
    import onnxslim

    before = len(onnx.load(str(src)).graph.node)
    model = onnxslim.slim(str(src))
    onnx.save(model, str(dst))
    return {"nodes": [before, len(model.graph.node)]}


def static_qop(src: Path, dst: Path, reader, head: bool) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from flowfm_edge.export.onnx.quantize import STATIC_OPS, float_nodes, preprocess

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        preprocess(src, pre)
        quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QOperator, op_types_to_quantize=list(STATIC_OPS),
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=sum(float_nodes(pre, "x", head), []))


def build_variants(fp32: Path, split_fp32: Path, out: Path, calib: np.ndarray, cfg, head: bool) -> dict[str, dict]:
    """Every variant's ONNX file from the exported FP32 graphs (as exported, and with split attention):
    {variant: {"path", "note"}}. ``head``: a classifier, whose linear head stays float as in the export."""
    from flowfm_edge.calibration import ArrayReader
    from flowfm_edge.export.onnx.quantize import quantize_dynamic, quantize_static

    stem = fp32.stem.split(".")[0]
    paths = {v: out / f"{stem}.{v}.onnx" for v in VARIANTS}
    notes = {"fp32": {}}
    paths["fp32"] = fp32
    notes["fused-fp32"] = fused(fp32, paths["fused-fp32"], cfg)
    notes["attn-fp32"] = fused(split_fp32, paths["attn-fp32"], cfg)
    builders = {
        "static": lambda: quantize_static(fp32, paths["static"], ArrayReader({"x": calib}), "x", float_head=head),
        "static-8bit": lambda: quantize_static(fp32, paths["static-8bit"], ArrayReader({"x": calib}), "x", reduce_range=False,
                                               float_head=head),
        "static-qop": lambda: static_qop(fp32, paths["static-qop"], ArrayReader({"x": calib}), head),
        "fused-static": lambda: quantize_static(paths["fused-fp32"], paths["fused-static"], ArrayReader({"x": calib}), "x",
                                                float_head=head),
        "dynamic": lambda: quantize_dynamic(fp32, paths["dynamic"], "x", float_head=head),
        "fused-dynamic": lambda: quantize_dynamic(paths["fused-fp32"], paths["fused-dynamic"], "x", float_head=head),
        "attn-dynamic": lambda: quantize_dynamic(paths["attn-fp32"], paths["attn-dynamic"], "x", float_head=head,
                                                 op_types=("MatMul", "Attention")),
        "slim-fp32": lambda: slimmed(fp32, paths["slim-fp32"]),
        "slim-dynamic": lambda: quantize_dynamic(paths["slim-fp32"], paths["slim-dynamic"], "x", float_head=head),
    }
    for v, build in builders.items():
        try:
            info = build()
            notes[v] = {k: info[k] for k in ("quantised", "nodes") if k in info} if isinstance(info, dict) else {}
        except Exception as exc:  # noqa: BLE001  a variant onnxruntime cannot build is reported, not fatal
            notes[v] = {"failed": f"{type(exc).__name__}: {str(exc)[:200]}"}
            paths.pop(v)
    return {v: {"path": p, **notes.get(v, {})} for v, p in paths.items()}


def session(path: Path, threads: int, spin: bool):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def bound_call(s, x: np.ndarray):
    """A call of session ``s`` on ``x`` through IO binding: input and outputs bound once, nothing allocated per call."""
    import onnxruntime as ort

    io = s.io_binding()
    io.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(x))
    for o, value in zip(s.get_outputs(), s.run(None, {"x": x})):
        io.bind_ortvalue_output(o.name, ort.OrtValue.ortvalue_from_numpy(np.empty_like(value)))
    return lambda: s.run_with_iobinding(io)


def macro_f1(data: str, clf, files: dict) -> dict:
    from sklearn.metrics import f1_score

    ws = load_source(data)
    _, test = subject_split(ws.pid, seed=42, where=ws.source)
    x = np.ascontiguousarray(ws.X[test], dtype=np.float32)
    with torch.no_grad():
        preds = {"torch": clf(torch.from_numpy(x)).argmax(1).numpy()}
    for v, f in files.items():
        s = session(f["path"], 2, True)
        preds[v] = np.concatenate([s.run(None, {"x": x[i : i + 256]})[0] for i in range(0, len(x), 256)]).argmax(1)
    f1 = {k: float(f1_score(ws.y[test], p, average="macro")) for k, p in preds.items()}
    return {"test_windows": int(len(test)), "macro_f1": f1, "drop_points": {k: 100 * (f1["torch"] - v) for k, v in f1.items()}}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a run with a probe head (`flowfm-edge probe RUN --data hapt`)")
    ap.add_argument("--calib", default="hapt", help="calibration windows (128 drawn from its labelled split)")
    ap.add_argument("--f1-data", default="hapt")
    ap.add_argument("--threads", default="1,2", type=ints)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--sessions", default="default,nospin,iobind", help="session settings timed: default, nospin, iobind")
    ap.add_argument("--variants", default="all", help="comma list of the encoder variants timed (default: all)")
    ap.add_argument("--name", default=None, help="results file suffix (default: the run's name)")
    ap.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/encoder_int8_NAME.json)")
    return ap


def build_all(clf, classes, calib: np.ndarray, tmp: Path) -> dict[str, dict]:
    """Every variant of the encoder and the classifier graphs, from their FP32 exports (as exported, and with the
    attention split for onnxruntime's fusion, checked equal to the model first)."""
    from flowfm_edge.export.graphs import ClassifierGraph, EncoderGraph, graph_spec
    from flowfm_edge.export.inputs import example_args
    from flowfm_edge.export.onnx.convert import export_onnx

    model, head = clf.model.eval(), clf.head.eval()
    built = {}
    for graph, module in (("encoder", EncoderGraph(model)), ("classifier", ClassifierGraph(model, head))):
        spec = graph_spec(graph, model.cfg, n_classes=len(classes))
        fp32, split_fp32 = tmp / f"{graph}.fp32.onnx", tmp / f"{graph}-split.fp32.onnx"
        export_onnx(module.eval(), example_args(spec, model), spec, fp32)
        split = split_attention(module).eval()
        with torch.no_grad():
            gap = (split(torch.from_numpy(calib)) - module(torch.from_numpy(calib))).abs().max().item()
        if gap >= 1e-4:
            raise SystemExit(f"split attention differs from the model by {gap}")
        export_onnx(split, example_args(spec, model), spec, split_fp32)
        built[graph] = build_variants(fp32, split_fp32, tmp, calib, model.cfg, head=graph == "classifier")
    return built


def time_encoders(model, built: dict, x1: np.ndarray, threads: int, timed: set, args, f1: dict | None) -> list[dict]:
    """Torch eager and every timed encoder variant under every session setting, at ``threads``, interleaved."""
    torch.set_num_threads(threads)
    calls = {("torch", "-"): lambda: model.embed(torch.from_numpy(x1))}
    for v, f in built.items():
        if v not in timed:
            continue
        for opt in args.sessions.split(","):
            s = session(f["path"], threads, spin=opt == "default")
            calls[(v, opt)] = bound_call(s, x1) if opt == "iobind" else lambda s=s: s.run(None, {"x": x1})
    with torch.no_grad():
        ms = {k: float(np.median(v)) for k, v in interleaved_ms(calls, args.rounds, args.calls).items()}
    rows = []
    for (v, opt), t in ms.items():
        drop = None if f1 is None or v == "torch" else round(f1["drop_points"].get(v, float("nan")), 3)
        rows.append({"graph": "encoder", "variant": v, "session": opt, "threads": threads, "batch": 1,
                     "median_ms": round(t, 4), "speedup_vs_torch": round(ms[("torch", "-")] / t, 2), "f1_drop_points": drop})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    from flowfm_edge.training import load_classifier

    ap = parser()
    args = ap.parse_args(argv)
    timed = set(VARIANTS) if args.variants == "all" else set(args.variants.split(","))
    bad = sorted(set(args.sessions.split(",")) - {"default", "nospin", "iobind"}) + sorted(timed - set(VARIANTS))
    if bad:
        ap.error(f"unknown session settings or variants: {', '.join(bad)}; variants: {', '.join(VARIANTS)}")
    env = start_environment(threads=None)  # each row names its thread count
    clf, classes = load_classifier(args.run)
    ws = load_source(args.calib)
    calib = np.ascontiguousarray(ws.X[np.random.default_rng(0).choice(len(ws), 128, replace=False)], dtype=np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        built = build_all(clf, classes, calib, Path(tmp))
        f1 = macro_f1(args.f1_data, clf, built["classifier"]) if args.f1_data else None
        for threads in args.threads:
            rows += time_encoders(clf.model, built["encoder"], calib[:1], threads, timed, args, f1)
        notes = {g: {v: {k: x for k, x in f.items() if k != "path"} for v, f in b.items()} for g, b in built.items()}
    cols = ["threads", "variant", "session", "median_ms", "speedup_vs_torch", "f1_drop_points"]
    md = table(cols, [[r[c] for c in cols] for r in rows])
    write_result(result_path(args.out, f"encoder_int8_{args.name or args.run.name}"),
                 {"protocol": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "macro_f1": f1, "variants": notes},
                 env, md)
    print(md)


if __name__ == "__main__":
    main()
