"""Phone target: LiteRT artefact size and latency beside onnxruntime for the same models, and INT8 F1 drops.

Exports one run twice, ``--target android`` (LiteRT FP32 / FP16 weights / dynamic-range INT8 /
full INT8, batch 1) and ``--target cpu`` (ONNX FP32 / static INT8 / dynamic INT8), for the
encoder, classifier, velocity network and the fused 8-step Euler sampler. Then, for every
artefact at batch 1 and 1 and 2 threads, in a child process per runtime and thread count
(ai-edge-litert can abort the process on a malformed model): the first call, 3 warm-up
calls, and ``--repeats`` timed blocks of ``--calls`` calls; the figure is the median over
blocks of the mean call time (min and max beside it). LiteRT runs the ai-edge-litert
``Interpreter`` with the XNNPACK delegate (its default). With ``--f1-data`` every classifier
artefact labels the held-out subjects of that dataset (subject-wise split, seed 42; the
calibration windows come from the other subjects) and its macro-F1 drop against torch is
reported. Prints a table; writes JSON and Markdown.

    flowfm-edge train --data hapt --preset tiny --steps 300 --out runs/tiny
    flowfm-edge probe runs/tiny --data hapt
    python -m benchmarks.perf.litert_latency --run runs/tiny --calib hapt --f1-data hapt

Bundles are kept under ``--work`` (default ``runs/<run>-litert-bench``) and reused unless
``--fresh``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.kit import ints, result_path, start_environment, time_blocks, write_result
from flowfm_edge.bench.report import table

GRAPHS = ("encoder", "classifier", "velocity", "sampler")
LITERT = ("fp32", "fp16", "int8-dynamic", "int8")
ORT = ("fp32", "int8", "int8-dynamic")


# --- the timing worker: numpy + one runtime, run as a child process ----------------------------------------

def _feeds(inputs: dict[str, list], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shape in inputs.items():
        if name == "t":
            feeds[name] = rng.random(shape).astype(np.float32)
        else:
            feeds[name] = rng.standard_normal(shape).astype(np.float32) * (0.3 if name == "x" else 1.0)
            if name == "x":
                feeds[name][:, 2] += 1.0  # gravity on z
    return feeds


def worker(request: dict) -> list[dict]:
    out = []
    for job in request["jobs"]:
        feeds = _feeds(job["inputs"])
        if request["runtime"] == "litert":
            from flowfm_edge.runtimes.litert_interpreter import TFLiteModel

            model = TFLiteModel(job["path"], threads=request["threads"])
            call = lambda: model.invoke(feeds)  # noqa: E731
        else:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = request["threads"], 1
            session = ort.InferenceSession(job["path"], opts, providers=["CPUExecutionProvider"])
            call = lambda: session.run(None, feeds)  # noqa: E731
        out.append({**job, **time_blocks(call, request["repeats"], request["calls"])})
    return out


def run_worker(runtime: str, threads: int, jobs: list[dict], repeats: int, calls: int) -> list[dict]:
    request = {"runtime": runtime, "threads": threads, "jobs": jobs, "repeats": repeats, "calls": calls}
    res = subprocess.run([sys.executable, "-m", __spec__.name, "--worker", json.dumps(request)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{runtime} timing worker failed (status {res.returncode}): {res.stderr[-1500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --- exports, F1, report ------------------------------------------------------------------------------------

def export(run: Path, out: Path, target: str, precisions, calib, fresh: bool) -> dict:
    from flowfm_edge.export import ExportOptions, Limits, export_bundle
    from flowfm_edge.bundle.manifest import read_manifest

    if (out / "manifest.json").is_file() and not fresh:
        print(f"reusing {out}", file=sys.stderr)
        return read_manifest(out)
    # Gates wide open: every artefact is measured; the report compares each with the default gates.
    opts = ExportOptions(target=target, precisions=list(precisions), steps=[8], solvers=["euler"], graphs=list(GRAPHS),
                         calib=calib, calib_size=128, val_size=256, force=True,
                         limits=Limits(max_f1_drop=1.0, max_traj_error=10.0, max_rel_error=10.0))
    t0 = time.perf_counter()
    manifest = export_bundle(run, out, opts, log=lambda s: print("  " + s, file=sys.stderr, flush=True))
    manifest["bench_export_seconds"] = round(time.perf_counter() - t0, 1)
    return manifest


def held_out_f1(ws, test, run: Path, litert_bundle: Path, ort_bundle: Path) -> dict:
    """Macro-F1 of torch and every classifier artefact (LiteRT in a child process) on the held-out windows."""
    import torch
    from sklearn.metrics import f1_score

    from flowfm_edge.runtimes.litert_interpreter import run_isolated
    from flowfm_edge.runtimes import load
    from flowfm_edge.training import load_classifier

    x, y = ws.X[test], ws.y[test]
    clf, _ = load_classifier(run)
    with torch.no_grad():
        preds = {"torch": clf(torch.from_numpy(x)).argmax(1).numpy()}
    for p in ORT:
        preds[f"ort-{p}"] = load(ort_bundle, backend="onnxruntime", precision=p, threads=2).classify(x).argmax(1)
    outs = run_isolated([(litert_bundle / "litert" / f"classifier.{p}.tflite", {"x": x}) for p in LITERT], threads=2)
    preds.update({f"litert-{p}": o.argmax(1) for p, o in zip(LITERT, outs)})
    f1 = {k: float(f1_score(y, v, average="macro")) for k, v in preds.items()}
    return {"data": ws.source, "test_windows": int(len(test)), "test_subjects": int(len(np.unique(ws.pid[test]))),
            "macro_f1": f1, "drop_points": {k: 100 * (f1["torch"] - v) for k, v in f1.items() if k != "torch"}}


def markdown(report: dict) -> str:
    lat = {(r["runtime"], r["name"], r["precision"], r["threads"]): r for r in report["latency"]}

    def ms(rt, name, p, t):
        r = lat.get((rt, name, p, t))
        return f"{r['median_ms']:.2f}" if r else "—"

    def mb(rt, name, p):
        b = report["bytes"].get(f"{rt}:{name}.{p}")
        return f"{b / 1e6:.2f}" if b else "—"

    rows = [[name, p, mb("litert", name, p), ms("litert", name, p, 1), ms("litert", name, p, 2), mb("ort", name, p),
             ms("ort", name, p, 1), ms("ort", name, p, 2), report["gates"].get(f"{name}.{p}", "—")]
            for name in report["graphs"] for p in LITERT + tuple(q for q in ORT if q not in LITERT)]
    lines = [table(["graph", "precision", "LiteRT MB", "LiteRT 1t ms", "LiteRT 2t ms", "ORT MB", "ORT 1t ms", "ORT 2t ms",
                    "LiteRT gate"], rows)]
    f1 = report.get("held_out_f1")
    if f1:
        lines += ["", f"Held-out macro-F1 ({f1['data']}, {f1['test_windows']} windows of {f1['test_subjects']} "
                      f"subjects): torch {f1['macro_f1']['torch']:.4f}", "",
                  table(["classifier artefact", "macro-F1", "drop (points)"],
                        [[k, f"{f1['macro_f1'][k]:.4f}", f"{d:+.2f}"] for k, d in f1["drop_points"].items()])]
    return "\n".join(lines) + "\n"


def gate_outcomes(manifest: dict) -> dict:
    """Each LiteRT artefact against the default gates (the benchmark export opened them)."""
    from flowfm_edge.bundle.metrics import FP32_REL_TOLERANCE
    from flowfm_edge.export.validation import Limits

    lim = Limits()
    out = {}
    for a in manifest["artefacts"]:
        v, p = a["validation"], a["precision"]
        if p == "fp32":
            metric, value, limit = "rel_l2", v["rel_l2"], FP32_REL_TOLERANCE
        elif a["graph"] == "sampler":
            metric, value, limit = "traj", v["trajectory_error"], lim.max_traj_error
        elif "f1_drop" in v:
            metric, value, limit = "F1 drop", v["f1_drop"], lim.max_f1_drop
        else:
            metric, value, limit = "rel_l2", v["rel_l2"], lim.max_rel_error
        out[f"{a['name']}.{p}"] = f"{'pass' if value <= limit else 'FAIL'} ({metric} {value:.2g})"
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="trained run with a probe head (flowfm-edge probe); required")
    ap.add_argument("--calib", default="hapt", help="calibration/validation data (synthetic, hapt, .npz)")
    ap.add_argument("--f1-data", help="labelled data whose held-out subjects measure each classifier's macro-F1")
    ap.add_argument("--threads", default="1,2", type=ints)
    ap.add_argument("--repeats", type=int, default=7, help="timed blocks per artefact")
    ap.add_argument("--calls", type=int, default=20, help="calls per timed block")
    ap.add_argument("--work", type=Path, help="where the bundles go (default runs/<run>-litert-bench)")
    ap.add_argument("--fresh", action="store_true", help="re-export even if the bundles exist")
    ap.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/litert_latency_<run>.json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    return ap


def time_bundle(rt: str, manifest: dict, bundle: Path, args) -> tuple[list[dict], dict]:
    """Every artefact of one bundle at batch 1 and each thread count, in a child process per thread count; sizes."""
    jobs, sizes, latency = [], {}, []
    for a in manifest["artefacts"]:
        inputs = {t["name"]: [1 if isinstance(d, str) else d for d in t["shape"]] for t in manifest["graphs"][a["name"]]["inputs"]}
        jobs.append({"runtime": rt, "name": a["name"], "graph": a["graph"], "precision": a["precision"],
                     "path": str(bundle / a["file"]["path"]), "inputs": inputs})
        sizes[f"{rt}:{a['name']}.{a['precision']}"] = a["file"]["bytes"]
    for threads in args.threads:
        for r in run_worker(rt, threads, jobs, args.repeats, args.calls):
            latency.append({**r, "threads": threads})
            print(f"  {rt:<7} {r['name']:<16} {r['precision']:<13} {threads}t: {r['median_ms']:8.2f} ms "
                  f"(min {r['min_ms']:.2f}, max {r['max_ms']:.2f})", file=sys.stderr, flush=True)
    return latency, sizes


def main(argv=None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.run is None:
        ap.error("the following arguments are required: --run")
    from flowfm_edge.data import load_source, subject_split

    env = start_environment(threads=None)  # each latency row names its thread count
    work = args.work or Path("runs") / f"{args.run.name}-litert-bench"
    ws = load_source(args.calib)
    test = None
    if args.f1_data:  # calibrate on the other subjects only, so the F1 windows stay unseen
        if args.f1_data != args.calib:
            raise SystemExit("--f1-data must equal --calib, so calibration avoids the held-out subjects")
        train, test = subject_split(ws.pid, seed=42, where=ws.source)
    calib = ws.subset(train) if test is not None else ws
    bundles = {"litert": work / "android", "ort": work / "cpu"}
    manifests = {"litert": export(args.run, bundles["litert"], "android", LITERT, calib, args.fresh),
                 "ort": export(args.run, bundles["ort"], "cpu", ORT, calib, args.fresh)}
    latency, sizes = [], {}
    for rt, m in manifests.items():
        lat, size = time_bundle(rt, m, bundles[rt], args)
        latency, sizes = latency + lat, sizes | size
    f1 = held_out_f1(ws, test, args.run, bundles["litert"], bundles["ort"]) if test is not None else None
    report = {"run": str(args.run), "graphs": list(dict.fromkeys(a["name"] for a in manifests["litert"]["artefacts"])),
              "batch": 1, "statistic": "median over blocks of mean call time", "repeats": args.repeats,
              "calls": args.calls, "litert_versions": manifests["litert"].get("litert"), "bytes": sizes,
              "latency": latency, "gates": gate_outcomes(manifests["litert"]), "held_out_f1": f1,
              "classifier_int8_size_ratio": sizes.get("litert:classifier.fp32", 0) / max(1, sizes.get("litert:classifier.int8", 1))}
    md = markdown(report)
    write_result(result_path(args.out, f"litert_latency_{args.run.name}"), report, env, md)
    print(md)
    print(f"classifier FP32/full-INT8 size ratio: {report['classifier_int8_size_ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
