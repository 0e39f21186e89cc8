"""Sections on speed: training throughput, the INT8 encoder against torch eager, exporting fused samplers, and the
phone target (LiteRT)."""

from __future__ import annotations

from .model import Results, Row, Section, f

THROUGHPUT = {"AMD EPYC": "train_throughput_tiny_2threads.json", "Intel Xeon": "train_throughput_tiny_2threads_xeon_compile.json"}
INT8 = {"AMD EPYC": ("encoder_int8_hapt_tiny_10000steps.json",),
        "Intel Xeon": ("encoder_int8_hapt_tiny_400steps_xeon.json", "encoder_int8_hapt_tiny_400steps_xeon_iobind.json",
                       "encoder_int8_hapt_tiny_400steps_xeon_slim.json")}


def training_throughput(r: Results) -> Section:
    best, baseline = {}, {}
    for machine, name in THROUGHPUT.items():
        rows = {x["variant"]: x["windows_per_s_median"] for x in r(name)["results"]}
        best[machine] = max(rows.items(), key=lambda kv: kv[1])
        baseline[machine] = rows["fp32"]
    return Section(
        "Training throughput",
        "Full optimiser steps of the training loop, tiny, batch 64, 2 threads; variants alternate within each repeat, medians.",
        [Row("tiny training >= 400 windows/s on 2 cores",
             "; ".join(f"{m}: {v:.0f} ({name})" for m, (name, v) in best.items()), all(v >= 400 for _, v in best.values()),
             "; ".join(f"{m} fp32: {v:.0f}" for m, v in baseline.items()))],
        r.used(), "bf16 autocast pays on the EPYC (native bf16 matmuls 4x fp32) and not on the Xeon, where `amp auto` "
                  "stays fp32 and `--compile` is the best.")


def int8_encoder(r: Results) -> Section:
    rows, torch_ms = {}, {}
    for machine, names in INT8.items():
        all_rows = [x for name in names for x in r(name)["rows"]]
        rows[machine] = max(all_rows, key=lambda x: x["speedup_vs_torch"])
        torch_ms[machine] = min(x["median_ms"] for x in all_rows if x["variant"] == "torch")
    drops = r("export_latency_hapt_tiny_run2.json")["held_out_f1"]["drop_points"]
    return Section(
        "INT8 encoder against torch eager (batch 1)",
        "The tiny encoder exported to ONNX and built every way onnxruntime offers (static and dynamic INT8, the transformer "
        "optimiser, attention fused, QOperator, 8-bit weights, onnxslim, spinning, IO binding); interleaved rounds, medians.",
        [Row("INT8 encoder >= 5x torch eager",
             "; ".join(f"{m}: {x['speedup_vs_torch']:.2f}x ({x['variant']}, {x['session']}, {x['threads']} thread"
                       f"{'s' if x['threads'] > 1 else ''})" for m, x in rows.items()),
             all(x["speedup_vs_torch"] >= 5 for x in rows.values()),
             "; ".join(f"{m} torch eager {ms:.2f} ms" for m, ms in torch_ms.items())),
         Row("INT8 classifier loses <= 0.5 points of held-out macro-F1",
             ", ".join(f"{k.removeprefix('ort-')} {v:.2f}" for k, v in drops.items() if k != "ort-fp32"),
             all(v <= 0.5 for v in drops.values()), "torch FP32 on HAPT's 268 held-out windows")],
        r.used(), "The 400-step Xeon run's INT8 variants lose more (0.6-2.3 points) than the 10,000-step run's (0.0).")


def sampler_export(r: Results) -> Section:
    rows = r("sampler_export_hapt_tiny_10000steps.json")["rows"]
    loop = {(x["model"], x["sampler"]): x for x in rows if x["graph"] == "loop"}
    ddim250 = loop["diffusion", "ddim-250"]
    unrolled = [x for x in rows if x["graph"] == "unrolled"]
    twin = sorted((x for x in loop.values() if x["model"] == "diffusion"), key=lambda x: x["steps"])
    sizes = [x["int8_mb"] for x in twin]
    return Section(
        "Fused samplers: export time and size",
        "A fused sampler is an ONNX Loop over one solver step, quantised once; ``export`` timed end to end (FP32 and "
        "static INT8, validation and golden files), tiny, 1 thread.",
        [Row("DDIM-250 INT8 exports in < 60 s, linear in steps", f"{ddim250['export_s']:.1f} s; INT8 file "
             f"{min(sizes):.2f}-{max(sizes):.2f} MB from {twin[0]['sampler']} to {twin[-1]['sampler']}",
             ddim250["export_s"] < 60,
             "the unrolled graph before: " + ", ".join(f"{x['sampler']} {x['export_s']} s" for x in unrolled))],
        r.used())


def phone(r: Results) -> Section:
    d = r("litert_latency_hapt-tiny.json")
    drops = {k: v for k, v in d["held_out_f1"]["drop_points"].items() if k.startswith("litert-")}
    return Section(
        "Phone target: LiteRT",
        "The tiny run exported for Android (LiteRT FP32, FP16 weights, dynamic-range and full INT8, batch 1) beside the cpu "
        "target's ONNX files; held-out HAPT subjects never used for calibration.",
        [Row("INT8 classifier loses <= 1 point of macro-F1", ", ".join(f"{k.removeprefix('litert-')} {v:+.2f}" for k, v in drops.items()),
             all(v <= 1 for v in drops.values()), f"torch {f(d['held_out_f1']['macro_f1']['torch'], 4)}"),
         Row("full-INT8 classifier <= 1/3.5 of FP32", f"1/{d['classifier_int8_size_ratio']:.2f}",
             d["classifier_int8_size_ratio"] >= 3.5, "per-channel quantisation parameters are most of the difference")],
        r.used())


SECTIONS = (training_throughput, int8_encoder, sampler_export, phone)
