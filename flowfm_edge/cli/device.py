"""The commands that run bundles on a device: ``stream`` (sample lines in, one JSON event per window out),
``embed-files`` (a cohort's recordings to Parquet), ``validate`` (a bundle's golden checks, here) and
``build-engine`` (TensorRT engines, on the device that runs them). None of them needs the training install.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .common import cli_errors, console

def escape_id(device: str, limit: int = 64) -> str:
    """A device id safe to print on a terminal: control and other unprintable characters escaped, long ids cut."""
    text = "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in device)
    return text if len(text) <= limit else text[: limit - 3] + "..."


COUNTS = {"received": "received", "dropped_nan": "nan", "dropped_bad_time": "bad_time", "dropped_late": "late",
          "dropped_duplicate": "duplicate", "reordered": "reordered", "unit_converted": "unit_fixed", "gaps": "gaps",
          "padded": "padded", "partial_discarded": "partial", "clock_resets": "clock_resets",
          "invalid_windows": "invalid", "windows": "windows"}


def print_stats(write, run: dict, read, gw_stats: dict, top: int = 20) -> None:
    """Throughput and per-device drop/repair counts as plain text lines through ``write`` (stderr in the CLI)."""
    t = gw_stats["total"]
    write(f"lines {read.lines:,}  samples {read.rows:,}  malformed lines {read.malformed:,}  "
          f"devices {len(gw_stats['devices']):,}  windows {run['windows']:,}  batches {gw_stats['batches']:,}")
    write(f"wall {run['wall_s']:.2f} s  {run['windows_per_s']:,.0f} windows/s  {run['samples_per_s']:,.0f} samples/s  "
          f"latency p50 {run['latency_p50_ms']:.2f} ms  p99 {run['latency_p99_ms']:.2f} ms  "
          f"dropped {t.get('dropped', 0):,}  repaired {t.get('repaired', 0):,}")
    for reason in read.first_malformed:
        write(f"skipped {reason}")
    rows = sorted(gw_stats["devices"].items(), key=lambda kv: -kv[1]["dropped"])[:top]
    table = [["device", "units", "rate_hz", *COUNTS.values()]]
    table += [[escape_id(d), s["units"], f"{s['rate_hz']:.1f}", *(str(s[k]) for k in COUNTS)] for d, s in rows]
    table.append(["total", "", "", *(str(t.get(k, 0)) for k in COUNTS)])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    if len(gw_stats["devices"]) > top:
        write(f"per device: the {top} with most dropped samples of {len(gw_stats['devices'])}")
    for r in table:
        write("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


@cli_errors
def stream(
    bundle: Path = typer.Argument(..., help="Bundle directory from `flowfm-edge export` (with a classifier graph)."),
    input: str = typer.Option("-", "--input", "-i", help="Sample lines: a file, or - for stdin."),
    format: Optional[str] = typer.Option(None, "--format", help="csv or jsonl (default: from the file name; csv for stdin)."),
    output: str = typer.Option("-", "--output", "-o", help="Events as JSON lines: a file, or - for stdout."),
    hop: float = typer.Option(5.0, help="Seconds between window starts (a multiple of 1/30 s)."),
    backend: str = typer.Option("onnxruntime", help="Runtime backend: onnxruntime, torch, ..."),
    precision: str = typer.Option("auto", help="Artefact precision: auto (int8 when the bundle has it, else fp32), fp32, int8, ..."),
    threads: Optional[int] = typer.Option(None, min=1, help="Inference threads (default: the backend's)."),
    batch_size: int = typer.Option(16, min=1, help="Windows per inference call, batched across devices (memory grows with it)."),
    classify: bool = typer.Option(True, help="Labels and probabilities (classifier graph)."),
    embed: bool = typer.Option(False, help="Also write each window's embedding r (encoder graph)."),
    pipeline: bool = typer.Option(False, help="Infer in a background thread while the next lines are read and resampled."),
    gap: float = typer.Option(1.0, help="Samples further apart than this many seconds are a gap."),
    gap_policy: str = typer.Option("split", help="split: start new windows after a gap; pad: interpolate gaps up to --max-pad."),
    max_pad: float = typer.Option(5.0, help="pad: longest gap (s) to interpolate; longer ones split."),
    reorder: float = typer.Option(0.5, help="Out-of-order tolerance in seconds (adds that much delay)."),
    units: str = typer.Option("auto", help="Input units: auto (detect g / m/s^2 / mg per device), g, m/s^2, mg."),
    time_unit: str = typer.Option("s", help="Unit of numeric timestamps: s, ms, us, ns (ISO-8601 strings also work)."),
    idle: float = typer.Option(300.0, help="Finish and forget a device silent this many seconds (wall clock)."),
    strict: bool = typer.Option(False, help="Fail on an unreadable line instead of skipping and counting it."),
    max_line_bytes: int = typer.Option(65536, min=16, help="Longer lines are malformed (counted, skipped; memory stays bounded)."),
    trust: Optional[Path] = typer.Option(None, help="Public key (PEM) the bundle must be signed with (default: $FLOWFM_EDGE_TRUST_KEY or ~/.config/flowfm-edge/trusted_key.pem if set)."),
    stats: bool = typer.Option(False, "--stats", help="Print throughput and per-device drop counts to stderr at the end."),
):
    """Stream raw samples through a bundle: reads device,timestamp,x,y,z lines (CSV or JSON lines, any rate, g or m/s^2) and writes one JSON line per 10 s window: device, start, end, label, probabilities [, embedding].

    Example: flowfm-edge stream bundles/tiny --input samples.csv --hop 5 --stats
    """
    from ..runtimes.stream_files import stream_bundle

    try:
        gw, run, read = stream_bundle(bundle, input, output, format, time_unit, strict, max_line_bytes,
                                      backend=backend, precision=precision, threads=threads, hop_s=hop, trust=trust,
                                      batch_size=batch_size, classify=classify, embed=embed, gap_s=gap,
                                      gap_policy=gap_policy, max_pad_s=max_pad, reorder_s=reorder, units=units,
                                      idle_s=idle, pipeline=pipeline)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        sys.stdout = open(os.devnull, "w")
        raise typer.Exit(0) from None
    if stats:
        print_stats(lambda line: print(line, file=sys.stderr), run, read, gw.stats())


@cli_errors
def embed_files_command(
    files: list[Path] = typer.Argument(..., help="Recordings: Sensor Logger exports (folders or .zip) or .npz window files."),
    bundle: Path = typer.Option(..., help="An exported bundle with an encoder graph (and a classifier for probabilities)."),
    out: Path = typer.Option(..., help="Output folder: one <recording key>.parquet each; finished files of the same recording and bundle are skipped, another recording's or bundle's are refused."),
    part: str = typer.Option("1/1", help="i/n: this job's share, every n-th recording from the i-th (1-based), "
                                         "e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT."),
    precision: str = typer.Option("int8", help="Artefact precision: fp32, int8 or int8-dynamic."),
    threads: Optional[int] = typer.Option(None, min=1, help="onnxruntime intra-op threads."),
    hop: float = typer.Option(10.0, min=0.1, help="Seconds between window starts."),
):
    """Embed a cohort with a bundle's encoder (onnxruntime, no torch): one Parquet file per recording, with
    participant, window start, r and class probabilities."""
    from ..progress import ProgressLine, stdout_is_terminal
    from ..runtimes.cohort import embed_files, parse_part

    line = None

    def progress(done: int, total: int, path) -> None:  # a plain line now and then when no terminal is attached
        nonlocal line
        line = line or ProgressLine("embed-files", total)
        line.update(done=done, file=Path(path).name)

    counts = embed_files(files, bundle, out, parse_part(part), precision=precision, threads=threads, hop_s=hop,
                         progress=None if stdout_is_terminal() else progress)
    print(f"part {counts['part']}: {counts['written']} written ({counts['windows']} windows, {counts['dropped_nan']} "
          f"dropped for NaN), {counts['skipped']} already done, {counts['replaced']} damaged outputs embedded again, "
          f"{counts['empty']} without a full window; out of {counts['files']} recordings in this part -> {out}")


@cli_errors
def validate(
    bundle: Path = typer.Argument(..., help="Bundle directory written by `flowfm-edge export`."),
    backend: str = typer.Option("onnxruntime", help="Backend to run the golden checks with: onnxruntime, torch, "
                                                    "litert (LiteRT models of --target android), or tensorrt "
                                                    "(the engines of `build-engine`, on their device)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Threads for the backend."),
    trust: Optional[Path] = typer.Option(None, help="Public key (PEM) the bundle must be signed with (default: "
                                                    "$FLOWFM_EDGE_TRUST_KEY or ~/.config/flowfm-edge/trusted_key.pem "
                                                    "when set); an unsigned or mis-signed bundle fails."),
):
    """Re-run the bundle's golden checks here: fails on a modified or missing file, a bad signature, or drift."""
    from ..runtimes.validate import validate_bundle

    report = validate_bundle(bundle, backend=backend, threads=threads, trust=trust)
    if report.get("signature"):
        console.print(f"[green]signature[/green] {report['signature']}", highlight=False)
    for problem in report["files"]:
        console.print(f"[red]tampered:[/red] {problem}", highlight=False)
    for c in report["checks"]:
        mark = "[green]ok[/green]  " if c["passed"] else "[red]FAIL[/red]"
        console.print(f"{mark} {c['artefact']:<22} {c['precision']:<13} {c.get('metric', 'rel_l2')} "
                      f"{c.get('value', c['rel_l2']):.2e} "
                      f"(tolerance {c['tolerance']:.0e}, vs {c['against']}; vs PyTorch {c['rel_l2_vs_reference']:.2e})",
                      highlight=False)
    if not report["passed"]:
        what = ("files were modified or are missing, or the signature does not match (see above)"
                if report["files"] else "outputs drifted beyond tolerance")
        raise RuntimeError(f"{bundle}: validation failed with backend {backend}: {what}")
    console.print(f"{bundle}: {len(report['checks'])} golden checks passed with {backend}")


@cli_errors
def build_engine(
    bundle: Path = typer.Argument(..., help="Bundle written by `flowfm-edge export RUN --target jetson`."),
    precision: str = typer.Option("fp16", help="fp16, int8 (the bundle's QDQ graphs), best (int8 where exported, "
                                               "else fp16) or fp32."),
    dla_core: Optional[int] = typer.Option(None, min=0, help="Build for this DLA core (with GPU fallback)."),
    workspace: Optional[float] = typer.Option(None, min=0.0625, help="Builder workspace in GiB (default: the "
                                                                    "bundle's, 1 GiB)."),
    timing_cache: Optional[Path] = typer.Option(None, help="Timing cache file to read and update (default: "
                                                           "BUNDLE/engines/timing.cache)."),
):
    """Build TensorRT engines from a jetson bundle, on the device that will run them.

    Runs the bundle's build recipes with the TensorRT Python API (TensorRT comes with JetPack on a Jetson) and writes plain TensorRT plans to BUNDLE/engines/ (`trtexec --loadEngine` reads them). The manifest records the TensorRT release, compute capability, JetPack/L4T, power mode and clocks; each recipe's trtexec line in manifest.json builds the same engine by hand.
    """
    from ..runtimes.engine_build import build_engines

    records = build_engines(bundle, precision, dla_core=dla_core, workspace_gib=workspace, timing_cache=timing_cache,
                            log=lambda s: console.print(s, highlight=False, markup=False))
    device = records[0]["device"] if records else {}
    jetson = device.get("jetson") or {}
    where = f"JetPack {jetson.get('jetpack')} (L4T {jetson.get('l4t')})" if jetson else device.get("gpu")
    console.print(f"{len(records)} engines built with TensorRT {device.get('tensorrt')} for compute capability "
                  f"{device.get('compute_capability')} on {where}; check them with "
                  f"`flowfm-edge validate {bundle} --backend tensorrt`", highlight=False)
