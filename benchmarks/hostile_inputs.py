"""Hostile inputs: what each one ends in, stream memory under a 200 MB line, and idle-eviction cost.

Three parts, each on real code paths (a nano run and bundles exported from it, built here):

1. **Cases**: every known hostile input (tampered weights, manifest
   edits, paths out of the bundle, NaN windows, undecodable or endless stream lines, clock
   resets, resume mismatches, torn checkpoints, damaged files, ``--out`` over the run, ...),
   plus a fuzz corpus (hypothesis: stream lines, manifest mutations checked against a
   signed bundle, ``.npz`` files). Each ends in one of: *clear error* (a typed error or one
   red CLI line, exit 1), *counted drop* (the stream goes on and counts it), *crash* (any
   other exception, a traceback), *silently wrong* (no error, wrong or unsafe result).
2. **Stream memory**: peak RSS of ``python -m flowfm_edge.runtimes stream`` (no torch) on a
   sample file, and on the same file with one 200 MB line inserted.
3. **Eviction**: a gateway loop (push, then poll) over N distinct devices with
   ``max_devices = N / 2``, so every second push evicts; N = 10k and 40k. With ``--before
   ROOT`` the same loop also runs on another checkout (e.g. main before this change).

    python benchmarks/hostile_inputs.py                       # all three parts, ~3 minutes on 1 core
    python benchmarks/hostile_inputs.py --fuzz-examples 2000 --before /path/to/old/checkout

Writes ``benchmarks/results/hostile_inputs.json`` (or ``--out``) and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from hostile_bundle_cases import CASES as BUNDLE_CASES  # noqa: E402  (beside this script)
from hostile_run_cases import CASES as RUN_CASES  # noqa: E402
from hostile_workspace import Outcome, Workspace  # noqa: E402

CASES = BUNDLE_CASES + RUN_CASES

OUTCOMES = ("clear error", "counted drop", "crash", "silently wrong")


def run_cases(ws: Workspace, cases=CASES) -> list[dict]:
    rows = []
    for name, fn in cases:
        t0 = time.perf_counter()
        try:
            outcome, detail = fn(ws)
        except Exception as exc:  # noqa: BLE001 - the point is to see what escapes
            outcome, detail = Outcome.CRASH, f"{type(exc).__name__}: {str(exc)[:160]}"
        rows.append({"case": name, "outcome": outcome, "detail": " ".join(str(detail).split())[:200],
                     "seconds": round(time.perf_counter() - t0, 2)})
        print(f"  {outcome:<15} {name}: {rows[-1]['detail'][:110]}", flush=True)
    return rows


def run_fuzz(ws: Workspace, examples: int) -> dict:
    """Counts of fuzz outcomes per reader; any exception outside the reader's own error types is a crash."""
    from hypothesis import HealthCheck, given, settings

    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "tests" / "test_fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    from flowfm_edge.data.contract import DataError
    from flowfm_edge.data.npz import load_npz
    from flowfm_edge.bundle.manifest import BundleError, read_manifest
    from flowfm_edge.runtimes.base import verified_manifest
    from flowfm_edge.runtimes.stream_io import InputError, SampleReader, byte_lines

    counts = {k: {o: 0 for o in ("accepted", *OUTCOMES)} for k in ("stream lines", "manifest", ".npz")}
    crashes: list[str] = []
    cfg = settings(max_examples=examples, deadline=None, database=None, derandomize=True,  # same corpus every run
                   suppress_health_check=list(HealthCheck))

    def record(kind, fn):
        try:
            counts[kind][fn()] += 1
        except Exception as exc:  # noqa: BLE001
            counts[kind]["crash"] += 1
            crashes.append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")

    def lines_outcome(raw, fmt):
        reader = SampleReader(byte_lines(io.BytesIO(b"\n".join(raw)), 256), fmt, max_line_bytes=256)
        try:
            list(reader)
        except InputError:
            return "clear error"
        return "counted drop" if reader.stats.malformed else "accepted"

    @cfg
    @given(fuzz.csv_lines)
    def csv(raw):
        record("stream lines", lambda: lines_outcome(raw, "csv"))

    @cfg
    @given(fuzz.jsonl_lines)
    def jsonl(raw):
        record("stream lines", lambda: lines_outcome(raw, "jsonl"))

    original = json.loads((ws.signed / "manifest.json").read_text())
    probe = ws.tmp / "fuzz-signed"
    shutil.copytree(ws.signed, probe)

    def manifest_outcome(document):
        (probe / "manifest.json").write_text(json.dumps(document))
        try:
            verified_manifest(probe, ws.public_key)
        except BundleError:
            return "clear error"
        # with a trust key only the signed manifest itself may pass
        return "accepted" if document == original else "silently wrong"

    from hypothesis import strategies as st

    @cfg
    @given(choice=st.integers(0, 10_000), action=st.sampled_from(["delete", "replace"]), value=fuzz.json_values)
    def manifests(choice, action, value):
        record("manifest", lambda: manifest_outcome(fuzz.mutate_manifest(original, choice, action, value)))

    @cfg
    @given(document=fuzz.json_values)
    def manifest_json(document):
        def outcome():
            (probe / "manifest.json").write_text(json.dumps(document))
            try:
                read_manifest(probe)
            except BundleError:
                return "clear error"
            return "silently wrong"
        record("manifest", outcome)

    npz_path = ws.tmp / "fuzz.npz"

    def npz_outcome():
        try:
            wset = load_npz(npz_path)
        except DataError:
            return "clear error"
        ok = wset.X.dtype == np.float32 and wset.X.shape[1:] == (3, 300) and np.isfinite(wset.X).all()
        return "accepted" if ok else "silently wrong"

    @cfg
    @given(fields=st.dictionaries(st.sampled_from(["X", "y", "pid", "classes", "other"]), fuzz.arrays(), max_size=5))
    def npz_fields(fields):
        np.savez(npz_path, **fields)
        record(".npz", npz_outcome)

    @cfg
    @given(raw=st.binary(max_size=400), keep=st.integers(0, 2000))
    def npz_bytes(raw, keep):
        good = io.BytesIO()
        np.savez(good, X=np.zeros((1, 3, 300), np.float32), pid=np.zeros(1))
        npz_path.write_bytes(good.getvalue()[:keep] + raw)
        record(".npz", npz_outcome)

    for fn in (csv, jsonl, manifests, manifest_json, npz_fields, npz_bytes):
        t0 = time.perf_counter()
        fn()
        print(f"  fuzz {fn.__name__}: {time.perf_counter() - t0:.1f} s", flush=True)
    (probe / "manifest.json").write_text(json.dumps(original))
    return {"examples_per_target": examples, "counts": counts, "crashes": crashes[:20]}


# VmHWM, not ru_maxrss: the latter survives fork + exec, so a child of a big parent reports the parent's peak
RSS_CHILD = """
import sys
from flowfm_edge.runtimes.commands import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("PEAK_RSS_KB", hwm, file=sys.stderr)
"""


def stream_memory(ws: Workspace, repeats: int, line_mb: int, before: str | None = None) -> dict:
    base = ws.tmp / "samples.csv"
    base.write_text(ws.sample_csv(minutes=2))
    hostile = ws.tmp / "samples-long-line.csv"
    with open(base, "rb") as src, open(hostile, "wb") as dst:
        head = src.read(len(base.read_bytes()) // 2)
        cut = head.rfind(b"\n") + 1
        dst.write(head[:cut])
        chunk = b"9" * (1 << 20)
        for _ in range(line_mb):
            dst.write(chunk)
        dst.write(b"\n")
        dst.write(head[cut:])
        shutil.copyfileobj(src, dst)
    everything = {}
    for label, root in {"this checkout": str(ROOT), **({"before": before} if before else {})}.items():
        everything[label] = _memory_runs(ws, root, base, hostile, repeats, line_mb)
        print(f"  ({label})", flush=True)
    return everything


def _memory_runs(ws: Workspace, root: str, base: Path, hostile: Path, repeats: int, line_mb: int) -> dict:
    out = {}
    for name, path in (("baseline", base), (f"{line_mb} MB line", hostile)):
        peaks, walls, malformed = [], [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", RSS_CHILD, "stream", str(ws.bundle), "--input", str(path),
                                  "--output", os.devnull, "--stats"], capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": root}, cwd=root, timeout=600)
            walls.append(time.perf_counter() - t0)
            kb = [int(line.split()[1]) for line in res.stderr.splitlines() if line.startswith("PEAK_RSS_KB")]
            peaks.append(kb[0] / 1024 if kb else float("nan"))
            malformed = next((line.split("malformed lines")[1].split()[0] for line in res.stderr.splitlines()
                              if "malformed lines" in line), None)
        out[name] = {"peak_rss_mb": statistics.median(peaks), "runs_mb": [round(p, 1) for p in peaks],
                     "wall_s": round(statistics.median(walls), 2), "malformed_lines": malformed,
                     "bytes": path.stat().st_size}
        print(f"  {name}: peak RSS {out[name]['peak_rss_mb']:.1f} MB (runs {out[name]['runs_mb']}), "
              f"malformed {malformed}", flush=True)
    b, h = out["baseline"]["peak_rss_mb"], out[f"{line_mb} MB line"]["peak_rss_mb"]
    out["ratio"] = round(h / b, 3)
    return out


EVICT_CHILD = """
import json, sys, time
import numpy as np
from flowfm_edge import runtimes
from flowfm_edge.runtimes.stream import GatewayStream
bundle, n = sys.argv[1], int(sys.argv[2])
now = [0.0]
gw = GatewayStream(runtimes.load(bundle), clock=lambda: now[0], max_devices=n // 2, idle_s=1e9, max_delay_s=1e9)
t = 100.0 + np.arange(10) / 30
v = np.tile([0.0, 0.0, 1.0], (10, 1))
t0 = time.perf_counter()
for i in range(n):
    now[0] = float(i)
    gw.push(f"dev{i:06d}", t, v)
    gw.poll()
import flowfm_edge
print(json.dumps({"seconds": time.perf_counter() - t0, "active": len(gw.devices), "code": flowfm_edge.__file__}))
"""


def eviction(ws: Workspace, sizes: list[int], repeats: int, before: str | None) -> dict:
    out = {}
    roots = {"this checkout": str(ROOT)} | ({"before": before} if before else {})
    for label, root in roots.items():
        out[label] = {}
        for n in sizes:
            secs = []
            for _ in range(repeats):
                # cwd = root: `python -c` puts the working directory ahead of PYTHONPATH
                res = subprocess.run([sys.executable, "-c", EVICT_CHILD, str(ws.bundle), str(n)], capture_output=True,
                                     text=True, env={**os.environ, "PYTHONPATH": root}, cwd=root, timeout=1800)
                if res.returncode != 0:
                    raise RuntimeError(f"eviction run failed ({label}, {n}): {res.stderr[-400:]}")
                record = json.loads(res.stdout.strip().splitlines()[-1])
                secs.append(record["seconds"])
            out[label][str(n)] = {"seconds": round(statistics.median(secs), 3), "runs": [round(s, 3) for s in secs],
                                  "code": record["code"]}
            print(f"  {label}: {n} devices {out[label][str(n)]['seconds']:.2f} s (runs {out[label][str(n)]['runs']})",
                  flush=True)
        a, b = out[label][str(sizes[0])]["seconds"], out[label][str(sizes[-1])]["seconds"]
        out[label]["ratio"] = round(b / a, 2)
    return out


def table(rows: list[dict], fuzz: dict | None, outcomes: tuple[str, ...] = OUTCOMES) -> str:
    lines = ["| case | outcome | what happened |", "| --- | --- | --- |"]
    lines += [f"| {r['case']} | {r['outcome']} | {r['detail'][:120]} |" for r in rows]
    totals = {o: sum(r["outcome"] == o for r in rows) for o in outcomes}
    lines += ["", "| inputs | tried | " + " | ".join(outcomes) + " | accepted (valid input) |",
              "| --- | ---: |" + " ---: |" * (len(outcomes) + 1)]
    lines.append(f"| listed cases | {len(rows)} | " + " | ".join(str(totals[o]) for o in outcomes) + " | 0 |")
    if fuzz:
        for kind, c in fuzz["counts"].items():
            tried = sum(c.values())
            lines.append(f"| fuzz: {kind} | {tried} | " + " | ".join(str(c.get(o, 0)) for o in outcomes)
                         + f" | {c['accepted']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fuzz-examples", type=int, default=300, help="hypothesis examples per fuzz target")
    ap.add_argument("--line-mb", type=int, default=200, help="size of the one long stream line")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="10000,40000", help="device counts for the eviction loop")
    ap.add_argument("--before", default=None, help="another checkout to run the memory and eviction parts on, for comparison")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: cases, fuzz, memory, eviction")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hostile_inputs.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    # parts skipped now keep their figures from the last run
    result: dict = json.loads(args.out.read_text()) if skip and args.out.is_file() else {}
    from flowfm_edge.bench.environment import environment

    stamp = {"command": " ".join(["python", *sys.argv]), **environment(threads=None)}  # its "date" is UTC
    result.setdefault("runs", []).append(stamp)
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        ws = Workspace(Path(tmp))
        print("building a nano run and bundles ...", flush=True)
        ws.build()
        if "cases" not in skip:
            print("cases:", flush=True)
            result["cases"] = run_cases(ws)
        if "fuzz" not in skip:
            print("fuzz:", flush=True)
            result["fuzz"] = run_fuzz(ws, args.fuzz_examples)
        if "memory" not in skip:
            print("stream memory:", flush=True)
            result["stream_memory"] = stream_memory(ws, args.repeats, args.line_mb, args.before)
        if "eviction" not in skip:
            print("eviction:", flush=True)
            result["eviction"] = eviction(ws, [int(s) for s in args.sizes.split(",")], args.repeats, args.before)
    print()
    if "cases" in result:
        print(table(result["cases"], result.get("fuzz")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
