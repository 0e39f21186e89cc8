"""Latency of the exported graphs: torch eager vs onnxruntime FP32 vs INT8 (static QDQ and dynamic).

For the encoder, the classifier and the fused 8-step Euler sampler, at batch 1 and 16 and
1 and 2 threads: the median (and p90, min) of repeated single calls after warm-up, plus the
artefact sizes and the accuracy each artefact showed at export. Prints a table and writes
JSON and Markdown (``--out``, default ``benchmarks/results/export_latency.json``).

    python -m benchmarks.perf.export_latency --quick --out /tmp/export_latency.json   # a few repeats, minutes on 2 cores
    python -m benchmarks.perf.export_latency --run runs/hapt-tiny --calib hapt --f1-data hapt

Without ``--run`` the model is a freshly initialised ``--preset`` model (default tiny) with its
zero-initialised adaLN layers perturbed, and a probe head fitted on a few synthetic windows:
latency does not depend on training, but the accuracy figures of such a model mean little.
With ``--f1-data`` every classifier artefact also labels the held-out subjects of that
dataset (the probe's subject-wise split, seed 42), and the macro-F1 drop against torch is
reported.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.kit import ints, result_path, start_environment, time_call, write_result
from benchmarks.perf.untrained_run import make_run
from flowfm_edge.bench.report import table as md_table
from flowfm_edge.data import load_source, make_synthetic, subject_split
from flowfm_edge.export import TARGETS, ExportOptions, Limits, export_bundle
from flowfm_edge.training import load_classifier, load_model

GRAPHS = ("encoder", "classifier", "sampler-euler-8")
CPU = TARGETS["cpu"]  # the target table says which precisions the cpu target has
VARIANTS = ("torch",) + tuple(f"ort-{p}" for p in CPU.precisions)


def torch_call(graph: str, model, clf, feeds: dict):
    f = {k: torch.from_numpy(v) for k, v in feeds.items()}
    if graph == "encoder":
        return lambda: model.embed(f["x"])
    if graph == "classifier":
        return lambda: clf(f["x"])
    return lambda: model.sample(f["r"], steps=8, solver="euler", noise=f["noise"])


def ort_call(path: Path, threads: int, feeds: dict):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, feeds)


def make_feeds(graph: str, batch: int, r_dim: int, rng) -> dict:
    if graph in ("encoder", "classifier"):
        x = rng.standard_normal((batch, 3, 300)).astype(np.float32) * 0.3
        x[:, 2] += 1.0
        return {"x": x}
    return {"noise": rng.standard_normal((batch, 3, 300)).astype(np.float32),
            "r": rng.standard_normal((batch, r_dim)).astype(np.float32)}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="trained run to time (default: an untrained --preset model)")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batches", default="1,16", type=ints)
    ap.add_argument("--threads", default="1,2", type=ints)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up, small calibration set")
    ap.add_argument("--calib", help="calibration windows (synthetic, hapt, .npz); default a small synthetic set")
    ap.add_argument("--f1-data", help="labelled data whose held-out subjects measure each classifier's macro-F1")
    ap.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/export_latency.json)")
    return ap


def export(run: Path, bundle: Path, args) -> dict:
    """The cpu target's encoder, classifier and 8-step Euler sampler in every precision, gates wide open."""
    calib = (load_source(args.calib) if args.calib else
             make_synthetic(n_subjects=4, windows_per_activity=2 if args.quick else 6, seed=1))
    opts = ExportOptions(target=CPU.name, precisions=list(CPU.precisions), steps=[8], solvers=["euler"],
                         graphs=["encoder", "classifier", "sampler"], calib=calib,
                         calib_size=32 if args.quick else 128, val_size=32 if args.quick else 256,
                         limits=Limits(max_f1_drop=1.0, max_traj_error=10.0, max_rel_error=10.0))
    return export_bundle(run, bundle, opts, log=lambda s: print("  " + s, file=sys.stderr))


def time_all(model, clf, artefacts: dict, bundle: Path, args, repeats: int, warmup: int) -> list[dict]:
    """Every graph x batch x threads x variant (torch eager and each ONNX precision): median of single calls."""
    rng = np.random.default_rng(0)
    results = []
    for graph in GRAPHS:
        for batch in args.batches:
            feeds = make_feeds(graph, batch, model.cfg.r_dim, rng)
            for threads in args.threads:
                torch.set_num_threads(threads)
                for variant in VARIANTS:
                    if variant == "torch":
                        with torch.no_grad():
                            stats = time_call(torch_call(graph, model, clf, feeds), repeats, warmup)
                    else:
                        a = artefacts[(graph, variant.removeprefix("ort-"))]
                        stats = time_call(ort_call(bundle / a["file"]["path"], threads, feeds), repeats, warmup)
                    results.append({"graph": graph, "variant": variant, "batch": batch, "threads": threads, **stats})
                    print(f"  {graph:<16} {variant:<17} batch {batch:<3} threads {threads}: "
                          f"{stats['median_ms']:9.2f} ms", file=sys.stderr)
    return results


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    repeats, warmup = (3, 1) if args.quick else (args.repeats, args.warmup)
    env = start_environment(threads=None)  # each result row names its thread count
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run or make_run(tmp / "run", args.preset)
        t0 = time.perf_counter()
        manifest = export(run, tmp / "bundle", args)
        export_s = time.perf_counter() - t0
        model, _ = load_model(run)
        clf, _ = load_classifier(run)
        artefacts = {(a["name"], a["precision"]): a for a in manifest["artefacts"]}
        results = time_all(model, clf, artefacts, tmp / "bundle", args, repeats, warmup)
        held_out_f1 = classifier_f1(args.f1_data, clf, artefacts, tmp / "bundle") if args.f1_data else None
    sizes = {f"{a['name']}.{a['precision']}": a["file"]["bytes"] for a in manifest["artefacts"]}
    quality = {f"{a['name']}.{a['precision']}": {k: a["validation"].get(k) for k in
                                                  ("rel_l2", "cosine", "trajectory_error", "f1_drop")}
               for a in manifest["artefacts"]}
    report = {"preset": model.cfg.preset, "trained": args.run is not None,
              "parameters": sum(p.numel() for p in model.parameters()), "quick": args.quick, "repeats": repeats,
              "warmup": warmup, "statistic": "median of single calls", "export_seconds": round(export_s, 1),
              "results": results, "artefact_bytes": sizes, "export_quality": quality, "held_out_f1": held_out_f1}
    md = table(results, args.batches, args.threads)
    write_result(result_path(args.out, "export_latency"), report, env, md)
    print(md)
    print("\nartefact sizes (MB): " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sizes.items()))
    if held_out_f1:
        print("\nheld-out macro-F1: " + ", ".join(f"{k} {v:.4f}" for k, v in held_out_f1["macro_f1"].items()))
    return 0


def classifier_f1(data: str, clf, artefacts: dict, bundle: Path) -> dict:
    """Macro-F1 of torch and of every classifier artefact on the test subjects of ``data``."""
    from sklearn.metrics import f1_score

    ws = load_source(data)
    _, test = subject_split(ws.pid, seed=42, where=ws.source)
    x = ws.X[test]
    with torch.no_grad():
        preds = {"torch": clf(torch.from_numpy(x)).argmax(1).numpy()}
    for (graph, precision), a in artefacts.items():
        if graph == "classifier":
            run = ort_call(bundle / a["file"]["path"], 2, {"x": x})
            preds[f"ort-{precision}"] = np.asarray(run()[0]).argmax(1)
    f1 = {k: float(f1_score(ws.y[test], p, average="macro")) for k, p in preds.items()}
    return {"data": ws.source, "test_windows": int(len(test)), "macro_f1": f1,
            "drop_points": {k: 100 * (f1["torch"] - v) for k, v in f1.items() if k != "torch"}}


def table(results: list[dict], batches: list[int], thread_counts: list[int]) -> str:
    """Markdown: one row per (graph, batch, threads), one column per variant, median ms."""
    rows = []
    for graph in GRAPHS:
        for batch in batches:
            for threads in thread_counts:
                cell = {r["variant"]: r["median_ms"] for r in results
                        if r["graph"] == graph and r["batch"] == batch and r["threads"] == threads}
                rows.append([graph, batch, threads, *(f"{cell[v]:.2f}" for v in VARIANTS)])
    return md_table(["graph", "batch", "threads", *VARIANTS], rows)


if __name__ == "__main__":
    sys.exit(main())
