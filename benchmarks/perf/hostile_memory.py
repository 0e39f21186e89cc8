"""Memory and time under hostile input: a stream with one 200 MB line, idle-device eviction, a zip bomb.

Three parts, each a fresh process per run (:mod:`benchmarks.kit.program`), on this checkout and, with
``--before ROOT``, on another one (e.g. ``git archive`` of main before a change):

1. **Stream memory**: peak RSS (VmHWM) of ``python -m flowfm_edge stream`` (no torch) on 2 minutes
   of 4 devices, and on the same file with one ``--line-mb`` MB line in the middle; medians of ``--repeats``.
2. **Eviction**: a gateway loop (push 10 samples for each of N distinct devices, then ``poll()``) with
   ``max_devices = N / 2``, so every second push evicts; seconds for N in ``--sizes``, medians.
3. **Recording memory**: peak RSS of reading a Sensor Logger folder (``convert("sensor-logger", ...)``): a small
   valid recording, a zip bomb (150 MB unpacked) and a valid CSV of ``--valid-mb`` MB.

The bundle is ``--bundle`` (an FP32 classifier), else an untrained nano model exported here. The same inputs
as tests: ``tests/hostile/`` holds the assertions (a long line costs no memory, a bomb is refused from its
header); this script measures. Writes ``benchmarks/results/hostile_memory.json`` (or ``--out``).

    python -m benchmarks.perf.hostile_memory --before /tmp/before         # all three parts, ~5 minutes on 2 cores
    python -m benchmarks.perf.hostile_memory --skip eviction,recordings --line-mb 20 --repeats 1 --out /tmp/m.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.kit import ints, recordings, result_path, start_environment, write_result
from benchmarks.kit.program import CHECKOUT, peak_rss

PARTS = ("stream", "eviction", "recordings")


def bundle_of_untrained_nano(tmp: Path) -> Path:
    """An FP32 encoder + classifier bundle of an untrained nano model (memory and eviction do not depend on training)."""
    from benchmarks.perf.untrained_run import make_run
    from flowfm_edge.data import make_synthetic
    from flowfm_edge.export import ExportOptions, export_bundle

    run = make_run(tmp / "run", "nano")
    export_bundle(run, tmp / "bundle", ExportOptions(precisions=["fp32"], graphs=["encoder", "classifier"],
                                                     calib=make_synthetic(n_subjects=4, windows_per_activity=3, seed=1),
                                                     calib_size=24, val_size=27))
    return tmp / "bundle"


def stream_memory(bundle: Path, tmp: Path, args, roots: dict[str, str]) -> dict:
    """Peak RSS of the torch-free stream on a sample file and on it with one long line, per checkout."""
    from flowfm_edge.data import make_synthetic

    base = tmp / "samples.csv"
    base.write_text(recordings.sample_csv(make_synthetic(seed=0).X, minutes=2))
    files = {"baseline": base, f"{args.line_mb} MB line": recordings.with_long_line(base, tmp / "long-line.csv", args.line_mb)}
    out = {}
    for label, root in roots.items():
        out[label] = {}
        for name, path in files.items():
            runs = [peak_rss("flowfm_edge", ["stream", str(bundle), "--input", str(path), "--output", os.devnull,
                                                       "--stats"], cwd=root) for _ in range(args.repeats)]
            peaks = [mb for mb, _ in runs]
            malformed = next((line.split("malformed lines")[1].split()[0] for line in runs[-1][1].stderr.splitlines()
                              if "malformed lines" in line), None)
            out[label][name] = {"peak_rss_mb": statistics.median(peaks), "runs_mb": [round(p, 1) for p in peaks],
                                "malformed_lines": malformed, "bytes": path.stat().st_size}
            print(f"  {label}: {name}: peak RSS {out[label][name]['peak_rss_mb']:.1f} MB (runs {out[label][name]['runs_mb']})",
                  flush=True)
        out[label]["ratio"] = round(out[label][f"{args.line_mb} MB line"]["peak_rss_mb"] / out[label]["baseline"]["peak_rss_mb"], 3)
    return out


def evict_loop(bundle: str, n: str) -> dict:
    """``n`` distinct devices pushed through a gateway that keeps ``n / 2``: seconds, devices left, whose code ran."""
    import numpy as np

    import flowfm_edge
    from flowfm_edge import runtimes
    from flowfm_edge.runtimes.stream import GatewayStream

    n, now = int(n), [0.0]
    gw = GatewayStream(runtimes.load(bundle), clock=lambda: now[0], max_devices=n // 2, idle_s=1e9, max_delay_s=1e9)
    t, v = 100.0 + np.arange(10) / 30, np.tile([0.0, 0.0, 1.0], (10, 1))
    t0 = time.perf_counter()
    for i in range(n):
        now[0] = float(i)
        gw.push(f"dev{i:06d}", t, v)
        gw.poll()
    return {"seconds": time.perf_counter() - t0, "active": len(gw.devices), "code": flowfm_edge.__file__}


def eviction(bundle: Path, args, roots: dict[str, str]) -> dict:
    out = {}
    for label, root in roots.items():
        out[label] = {}
        for n in args.sizes:
            records = []
            for _ in range(args.repeats):
                _, res = peak_rss(f"{__spec__.name}:evict_loop", [str(bundle), str(n)], cwd=root)
                line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    raise RuntimeError(f"eviction run failed ({label}, {n}): {(res.stdout + res.stderr)[-400:]}")
                records.append(json.loads(line.split(" ", 1)[1]))
            secs = [r["seconds"] for r in records]
            out[label][str(n)] = {"seconds": round(statistics.median(secs), 3), "runs": [round(s, 3) for s in secs],
                                  "code": records[-1]["code"]}
            print(f"  {label}: {n} devices {out[label][str(n)]['seconds']:.2f} s (runs {out[label][str(n)]['runs']})",
                  flush=True)
        out[label]["ratio"] = round(out[label][str(args.sizes[-1])]["seconds"] / out[label][str(args.sizes[0])]["seconds"], 2)
    return out


def recording_memory(tmp: Path, args, roots: dict[str, str]) -> dict:
    """Peak RSS of reading a small valid recording, a zip bomb and a large valid CSV, per checkout."""
    small = recordings.recording(tmp / "small" / "rec", recordings.csv_text(21)).parent
    (tmp / "bomb").mkdir(parents=True)
    path = recordings.bomb(tmp / "bomb" / "rec.zip", 150)
    seconds = args.valid_mb * 1e6 / 62 / 100  # about 62 bytes a row at 100 Hz
    big = recordings.recording(tmp / "big" / "rec", recordings.csv_text(seconds))
    size = (big / "TotalAcceleration.csv").stat().st_size
    inputs = {"small valid recording (21 s)": small, f"zip bomb ({path.stat().st_size / 1e3:.0f} KB -> 150 MB)": path.parent,
              f"valid CSV ({size / 1e6:.0f} MB, {seconds / 3600:.1f} h at 100 Hz)": big.parent}
    out = {}
    for label, root in roots.items():
        out[label] = {}
        for name, folder in inputs.items():
            mb, res = peak_rss("flowfm_edge.data.readers:convert", ["sensor-logger", str(folder)], cwd=root)
            result = " ".join(res.stdout.split())[:300]
            out[label][name] = {"peak_rss_mb": round(mb, 1) if mb else None, "result": result, "exit": res.returncode}
            print(f"  {label}: {name}: peak RSS {out[label][name]['peak_rss_mb']} MB, {result[:100]}", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="an FP32 encoder + classifier bundle (default: an untrained nano one)")
    ap.add_argument("--line-mb", type=int, default=200, help="size of the one long stream line")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="10000,40000", type=ints, help="device counts for the eviction loop")
    ap.add_argument("--valid-mb", type=int, default=150, help="size of the large valid CSV")
    ap.add_argument("--before", help="another checkout to run every part on too, for comparison")
    ap.add_argument("--skip", default="", help=f"comma-separated parts to skip: {', '.join(PARTS)}")
    ap.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/hostile_memory.json)")
    args = ap.parse_args(argv)
    env = start_environment(threads=None)
    roots = {"this checkout": str(CHECKOUT), **({"before": args.before} if args.before else {})}
    skip = set(filter(None, args.skip.split(",")))
    result = {"protocol": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="hostile-memory-") as tmp:
        tmp = Path(tmp)
        bundle = args.bundle or bundle_of_untrained_nano(tmp)
        for part, fn in (("stream", lambda: stream_memory(bundle, tmp, args, roots)),
                         ("eviction", lambda: eviction(bundle, args, roots)),
                         ("recordings", lambda: recording_memory(tmp / "recordings", args, roots))):
            if part not in skip:
                print(f"{part}:", flush=True)
                result[part] = fn()
    write_result(result_path(args.out, "hostile_memory"), result, env)


if __name__ == "__main__":
    main()
