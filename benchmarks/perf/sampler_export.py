"""Export time, size and start-up of fused samplers against their step count: the Loop graph vs unrolling.

For FlowFM (Euler) and the diffusion twin (DDIM) at each ``--steps``, ``flowfm-edge export``
(cpu target, FP32 + static INT8, fused samplers only, the same calibration windows) is timed
end to end: tracing, quantisation, validation against PyTorch and the golden files. From the
bundle: the INT8 quantisation seconds, file sizes, trajectory errors against their gates, then
the onnxruntime session start-up and the batch-1 latency of each artefact (median of
``--repeats``, one thread).

The baseline is what export did before, for the twin at ``--unrolled-steps``: trace the whole
sampler unrolled (one step's nodes per step) and hand that graph to ``quantize_static``;
its time and the session start-up of the result are measured the same way, each under
``--unrolled-limit`` seconds (a step count past the limit is reported as not finished).

    python -m benchmarks.perf.sampler_export --flow-run RUN --diffusion-run RUN --calib hapt
    python -m benchmarks.perf.sampler_export --quick --out /tmp/sampler_export.json   # untrained nano models, synthetic calibration
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.kit import ints, result_path, start_environment, time_call, write_result
from benchmarks.perf.export_latency import ort_call
from benchmarks.perf.untrained_run import make_run
from flowfm_edge.bench.report import table
from flowfm_edge.export import ExportOptions, Limits, export_bundle


def latency(path: Path, feeds: dict, repeats: int) -> dict:
    """Session start-up and the median batch-1 call of an ONNX file, one thread."""
    t0 = time.perf_counter()
    call = ort_call(path, 1, feeds)
    start = time.perf_counter() - t0
    return {"session_start_s": round(start, 3), "batch1_ms": round(time_call(call, repeats, 1)["median_ms"], 2)}


def loop_row(run: Path, objective: str, steps: int, args, tmp: Path) -> dict:
    solver = "euler" if objective == "flow" else "ddim"
    opts = ExportOptions(target="cpu", precisions=["fp32", "int8"], graphs=["sampler"], steps=[steps], solvers=["euler"],
                         calib=args.calib, threads=1, force=True, limits=Limits(max_traj_error=args.max_traj_error))
    out = tmp / f"{objective}-{steps}"
    t0 = time.perf_counter()
    manifest = export_bundle(run, out, opts)
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    row = {"model": objective, "sampler": f"{solver}-{steps}", "graph": "loop", "steps": steps,
           "export_s": round(seconds, 2)}
    for a in manifest["artefacts"]:
        feeds = {"noise": rng.standard_normal((1, 3, 300)).astype(np.float32),
                 "r": rng.standard_normal((1, manifest["model"]["config"]["r_dim"])).astype(np.float32)}
        p = a["precision"]
        row[f"{p}_mb"] = round((out / a["file"]["path"]).stat().st_size / 1e6, 2)
        row[f"{p}_traj_error"] = a["validation"]["gate"]["value"]
        row[f"{p}_gate"] = a["validation"]["gate"]["limit"]
        if p == "int8":
            row["int8_quantise_s"] = a["quantisation"]["loop"]["quantise_seconds"]
        row |= {f"{p}_{k}": v for k, v in latency(out / a["file"]["path"], feeds, args.repeats).items()}
    return row


def _unrolled(run: str, steps: int, calib, repeats: int, queue) -> None:
    """The earlier path, in a child process: trace the DDIM sampler unrolled, quantise the whole graph."""
    from flowfm_edge.calibration import ArrayReader
    from flowfm_edge.export.diffusion import feeds
    from flowfm_edge.export.diffusion.graphs import build_graph, graph_spec
    from flowfm_edge.export.inputs import Windows, example_args
    from flowfm_edge.export.onnx.quantize import quantize_static
    from flowfm_edge.export.onnx.convert import export_onnx
    from flowfm_edge.training import load_model

    torch.set_num_threads(1)
    model = load_model(run)[0]
    spec = graph_spec("sampler", model.cfg, steps=steps)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        export_onnx(build_graph(spec, model), example_args(spec, model), spec, Path(tmp) / "f.onnx")
        traced = time.perf_counter()
        X = calib.X[: 64] if calib is not None else np.random.default_rng(0).standard_normal((64, 3, 300)).astype(np.float32)
        cal = feeds(spec, model, Windows(X, X[:16], None), [("ddim", steps)])[0]
        quantize_static(Path(tmp) / "f.onnx", Path(tmp) / "q.onnx", ArrayReader(cal), "noise")
        done = time.perf_counter()
        rng = np.random.default_rng(0)
        feeds = {"noise": rng.standard_normal((1, 3, 300)).astype(np.float32),
                 "r": rng.standard_normal((1, model.cfg.r_dim)).astype(np.float32)}
        row = {"trace_s": round(traced - t0, 2), "int8_quantise_s": round(done - traced, 2)}
        for p, f in (("fp32", "f.onnx"), ("int8", "q.onnx")):
            row[f"{p}_mb"] = round((Path(tmp) / f).stat().st_size / 1e6, 2)
            row |= {f"{p}_{k}": v for k, v in latency(Path(tmp) / f, feeds, repeats).items()}
        queue.put(row)


def unrolled_row(run: Path, steps: int, args) -> dict:
    from flowfm_edge.data import load_source

    calib = load_source(args.calib, split="labelled") if isinstance(args.calib, str) else None
    queue = mp.get_context("fork").Queue()
    child = mp.get_context("fork").Process(target=_unrolled, args=(str(run), steps, calib, args.repeats, queue))
    t0 = time.perf_counter()
    child.start()
    child.join(args.unrolled_limit)
    row = {"model": "diffusion", "sampler": f"ddim-{steps}", "graph": "unrolled", "steps": steps}
    if child.is_alive():
        child.kill()
        return row | {"export_s": f"> {args.unrolled_limit}", "note": "not finished within the limit"}
    return row | {"export_s": round(time.perf_counter() - t0, 2), **queue.get()}


COLUMNS = ["model", "sampler", "graph", "export_s", "int8_quantise_s", "fp32_mb", "int8_mb", "int8_traj_error",
           "int8_gate", "fp32_session_start_s", "int8_session_start_s", "fp32_batch1_ms", "int8_batch1_ms"]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flow-run", type=Path)
    ap.add_argument("--diffusion-run", type=Path)
    ap.add_argument("--preset", default="tiny", help="of the untrained models used without --flow-run/--diffusion-run")
    ap.add_argument("--calib", default="hapt", help="calibration windows: hapt, synthetic or an .npz file")
    ap.add_argument("--flow-steps", default="8,16,64,256")
    ap.add_argument("--ddim-steps", default="10,25,50,100,250")
    ap.add_argument("--unrolled-steps", default="10,25,50", help="twin step counts of the baseline (0 for none)")
    ap.add_argument("--unrolled-limit", type=float, default=300.0, help="seconds before a baseline export is stopped")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--max-traj-error", type=float, default=0.5, help="INT8 sampler gate, as "
                                                                       "benchmarks.claims.flowfm_vs_diffusion sets it "
                                                                       "(the export default is 0.1)")
    ap.add_argument("--quick", action="store_true", help="nano models, synthetic calibration, few step counts")
    ap.add_argument("--name", default=None, help="results file suffix (default: the preset, or 'runs')")
    ap.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/sampler_export_NAME.json)")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    torch.set_num_threads(1)
    env = start_environment(threads=1)
    if args.quick:
        args.preset, args.calib, args.flow_steps, args.ddim_steps, args.unrolled_steps = "nano", "synthetic", "8,64", "10,100", "10"
        args.repeats = 3
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = {obj: run or make_run(tmp / f"untrained-{obj}", args.preset, objective=obj)
                for obj, run in (("flow", args.flow_run), ("diffusion", args.diffusion_run))}
        for objective, steps_list in (("diffusion", args.ddim_steps), ("flow", args.flow_steps)):
            for steps in ints(steps_list):
                rows.append(loop_row(runs[objective], objective, steps, args, tmp))
                print(json.dumps(rows[-1]), flush=True)
        for steps in (s for s in ints(args.unrolled_steps) if s > 0):
            rows.append(unrolled_row(runs["diffusion"], steps, args))
            print(json.dumps(rows[-1]), flush=True)
    md = table(COLUMNS, [[f"{r[c]:.3g}" if isinstance(r.get(c), float) else r.get(c, "-") for c in COLUMNS] for r in rows])
    name = args.name or ("runs" if args.flow_run or args.diffusion_run else args.preset)
    write_result(result_path(args.out, f"sampler_export_{name}"),
                 {"protocol": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, env, md)
    print(md)


if __name__ == "__main__":
    main()
