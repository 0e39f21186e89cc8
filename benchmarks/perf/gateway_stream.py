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

    python -m benchmarks.perf.gateway_stream --bundle bundles/tiny --devices 100 --minutes 10 --repeats 5
    python -m benchmarks.perf.gateway_stream --bundle bundles/tiny --soak-hours 24 --devices 8 --chunk 5

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

from benchmarks.kit import result_path, start_environment, write_result

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


class Tally:
    """What one run counts: windows, time spent inside the gateway's calls, latencies, hourly RSS in a soak."""

    def __init__(self, keep_all: bool):
        from flowfm_edge.runtimes.stream_stats import LatencyHistogram

        self.windows, self.in_gateway, self.rss_hourly = 0, 0.0, []
        self.histogram, self.latencies, self.keep_all = LatencyHistogram(), [], keep_all

    def call(self, fn, *args) -> None:
        """``fn(*args)`` timed; the events it returns counted."""
        s = time.perf_counter()
        events = fn(*args)
        self.in_gateway += time.perf_counter() - s
        self.windows += len(events)
        self.histogram.add([e.latency_s for e in events])
        if self.keep_all:
            self.latencies += [e.latency_s for e in events]

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else self.histogram.percentile(q)

    def max(self) -> float:
        return float(max(self.latencies)) if self.latencies else self.histogram.max


def feed(args, gw, clock: Clock, devices: list[Device], tally: Tally, started: float) -> None:
    """Every device's stream, ``--chunk`` seconds per push, round-robin; a soak takes devices offline and samples RSS."""
    steps = int((args.soak_hours * 3600 if args.soak_hours else args.minutes * 60) / args.chunk)
    for step in range(steps):
        clock.now = step * args.chunk
        hour = clock.now / 3600
        for k, dev in enumerate(devices):
            if args.soak_hours and hour > 1 and (hour + k + 1 / 6) % 3 < 1 / 3:  # offline 20 min of every 3 h, staggered
                dev.skip(args.chunk)
                continue
            tally.call(gw.push, dev.name, *dev.chunk(args.chunk))
        tally.call(gw.poll)
        if args.soak_hours and int((step + 1) * args.chunk) % 3600 == 0:
            tally.rss_hourly.append({"hour": round((step + 1) * args.chunk / 3600, 3), "rss_mb": round(rss_mb(), 2),
                                     "windows": tally.windows, "active_devices": gw.stats()["active"],
                                     "reconnections": gw.stats()["total"]["segments"] - len(devices),
                                     "wall_s": round(time.perf_counter() - started, 2)})
            print(json.dumps(tally.rss_hourly[-1]), file=sys.stderr, flush=True)


def worker(args) -> dict:
    """One run in this process: returns its figures."""
    from flowfm_edge.bench.environment import load_average
    from flowfm_edge.runtimes.stream import GatewayStream

    rss_start = rss_mb()
    clock = Clock()
    gw = GatewayStream.from_bundle(args.bundle, precision=args.precision, threads=args.threads, clock=clock,
                                   hop_s=args.hop, batch_size=args.batch_size, idle_s=300.0, pipeline=args.pipeline)
    rss_loaded = rss_mb()
    rng = np.random.default_rng(args.seed)
    devices = [Device(i, rng) for i in range(args.devices)]
    tally = Tally(keep_all=not args.soak_hours)
    started, cpu_started = time.perf_counter(), time.process_time()
    feed(args, gw, clock, devices, tally, started)
    tally.call(gw.close)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    stats = gw.stats()["total"]
    return {"windows": tally.windows, "wall_s": wall, "gateway_s": tally.in_gateway, "cpu_s": cpu,
            "windows_per_s": tally.windows / wall, "windows_per_cpu_s": tally.windows / cpu, "loadavg": load_average(),
            "windows_per_s_gateway": tally.windows / tally.in_gateway, "samples": stats["received"],
            "samples_per_s": stats["received"] / wall, "latency_p50_ms": tally.percentile(50) * 1e3,
            "latency_p99_ms": tally.percentile(99) * 1e3, "latency_max_ms": tally.max() * 1e3,
            "peak_rss_mb": max(peak_rss_mb(), rss_mb()), "rss_start_mb": rss_start, "rss_after_load_mb": rss_loaded,
            "rss_end_mb": rss_mb(), "rss_hourly": tally.rss_hourly, "stream_stats": stats,
            "batches": gw.stats()["batches"], "torch_imported": "torch" in sys.modules,
            "scipy_imported": "scipy" in sys.modules}


def worker_args(args, seed: int) -> list[str]:
    names = ("bundle", "precision", "devices", "minutes", "soak_hours", "chunk", "hop", "batch_size", "threads")
    flags = ["--pipeline"] if args.pipeline else []
    return [a for n in names for a in (f"--{n.replace('_', '-')}", str(getattr(args, n)))] + ["--seed", str(seed)] + flags


def run_once(args, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", __spec__.name, "--worker", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.splitlines()[-1])


def load_text(load: list[float] | None) -> str:
    """A load average (1, 5, 15 min) as /proc/loadavg writes it."""
    return "-" if load is None else " ".join(f"{v:.2f}" for v in load)


def markdown(result: dict) -> str:
    from flowfm_edge.bench.report import table

    m, c = result["median"], result["config"]
    head = (f"{c['devices']} devices, {c.get('soak_hours') or c['minutes']} {'h' if c.get('soak_hours') else 'min'} "
            f"of stream each, {c['chunk']} s per push, hop {c['hop']} s, batch {c['batch_size']}, "
            f"{c['precision']}, {c['threads']} threads{', pipeline' if c.get('pipeline') else ''}\n\n")
    rows = [[r["repeat"], f"{r['windows']:,}", f"{r['windows_per_s']:,.0f}", f"{r['windows_per_s_gateway']:,.0f}",
             f"{r['windows_per_cpu_s']:,.0f}", f"{r['latency_p50_ms']:.1f}", f"{r['latency_p99_ms']:.1f}",
             f"{r['peak_rss_mb']:.1f}", load_text(r["loadavg"])] for r in result["runs"]]
    rows.append(["**median**", "", f"**{m['windows_per_s']:,.0f}**", f"{m['windows_per_s_gateway']:,.0f}",
                 f"{m['windows_per_cpu_s']:,.0f}", f"**{m['latency_p50_ms']:.1f}**", f"**{m['latency_p99_ms']:.1f}**",
                 f"**{m['peak_rss_mb']:.1f}**", ""])
    text = head + table(["run", "windows", "windows/s (wall)", "windows/s (in gateway)", "windows per CPU-s",
                         "latency p50 ms", "latency p99 ms", "peak RSS MB", "load avg at end"], rows) + "\n"
    hourly = [h for r in result["runs"] for h in r["rss_hourly"]]
    if hourly:
        text += "\n" + table(["hour", "RSS MB", "windows so far", "active devices", "reconnections after expiry so far"],
                             [[f"{h['hour']:.0f}", f"{h['rss_mb']:.1f}", f"{h['windows']:,}", h["active_devices"],
                               h.get("reconnections", "")] for h in hourly]) + "\n"
    return text


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
    env = start_environment(threads=args.threads)
    repeats = 1 if args.soak_hours else args.repeats
    config = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}
    result = {"config": {**config, "bundle": str(args.bundle)}, "runs": []}
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
    stem = "gateway_stream_soak" if args.soak_hours else "gateway_stream"
    write_result(result_path(args.out, stem), result, env, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
