"""Gateway streaming: windows/s, end-to-end latency per window and peak RSS with N simulated devices.

Every run is a fresh process (so its peak RSS is its own) that loads the bundle with
onnxruntime and no torch, then feeds ``--devices`` simulated wrist streams round-robin,
``--chunk`` seconds of samples per push, as fast as the CPU allows. The streams are a mix
a gateway sees: rates 50, 100, 25 and 30 Hz (cycling over devices), every fourth device in
m/s^2, clock drift up to +-0.5%, 0.1% NaN samples, and re-sent and swapped samples in 5% of
the pushes. Latency is the stream's own figure: wall time from the push that completed a
window to the event that carries its label (queueing for the micro-batch included).

Two modes:

- throughput (default): ``--repeats`` runs of ``--minutes`` of stream per device; medians.
- soak (``--soak-hours 24``): one long run, sped up, with devices dropping out for 20
  minutes every few hours (so idle expiry and reconnection are exercised); RSS is sampled
  every simulated hour to show whether memory grows.

    python benchmarks/gateway_stream.py --bundle bundles/tiny --devices 100 --minutes 10 --repeats 5
    python benchmarks/gateway_stream.py --bundle bundles/tiny --soak-hours 24 --devices 8 --chunk 5

Writes ``benchmarks/results/gateway_stream.json`` (or ``--out``) and a Markdown table next to it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RATES = (50, 100, 25, 30)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


class Device:
    """One simulated wrist: a 60 s motion loop at its own rate, replayed with drift and faults."""

    def __init__(self, i: int, rng: np.random.Generator):
        self.name, self.rate = f"dev{i:04d}", RATES[i % len(RATES)]
        self.scale = 9.80665 if i % 4 == 3 else 1.0  # m/s^2 devices
        self.drift = 1 + rng.uniform(-0.005, 0.005)
        n = 60 * self.rate
        t = np.arange(n) / self.rate
        f = rng.uniform(0.3, 2.2)  # sedentary sway to brisk walking
        amp = rng.uniform(0.02, 0.6)
        g = rng.normal(size=3)
        g /= np.linalg.norm(g)
        swing = np.stack([np.sin(2 * np.pi * f * t), 0.5 * np.cos(2 * np.pi * f * t), 0.3 * np.sin(4 * np.pi * f * t)], 1)
        self.base = (g + amp * swing + rng.normal(0, 0.02, (n, 3))) * self.scale  # (n, 3)
        self.pos, self.t0 = 0, 1.7e9 + rng.uniform(0, 1)
        self.rng = rng

    def chunk(self, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """The next ``seconds`` of samples: t (n,) device seconds, xyz (n, 3), with the simulated faults."""
        n = int(round(seconds * self.rate))
        idx = np.arange(self.pos, self.pos + n)
        t = self.t0 + idx / (self.rate * self.drift)
        xyz = self.base[idx % len(self.base)]
        self.pos += n
        r = self.rng.random(3)
        if r[0] < 0.5:
            xyz = xyz.copy()
            xyz[self.rng.integers(0, n, max(1, n // 1000)), 0] = np.nan
        if r[1] < 0.05:  # a re-sent tail
            t, xyz = np.concatenate([t, t[-3:]]), np.concatenate([xyz, xyz[-3:]])
        if r[2] < 0.05:  # two samples swapped in transit
            order = np.arange(len(t))
            order[[1, 2]] = order[[2, 1]]
            t, xyz = t[order], xyz[order]
        return t, xyz

    def skip(self, seconds: float) -> None:
        self.pos += int(round(seconds * self.rate))


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def worker(args) -> dict:
    """One run in this process: returns its figures."""
    from flowfm_edge.bench.environment import load_average
    from flowfm_edge.runtimes.stream import GatewayStream
    from flowfm_edge.runtimes.stream_stats import LatencyHistogram

    rss_start = rss_mb()
    clock = Clock()
    gw = GatewayStream.from_bundle(args.bundle, precision=args.precision, threads=args.threads, clock=clock,
                                   hop_s=args.hop, batch_size=args.batch_size, idle_s=300.0, pipeline=args.pipeline)
    rss_loaded = rss_mb()
    rng = np.random.default_rng(args.seed)
    devices = [Device(i, rng) for i in range(args.devices)]
    seconds = args.soak_hours * 3600 if args.soak_hours else args.minutes * 60
    steps = int(seconds / args.chunk)
    latency, latencies = LatencyHistogram(), []
    windows, in_gateway = 0, 0.0
    rss_hourly = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for step in range(steps):
        clock.now = step * args.chunk
        hour = clock.now / 3600
        for k, dev in enumerate(devices):
            if args.soak_hours and hour > 1 and (hour + k + 1 / 6) % 3 < 1 / 3:  # offline 20 min of every 3 h, staggered
                dev.skip(args.chunk)
                continue
            t, xyz = dev.chunk(args.chunk)
            s = time.perf_counter()
            events = gw.push(dev.name, t, xyz)
            in_gateway += time.perf_counter() - s
            windows += len(events)
            latency.add([e.latency_s for e in events])
            if not args.soak_hours:
                latencies += [e.latency_s for e in events]
        s = time.perf_counter()
        events = gw.poll()
        in_gateway += time.perf_counter() - s
        windows += len(events)
        latency.add([e.latency_s for e in events])
        if not args.soak_hours:
            latencies += [e.latency_s for e in events]
        if args.soak_hours and int((step + 1) * args.chunk) % 3600 == 0:
            rss_hourly.append({"hour": round((step + 1) * args.chunk / 3600, 3), "rss_mb": round(rss_mb(), 2),
                               "windows": windows, "active_devices": gw.stats()["active"],
                               "reconnections": gw.stats()["total"]["segments"] - len(devices),
                               "wall_s": round(time.perf_counter() - started, 2)})
            print(json.dumps(rss_hourly[-1]), file=sys.stderr, flush=True)
    s = time.perf_counter()
    events = gw.close()
    in_gateway += time.perf_counter() - s
    windows += len(events)
    latency.add([e.latency_s for e in events])
    if not args.soak_hours:
        latencies += [e.latency_s for e in events]
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    stats = gw.stats()["total"]
    lat = np.asarray(latencies) if latencies else None
    p = (lambda q: float(np.percentile(lat, q))) if lat is not None else (lambda q: latency.percentile(q))
    return {"windows": windows, "wall_s": wall, "gateway_s": in_gateway, "cpu_s": cpu, "windows_per_s": windows / wall,
            "windows_per_cpu_s": windows / cpu, "loadavg": load_average(),
            "windows_per_s_gateway": windows / in_gateway, "samples": stats["received"],
            "samples_per_s": stats["received"] / wall, "latency_p50_ms": p(50) * 1e3, "latency_p99_ms": p(99) * 1e3,
            "latency_max_ms": (float(lat.max()) if lat is not None else latency.max) * 1e3,
            "peak_rss_mb": max(peak_rss_mb(), rss_mb()), "rss_start_mb": rss_start, "rss_after_load_mb": rss_loaded,
            "rss_end_mb": rss_mb(), "rss_hourly": rss_hourly, "stream_stats": stats, "batches": gw.stats()["batches"],
            "torch_imported": "torch" in sys.modules, "scipy_imported": "scipy" in sys.modules}


def worker_args(args, seed: int) -> list[str]:
    names = ("bundle", "precision", "devices", "minutes", "soak_hours", "chunk", "hop", "batch_size", "threads")
    flags = ["--pipeline"] if args.pipeline else []
    return [a for n in names for a in (f"--{n.replace('_', '-')}", str(getattr(args, n)))] + ["--seed", str(seed)] + flags


def run_once(args, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.splitlines()[-1])


def load_text(load: list[float] | None) -> str:
    """A load average (1, 5, 15 min) as /proc/loadavg writes it."""
    return "-" if load is None else " ".join(f"{v:.2f}" for v in load)


def markdown(result: dict) -> str:
    rows = []
    for r in result["runs"]:
        rows.append(f"| {r['repeat']} | {r['windows']:,} | {r['windows_per_s']:,.0f} | {r['windows_per_s_gateway']:,.0f} | "
                    f"{r['windows_per_cpu_s']:,.0f} | {r['latency_p50_ms']:.1f} | {r['latency_p99_ms']:.1f} | "
                    f"{r['peak_rss_mb']:.1f} | {load_text(r['loadavg'])} |")
    m = result["median"]
    c = result["config"]
    head = (f"{c['devices']} devices, {c.get('soak_hours') or c['minutes']} {'h' if c.get('soak_hours') else 'min'} "
            f"of stream each, {c['chunk']} s per push, hop {c['hop']} s, batch {c['batch_size']}, "
            f"{c['precision']}, {c['threads']} threads{', pipeline' if c.get('pipeline') else ''}\n\n")
    table = ("| run | windows | windows/s (wall) | windows/s (in gateway) | windows per CPU-s | latency p50 ms | "
             "latency p99 ms | peak RSS MB | load avg at end |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
             f"\n| **median** | | **{m['windows_per_s']:,.0f}** | {m['windows_per_s_gateway']:,.0f} | "
             f"{m['windows_per_cpu_s']:,.0f} | **{m['latency_p50_ms']:.1f}** | **{m['latency_p99_ms']:.1f}** | "
             f"**{m['peak_rss_mb']:.1f}** | |\n")
    hourly = [h for r in result["runs"] for h in r["rss_hourly"]]
    if hourly:
        table += ("\n| hour | RSS MB | windows so far | active devices | reconnections after expiry so far |\n"
                  "|---|---|---|---|---|\n")
        table += "\n".join(f"| {h['hour']:.0f} | {h['rss_mb']:.1f} | {h['windows']:,} | {h['active_devices']} | "
                           f"{h.get('reconnections', '')} |" for h in hourly) + "\n"
    return head + table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default="bundles/tiny")
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=10.0, help="stream length per device (throughput mode)")
    ap.add_argument("--soak-hours", type=float, default=0.0, help="one long sped-up run of this many hours")
    ap.add_argument("--chunk", type=float, default=1.0, help="seconds of samples per push")
    ap.add_argument("--hop", type=float, default=5.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pipeline", action="store_true", help="inference in a background thread (StreamConfig.pipeline)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from flowfm_edge.bench.environment import environment, load_average

    repeats = 1 if args.soak_hours else args.repeats
    config = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}
    result = {"config": {**config, "bundle": str(args.bundle)}, "environment": environment(threads=args.threads),
              "runs": []}
    for i in range(repeats):
        r = run_once(args, worker_args(args, args.seed + i))
        r["repeat"] = i + 1
        result["runs"].append(r)
        print(f"run {i + 1}: {r['windows']:,} windows, {r['windows_per_s']:,.0f} windows/s (wall), "
              f"{r['windows_per_s_gateway']:,.0f} in gateway, {r['windows_per_cpu_s']:,.0f} per CPU-s, "
              f"load {load_text(r['loadavg'])}, latency p50 {r['latency_p50_ms']:.1f} ms "
              f"p99 {r['latency_p99_ms']:.1f} ms, peak RSS {r['peak_rss_mb']:.1f} MB", flush=True)
    keys = ("windows_per_s", "windows_per_s_gateway", "windows_per_cpu_s", "latency_p50_ms", "latency_p99_ms",
            "peak_rss_mb")
    result["median"] = {k: statistics.median(r[k] for r in result["runs"]) for k in keys}
    result["environment"]["load_average_end"] = load_average()
    stem = "gateway_stream_soak" if args.soak_hours else "gateway_stream"
    out = args.out or Path(__file__).parent / "results" / f"{stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
