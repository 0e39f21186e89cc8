"""Cohort-scale figures: the shard store (conversion, training throughput, peak memory), device-file
conversion, and embedding recordings with an INT8 bundle (1 and 2 processes, Ray).

    python -m benchmarks.perf.cohort_scale store --gb 20 --participants 200 --steps 300 --repeats 2
    python -m benchmarks.perf.cohort_scale devices --participants 4 --hours 6 --workers 1,2
    python -m benchmarks.perf.cohort_scale embed --bundle bundles/tiny --recordings 8 --hours 2 --ray

``store``: synthetic windows (HAPT-shaped windows from the simulator, tiled per participant with a
per-participant gain) are written as ``.npz`` sources, converted with ``data shard`` (windows/s,
GB/s), then nano trains ``--steps`` steps from (a) the whole store, (b) a store of its first
``--memory-gb`` GB and (c) the same windows in memory, each in its own process with one torch
thread, variants interleaved per repeat; windows/s over the steps after the first 20 and the
process's peak resident memory (VmHWM, which counts mapped file pages while they are mapped;
earlier results, to 2026-12-03, read ``ru_maxrss``). ``devices``: ``.cwa`` files written from the
format's description (:mod:`benchmarks.kit.device_files`),
converted into a store through actipy with 1 and 2 workers: participant-hours of recording per
second. ``embed``: ``embed-files`` over Sensor Logger recordings with the bundle's INT8 encoder,
one process, two processes (``--part 1/2`` and ``2/2`` side by side), and Ray Data with two actors.
Every part writes ``benchmarks/results/cohort_scale_<part>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.kit import result_path, start_environment, write_result

WINDOW_BYTES = 3 * 300 * 4


# --- store -----------------------------------------------------------------------------------------

def train_from(kind: str, path: str, steps: int) -> dict:
    """Nano trained ``steps`` steps from the store at ``path`` (``kind`` "store") or from its windows loaded into
    memory ("memory"), one torch thread; windows/s after the first 20 steps and this process's peak RSS.
    Run in a fresh process of its own (:func:`train_in_child`), so the peak is this training's."""
    import csv
    import tempfile

    os.environ["OMP_NUM_THREADS"] = "1"  # before torch loads in this fresh process
    import torch

    from benchmarks.kit.program import vm_hwm_kb
    from flowfm_edge.data import WindowSet, load_source
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, train

    torch.set_num_threads(1)
    ws = load_source(path)
    if kind == "memory":
        ws = WindowSet(X=np.asarray(ws.X), y=None, pid=ws.pid)
    with tempfile.TemporaryDirectory() as out:
        train(ws, out, ModelConfig.from_preset("nano"), TrainConfig(steps=steps, warmup=10, log_every=1, ckpt_every=10**9),
              progress=False, device="cpu")
        with open(Path(out) / "metrics.csv") as f:
            t = [float(r["elapsed_s"]) for r in csv.DictReader(f)]
    return {"windows_per_s": (steps - 20) * 64 / (t[-1] - t[19]), "windows": len(ws), "peak_rss_mb": vm_hwm_kb() / 1024}


def train_in_child(kind: str, path: str, steps: int) -> dict:
    """:func:`train_from` in a fresh interpreter (spawned)."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(train_from, kind, path, steps).result()


def make_sources(root: Path, gb: float, participants: int, files: int) -> list[str]:
    from flowfm_edge.data import make_synthetic, save_npz
    from flowfm_edge.data.contract import WindowSet

    base = make_synthetic(seed=0).X  # (864, 3, 300)
    per = int(gb * 1e9 / WINDOW_BYTES / participants)
    sources, rng = [], np.random.default_rng(0)
    per_file = participants // files
    for f in range(files):
        pids = [f"P{f * per_file + k:05d}" for k in range(per_file)]
        X = np.concatenate([base[rng.integers(0, len(base), per)] * np.float32(1 + 0.002 * k) for k in range(per_file)])
        path = root / f"source{f:03d}.npz"
        save_npz(path, WindowSet(X=X, y=None, pid=np.repeat(pids, per)))
        sources.append(str(path))
        print(f"  source {f + 1}/{files}: {len(X)} windows", flush=True)
    return sources


def sub_store(store: Path, out: Path, gb: float) -> Path:
    """A store of the first participants of ``store`` up to ``gb`` GB (shards hard-linked, not copied)."""
    from flowfm_edge.data.store_index import new_index

    index = json.loads((store / "index.json").read_text())
    keep, total = [], 0
    for rec in index["participants"]:
        if total + rec["windows"] * WINDOW_BYTES > gb * 1e9 and keep:
            break
        keep.append(rec)
        total += rec["windows"] * WINDOW_BYTES
    (out / "shards").mkdir(parents=True, exist_ok=True)
    for rec in keep:
        target = out / rec["file"]
        if not target.exists():  # a store refuses symbolic links; a hard link is the same regular file
            os.link(store / rec["file"], target)
    (out / "index.json").write_text(json.dumps(new_index(index["sources"], keep)))
    return out


def bench_store(args) -> dict:
    from flowfm_edge.data.store_write import write_store

    root = Path(args.work)
    root.mkdir(parents=True, exist_ok=True)
    store = root / "store"
    if not (store / "index.json").is_file():
        print(f"writing {args.gb} GB of sources ...", flush=True)
        (root / "sources").mkdir(parents=True, exist_ok=True)
        sources = make_sources(root / "sources", args.gb, args.participants, args.files)
        t0 = time.perf_counter()
        index = write_store(sources, store, workers=args.workers)
        seconds = time.perf_counter() - t0
        conversion = {"seconds": seconds, "windows": index["windows"], "workers": args.workers,
                      "windows_per_s": index["windows"] / seconds,
                      "gb_per_s": index["windows"] * WINDOW_BYTES / 1e9 / seconds,
                      "participant_hours_per_s": index["windows"] * 10 / 3600 / seconds}
        (root / "conversion.json").write_text(json.dumps(conversion))
        shutil.rmtree(root / "sources")
    conversion = json.loads((root / "conversion.json").read_text())
    print(f"conversion: {conversion['windows_per_s']:.0f} windows/s, {conversion['gb_per_s']:.2f} GB/s", flush=True)
    small = sub_store(store, root / "store-small", args.memory_gb)
    variants = {"store, all": ("store", store), f"store, first {args.memory_gb:g} GB": ("store", small),
                f"memory, same {args.memory_gb:g} GB": ("memory", small)}
    runs: dict[str, list[dict]] = {k: [] for k in variants}
    for rep in range(args.repeats):
        for name, (kind, path) in variants.items():
            runs[name].append(train_in_child(kind, str(path), args.steps))
            r = runs[name][-1]
            print(f"  repeat {rep + 1}: {name:<24} {r['windows_per_s']:7.1f} windows/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    table = {name: {"windows": rs[0]["windows"], "gb": rs[0]["windows"] * WINDOW_BYTES / 1e9,
                    "windows_per_s": statistics.median(r["windows_per_s"] for r in rs),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "repeats": rs} for name, rs in runs.items()}
    mem = table[f"memory, same {args.memory_gb:g} GB"]["windows_per_s"]
    print(f"\n{'variant':<26} {'GB':>6} {'windows/s':>10} {'x memory':>9} {'peak RSS MB':>12}")
    for name, row in table.items():
        row["x_memory"] = row["windows_per_s"] / mem
        print(f"{name:<26} {row['gb']:6.1f} {row['windows_per_s']:10.1f} {row['x_memory']:9.3f} {row['peak_rss_mb']:12.0f}")
    return {"conversion": conversion, "training": table}


# --- devices ---------------------------------------------------------------------------------------

def bench_devices(args) -> dict:
    from datetime import datetime

    from benchmarks.kit import device_files as writer
    from flowfm_edge.data.store_write import write_store

    root = Path(args.work) / "devices"
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = int(args.hours * 3600 * 100) // 80 * 80
    for p in range(args.participants):
        path = raw / f"D{p:03d}.cwa"
        if not path.is_file():
            t = np.arange(n) / 100
            acc = np.stack([np.cos(0.001 * t), 0.4 * np.sin(2 * np.pi * 1.7 * t) * (np.sin(0.01 * t) > 0),
                            np.sin(0.001 * t)], 1) + 0.01 * rng.standard_normal((n, 3))
            writer.write_cwa(path, acc, datetime(2024, 5, 1, 8, 0, 0))
    mb = sum(p.stat().st_size for p in raw.glob("*.cwa")) / 1e6
    rows = {}
    for workers in (int(w) for w in args.workers.split(",")):
        out = root / f"store-w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        index = write_store([f"devices:{raw}"] if workers == 1 else [f"devices:{d}" for d in _split(raw, workers)],
                            out, workers=workers)
        s = time.perf_counter() - t0
        rows[workers] = {"seconds": s, "participant_hours_per_s": args.participants * args.hours / s,
                         "windows": index["windows"], "mb_per_s": mb / s}
        print(f"  {workers} worker(s): {s:.1f} s, {rows[workers]['participant_hours_per_s']:.1f} participant-hours/s, "
              f"{rows[workers]['mb_per_s']:.1f} MB/s of .cwa", flush=True)
    return {"cwa_mb": mb, "workers": rows}


def _split(raw: Path, parts: int) -> list[Path]:
    """``raw``'s files spread over ``parts`` sibling folders (links), one source per worker."""
    files = sorted(raw.glob("*.cwa"))
    dirs = []
    for k in range(parts):
        d = raw.parent / f"part{k}"
        d.mkdir(exist_ok=True)
        for f in files[k::parts]:
            if not (d / f.name).exists():
                (d / f.name).symlink_to(f.resolve())
        dirs.append(d)
    return dirs


# --- embed -----------------------------------------------------------------------------------------

def bench_embed(args) -> dict:
    root = Path(args.work) / "embed"
    recs = root / "recordings"
    recs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for r in range(args.recordings):
        folder = recs / f"R{r:03d}"
        if not folder.is_dir():
            folder.mkdir()
            n = int(args.hours * 3600 * 50)
            t = np.arange(n) / 50
            acc = np.stack([9.80665 + 0.1 * rng.standard_normal(n), 3 * np.sin(2 * np.pi * 1.5 * t), np.zeros(n)], 1)
            ns = 1_700_000_000_000_000_000 + np.round(t * 1e9).astype(np.int64)
            with open(folder / "TotalAcceleration.csv", "w") as f:
                f.write("time,seconds_elapsed,z,y,x\n")
                np.savetxt(f, np.column_stack([ns, t, acc[:, 2], acc[:, 1], acc[:, 0]]), delimiter=",",
                           fmt=["%d", "%.4f", "%.5f", "%.5f", "%.5f"])
    files = [str(p) for p in sorted(recs.iterdir())]
    cmd = [sys.executable, "-m", "flowfm_edge", "embed-files", *files, "--bundle", args.bundle,
           "--precision", "int8", "--threads", "1"]
    rows = {}
    for procs in (1, 2):
        out = root / f"out-{procs}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        jobs = [subprocess.Popen(cmd + ["--out", str(out), "--part", f"{k + 1}/{procs}"], stdout=subprocess.PIPE,
                                 text=True) for k in range(procs)]
        for j in jobs:
            j.communicate()
        s = time.perf_counter() - t0
        windows = _windows(out)
        rows[f"{procs} process(es)"] = {"seconds": s, "windows": windows, "windows_per_s": windows / s}
        print(f"  {procs} process(es): {windows} windows in {s:.1f} s, {windows / s:.0f} windows/s", flush=True)
    if args.ray:
        import ray

        from flowfm_edge.runtimes.cohort import RecordingEmbedder

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        t0 = time.perf_counter()
        rows_out = ray.data.from_items([{"path": p} for p in files]).map_batches(
            RecordingEmbedder, fn_constructor_kwargs={"bundle": args.bundle}, batch_size=1, concurrency=2).count()
        s = time.perf_counter() - t0
        ray.shutdown()
        rows["ray, 2 actors"] = {"seconds": s, "windows": rows_out, "windows_per_s": rows_out / s}
        print(f"  ray, 2 actors: {rows_out} windows in {s:.1f} s, {rows_out / s:.0f} windows/s (includes Ray start-up)",
              flush=True)
    return {"recording_hours": args.recordings * args.hours, "rows": rows}


def _windows(out: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in out.glob("*.parquet"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    s = sub.add_parser("store")
    s.add_argument("--gb", type=float, default=20.0)
    s.add_argument("--participants", type=int, default=200)
    s.add_argument("--files", type=int, default=20, help=".npz sources the windows are spread over")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--memory-gb", type=float, default=2.0)
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--repeats", type=int, default=2)
    d = sub.add_parser("devices")
    d.add_argument("--participants", type=int, default=4)
    d.add_argument("--hours", type=float, default=6.0)
    d.add_argument("--workers", default="1,2")
    e = sub.add_parser("embed")
    e.add_argument("--bundle", required=True)
    e.add_argument("--recordings", type=int, default=8)
    e.add_argument("--hours", type=float, default=2.0)
    e.add_argument("--ray", action="store_true")
    for p in (s, d, e):
        p.add_argument("--work", default="runs/cohort-scale", help="scratch folder (large for `store`)")
        p.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/cohort_scale_PART.json)")
    args = ap.parse_args()
    env = start_environment(threads=1)
    result = {"store": bench_store, "devices": bench_devices, "embed": bench_embed}[args.part](args)
    recorded = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"}
    write_result(result_path(args.out, f"cohort_scale_{args.part}"), {"args": recorded, **result}, env)


if __name__ == "__main__":
    main()
