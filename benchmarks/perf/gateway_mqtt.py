"""The MQTT gateway through a real broker: windows/s, end-to-end latency, CPU per window, peak RSS, and what a
broker restart, a graceful gateway restart, a hot update and a kill -9 cost under load.

One Mosquitto (persistence on) and one gateway process (``python -m flowfm_edge gateway``, with torch,
scipy, scikit-learn and matplotlib made unimportable) on loopback; this process runs the simulated wearables
(``--devices`` of them at 30 Hz, each publishing its last second of samples once per second as a JSON batch,
staggered over the second, over a few MQTT connections) and a subscriber that receives the labels. Latency is
end to end: from the publish of the message holding a window's last sample to the receipt of its label.

- ``steady``: ``--seconds`` of traffic per device count;
- ``faults``: the largest device count, with a broker restart, a graceful gateway restart (SIGTERM, start
  again) and a hot update (a second bundle on the control topic) spaced through the run; windows are matched
  by (device, start): lost and duplicated ones are counted, and the latency of the windows completed in the
  15 s after each fault is reported beside the steady p99;
- ``kill``: a kill -9 of the gateway under the same load, then a start: the windows lost (counted against the
  stream's grid) beside the bound the restarted gateway reported.

    python -m benchmarks.perf.gateway_mqtt --bundle bundles/tiny --devices 100 1000 --seconds 60 --faults --kill

Writes ``benchmarks/results/gateway_mqtt.json`` (or ``--out``) and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.kit import mqtt as h
from benchmarks.kit import result_path, start_environment, write_result
from flowfm_edge.bench.environment import load_average

HOP_S, WINDOW_S = 5, 10


class Fleet:
    """``n`` simulated wearables at 30 Hz. Device i's clock starts ``offset[i]`` whole seconds after ``start``
    (spread over one hop, as devices that connected at different times; all 0 with ``aligned``: then every
    device completes a window in the same second, a burst of n windows every hop); it publishes its local
    second k at start + offset + k + 1 + i / n (staggered over the second)."""

    def __init__(self, port: int, n: int, clients: int = 4, aligned: bool = False):
        self.n = n
        self.offset = np.zeros(n, int) if aligned else (np.arange(n) * HOP_S) // n
        self.names = [f"dev{i:04d}" for i in range(n)]
        self.index = {name: i for i, name in enumerate(self.names)}
        base = [h.activity_signal(60, seed=k) for k in range(min(n, 50))]  # 60 s loops, shared by device
        self.signals = [base[i % len(base)] for i in range(n)]
        self.pubs = [h.Publisher(port, client_id=f"fleet-{k}") for k in range(clients)]
        self.sent = np.full((n, 0), np.nan)
        self.start = 0.0
        self.slip: list[float] = []  # how late each second's last publish was against its schedule

    def run(self, seconds: int) -> None:
        self.sent = np.full((self.n, seconds), np.nan)  # time.time() of each (device, local second) publish
        self.start = np.ceil(time.time()) + 1.0
        slots = np.minimum((np.arange(self.n) / self.n * 100).astype(int), 99)  # 10 ms slots within the second
        for s in range(seconds):  # wall seconds
            for k in range(100):
                target = self.start + s + 1 + k / 100
                wait = target - time.time()
                if wait > 0:
                    time.sleep(wait)
                for i in np.flatnonzero((slots == k) & (self.offset <= s)):
                    local = s - self.offset[i]
                    rows = np.arange(local * 30, (local + 1) * 30)
                    t = self.start + self.offset[i] + rows / 30  # device time: the wall time the samples were taken
                    xyz = self.signals[i][rows % len(self.signals[i])]
                    self.pubs[i % len(self.pubs)].publish(f"wearables/{self.names[i]}/acc", h.batch_payload(t, xyz))
                    self.sent[i, local] = time.time()
            self.slip.append(time.time() - (self.start + s + 2))

    def run_in_background(self, seconds: int) -> threading.Thread:
        """:meth:`run` in a thread, returned once ``start`` is set (so :meth:`at` can count from it)."""
        runner = threading.Thread(target=self.run, args=(seconds,))
        runner.start()
        while self.start == 0.0:
            time.sleep(0.01)
        return runner

    def at(self, second: float) -> None:
        """Sleep until ``second`` seconds after the fleet's start."""
        time.sleep(max(self.start + second - time.time(), 0))

    def last_sent(self, lat: np.ndarray) -> np.ndarray:
        """When each of :func:`latencies`' windows had its last second published."""
        return self.sent[lat[:, 0].astype(int), lat[:, 1].astype(int) + WINDOW_S - 1]

    def local_start(self, body: dict) -> int:
        """An event's window start in its device's local seconds."""
        i = self.index[body["device"]]
        return int(round(body["start"] - self.start - self.offset[i]))

    def expected(self, seconds: int) -> int:
        """Windows the devices complete in ``seconds`` of wall time (10 s windows every hop, from each clock's start)."""
        return int(sum(max((seconds - o - WINDOW_S) // HOP_S + 1, 0) for o in self.offset))

    def expected_ids(self, seconds: int) -> set:
        return {(self.names[i], s0) for i in range(self.n)
                for s0 in range(0, seconds - self.offset[i] - WINDOW_S + 1, HOP_S)}

    def close(self) -> None:
        for p in self.pubs:
            p.close()


def proc_cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def latencies(fleet: Fleet, events: list[tuple[dict, float]]) -> np.ndarray:
    """(n_events, 3) rows: device index, window start second, end-to-end latency in seconds."""
    rows = []
    for body, received in events:
        i = fleet.index[body["device"]]
        s0 = fleet.local_start(body)
        last = s0 + WINDOW_S - 1  # the second whose message holds the window's last sample
        if 0 <= last < fleet.sent.shape[1] and np.isfinite(fleet.sent[i, last]):
            rows.append((i, s0, received - fleet.sent[i, last]))
    return np.array(rows).reshape(-1, 3)


def histogram_quantiles(metrics: dict, name: str) -> dict:
    """p50 / p99 (upper bucket bounds, ms) and mean of a Prometheus histogram from the gateway's /metrics."""
    buckets = sorted((float(k.split("le=")[1].rstrip("}")), v) for k, v in metrics.items()
                     if k.startswith(name + "_bucket{"))
    count = metrics.get(name + "_count", 0)
    out = {"count": int(count), "mean_ms": round(metrics.get(name + "_sum", 0) / count * 1e3, 2) if count else None}
    for q in (50, 99):
        bound = next((le for le, v in buckets if v >= q / 100 * count), float("inf"))
        out[f"p{q}_at_most_ms"] = bound * 1e3
    return out


def wait_quiet(collector, want: int, quiet_s: float = 4.0, limit_s: float = 120.0) -> None:
    """Until ``want`` events arrived, or none for ``quiet_s``."""
    deadline, last, seen = time.monotonic() + limit_s, time.monotonic(), -1
    while time.monotonic() < deadline:
        n = len(collector.events())
        if n >= want:
            return
        if n != seen:
            seen, last = n, time.monotonic()
        elif time.monotonic() - last > quiet_s:
            return
        time.sleep(0.2)


def summary(lat: np.ndarray) -> dict:
    ms = lat[:, 2] * 1e3 if len(lat) else np.array([np.nan])
    return {"windows": int(len(lat)), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2)}


class Setup:
    """Broker, gateway and subscriber for one run, in ``folder``."""

    def __init__(self, args, folder: Path):
        shutil.rmtree(folder, ignore_errors=True)
        self.broker = h.Broker(folder / "broker").start()
        self.collector = h.Collector(self.broker.port, topics=("wearables/+/activity",))
        extra = ["--threads", str(args.threads)] if args.threads else []
        extra += ["--config", str(args.gateway_config)] if args.gateway_config else []
        self.gw = h.GatewayProcess(args.bundle, self.broker.port, folder / "gw", *extra)
        self.gw.env["FLOWFM_EDGE_PROGRESS_S"] = "30"
        self.gw.start()

    def close(self) -> None:
        self.gw.stop()
        self.collector.close()
        self.broker.stop()


def steady(args, n: int, folder: Path) -> dict:
    st = Setup(args, folder)
    fleet = Fleet(st.broker.port, n, aligned=args.aligned)
    cpu0, load0 = proc_cpu_s(st.gw.proc.pid), load_average()
    t0 = time.monotonic()
    fleet.run(args.seconds)
    wait_quiet(st.collector, fleet.expected(args.seconds))
    wall = time.monotonic() - t0
    m = st.gw.metrics()
    cpu, hwm = proc_cpu_s(st.gw.proc.pid) - cpu0, proc_hwm_mb(st.gw.proc.pid)
    inferred = m.get("flowfm_gateway_windows_inferred_total", 0)
    st.gw.term()
    lat = latencies(fleet, [(b, r) for t, b, r in st.collector.messages])
    out = {"devices": n, "seconds": args.seconds, "aligned": args.aligned, "expected_windows": fleet.expected(args.seconds),
           "windows_received": len(st.collector.events()), "windows_inferred": int(inferred),
           "windows_per_s": round(len(lat) / max(np.ptp([r for t, b, r in st.collector.messages]), 1e-9), 2),
           "gateway_cpu_s": round(cpu, 2), "cpu_s_per_window": round(cpu / max(inferred, 1), 6),
           "gateway_peak_rss_mb": round(hwm, 1), "latency": summary(lat), "wall_s": round(wall, 1),
           "in_gateway": histogram_quantiles(m, "flowfm_gateway_latency_seconds"),
           "inference_batch": histogram_quantiles(m, "flowfm_gateway_inference_seconds"),
           "publish_slip_p99_s": round(float(np.percentile(fleet.slip, 99)), 3),
           "drops": {k: v for k, v in m.items() if k.startswith("flowfm_gateway_drops_total")},
           "load_average_start": load0, "load_average_end": load_average()}
    fleet.close()
    st.close()
    return out


def faults(args, n: int, folder: Path) -> dict:
    """Broker restart at 20 s, graceful gateway restart at 45 s, hot update at 70 s; ``args.fault_seconds`` in all."""
    st = Setup(args, folder)
    update = folder / "bundle-v2"
    shutil.copytree(args.bundle, update)
    (update / "bundle.sig").unlink(missing_ok=True)
    manifest = json.loads((update / "manifest.json").read_text())
    manifest["note"] = "v2"
    (update / "manifest.json").write_text(json.dumps(manifest, indent=2))
    fleet = Fleet(st.broker.port, n, aligned=args.aligned)
    seconds = args.fault_seconds
    runner = fleet.run_in_background(seconds)
    log = []
    fleet.at(20)
    log.append(("broker restart", time.time()))
    st.broker.restart(down_s=0.5)
    fleet.at(45)
    log.append(("graceful gateway restart", time.time()))
    st.gw.term()
    st.gw.start()
    fleet.at(70)
    log.append(("hot update", time.time()))
    fleet.pubs[0].publish("flowfm-edge/gw-test/control", json.dumps({"update": str(update)}).encode())
    runner.join()
    wait_quiet(st.collector, fleet.expected(seconds), quiet_s=6.0)
    m = st.gw.metrics()
    st.gw.term()
    events = [(b, r) for t, b, r in st.collector.messages if t.endswith("/activity")]
    with open(folder / "events.jsonl", "w") as f:  # for a closer look at any window lost
        f.writelines(json.dumps({**b, "received": r, "t0": fleet.start}) + "\n" for b, r in events)
    lat = latencies(fleet, events)
    ids = [(b["device"], fleet.local_start(b)) for b, _ in events]
    expected = fleet.expected_ids(seconds)
    bundles = sorted({b["bundle"]["id"] for b, _ in events})
    sent = fleet.last_sent(lat)
    before = lat[sent < log[0][1] - 2]
    out = {"devices": n, "seconds": seconds, "expected_windows": len(expected), "received": len(ids),
           "distinct": len(set(ids)), "lost": len(expected - set(ids)), "duplicates": len(ids) - len(set(ids)),
           "unexpected": len(set(ids) - expected), "bundles_seen": bundles, "steady_before_faults": summary(before),
           "updates_accepted": m.get("flowfm_gateway_bundle_updates_total{result=accepted}", 0), "faults": []}
    for name, when in log:
        lost_here = {k for k in expected - set(ids)
                     if when - 5 <= fleet.start + fleet.offset[fleet.index[k[0]]] + k[1] + WINDOW_S <= when + 15}
        out["faults"].append({"fault": name, "at_s": round(when - fleet.start, 1), "windows_lost": len(lost_here),
                              "after_15s": summary(lat[(sent >= when) & (sent < when + 15)])})
    out["gateway_log_tail"] = st.gw.log().splitlines()[-12:]
    fleet.close()
    st.close()
    return out


def kill(args, n: int, folder: Path) -> dict:
    """kill -9 at 30 s, start again at once; ``args.kill_seconds`` of traffic."""
    st = Setup(args, folder)
    fleet = Fleet(st.broker.port, n, aligned=args.aligned)
    seconds = args.kill_seconds
    runner = fleet.run_in_background(seconds)
    fleet.at(30)
    killed = time.time()
    st.gw.kill()
    st.gw.start()
    runner.join()
    wait_quiet(st.collector, fleet.expected(seconds), quiet_s=6.0)
    st.gw.term()
    events = [(b, r) for t, b, r in st.collector.messages if t.endswith("/activity")]
    lat = latencies(fleet, events)
    ids = [(b["device"], round(b["start"], 3)) for b, _ in events]
    said = re.search(r"at most (\d+) windows lost", st.gw.log())
    sent = fleet.last_sent(lat)
    out = {"devices": n, "seconds": seconds, "killed_at_s": round(killed - fleet.start, 1),
           "expected_windows": fleet.expected(seconds), "received": len(ids), "duplicates": len(ids) - len(set(ids)),
           "windows_lost": fleet.expected(seconds) - len(set(ids)),
           "reported_at_most": int(said.group(1)) if said else None,
           "after_15s": summary(lat[(sent >= killed) & (sent < killed + 15)])}
    fleet.close()
    st.close()
    return out


def versions(args) -> dict:
    """What this benchmark depends on beside the machine: the broker, the libraries, the gateway's settings."""
    import onnxruntime
    import paho.mqtt

    mosquitto = subprocess.run([h.mosquitto_binary(), "-h"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"mosquitto": mosquitto, "onnxruntime": onnxruntime.__version__, "paho_mqtt": paho.mqtt.__version__,
            "bundle": str(args.bundle), "threads": args.threads,
            "gateway_config": args.gateway_config.read_text() if args.gateway_config else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--devices", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--faults", action="store_true")
    ap.add_argument("--fault-seconds", type=int, default=100)
    ap.add_argument("--kill", action="store_true")
    ap.add_argument("--kill-seconds", type=int, default=70)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads in the gateway (0: its default)")
    ap.add_argument("--aligned", action="store_true", help="all device clocks start together: window bursts")
    ap.add_argument("--gateway-config", type=Path, help="a gateway.toml for the gateway (e.g. [stream] max_delay_s)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/flowfm-gateway-bench"))
    ap.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/gateway_mqtt.json)")
    args = ap.parse_args()
    env = start_environment(threads=args.threads)
    res = {"setup": versions(args), "steady": [], "faults": None, "kill": None}
    for n in args.devices:
        res["steady"].append(steady(args, n, args.work / f"steady-{n}"))
        print(json.dumps(res["steady"][-1]), flush=True)
    if args.faults:
        res["faults"] = faults(args, max(args.devices), args.work / "faults")
        print(json.dumps(res["faults"]), flush=True)
    if args.kill:
        res["kill"] = kill(args, max(args.devices), args.work / "kill")
        print(json.dumps(res["kill"]), flush=True)
    write_result(result_path(args.out, "gateway_mqtt"), res, env)


if __name__ == "__main__":
    main()
