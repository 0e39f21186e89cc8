"""Training throughput under process-level settings: the memory allocator, and the cores split across processes.

``benchmarks.perf.train_throughput`` varies what one process can change (precision, attention kernel, compilation);
this script varies what it cannot, by running it in child processes:

- ``glibc``: the default allocator, all threads in one process (the reference);
- ``jemalloc`` / ``tcmalloc``: the same, with the allocator preloaded (``LD_PRELOAD``). jemalloc runs
  with the settings PyTorch's CPU performance guide gives (``MALLOC_CONF``); an allocator that is not
  installed is skipped with the package that provides it;
- ``processes``: one single-thread process per core, pinned, all at once, their windows/s summed. That is
  the most data-parallel training (``torchrun``, one rank per core) could reach, before its gradient
  all-reduce.

Settings alternate within each repeat, so drift on a shared machine falls on all of them; the table
reports medians.

    python -m benchmarks.perf.train_process_settings --preset tiny --repeats 3
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.kit import result_path, start_environment, write_result

LIBRARIES = {"jemalloc": ("jemalloc", "libjemalloc2"),  # setting -> (library name, Debian package)
             "tcmalloc": ("tcmalloc_minimal", "libtcmalloc-minimal4")}
JEMALLOC_CONF = "oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def throughput(args, env: dict, cpus: str | None = None) -> tuple[subprocess.Popen, Path]:
    """A child ``benchmarks.perf.train_throughput`` run of one repeat, started, and the temporary file its JSON goes to."""
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    cmd = [sys.executable, "-m", "benchmarks.perf.train_throughput", "--preset", args.preset, "--batch", str(args.batch),
           "--steps", str(args.steps), "--warm", str(args.warm), "--repeats", "1", "--variants", args.variant,
           "--out", out]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus] + cmd
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, Path(out)


def rate(child: tuple[subprocess.Popen, Path]) -> float:
    """Windows/s of a child run, once it has finished."""
    proc, path = child
    log, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"benchmarks.perf.train_throughput failed ({proc.returncode}):\n{log[-2000:]}")
    value = json.loads(path.read_text())["results"][0]["windows_per_s_median"]
    path.unlink()
    return value


def allocator_settings() -> tuple[dict[str, dict], dict[str, str]]:
    """The environment of each setting that runs here, and why the others are skipped."""
    settings: dict[str, dict] = {"glibc": {}}
    skipped = {}
    for name, (library, package) in LIBRARIES.items():
        lib = ctypes.util.find_library(library)  # the soname, which LD_PRELOAD finds on the loader's path
        if lib is None:
            skipped[name] = f"not installed (Debian/Ubuntu: apt-get install {package})"
            continue
        settings[name] = {"LD_PRELOAD": lib} | ({"MALLOC_CONF": JEMALLOC_CONF} if name == "jemalloc" else {})
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", flush=True)
    return settings, skipped


def measure(args, settings: dict[str, dict]) -> dict[str, list[float]]:
    """Windows/s of every setting and of one pinned process per core (summed), settings alternating per repeat."""
    threads = {"OMP_NUM_THREADS": str(args.threads)}
    runs: dict[str, list[float]] = {name: [] for name in [*settings, "processes"]}
    for rep in range(args.repeats):
        for name, env in settings.items():
            runs[name].append(rate(throughput(args, threads | env)))
            print(f"repeat {rep + 1}/{args.repeats}  {name:>10}  {runs[name][-1]:7.1f} windows/s", flush=True)
        procs = [throughput(args, {"OMP_NUM_THREADS": "1"}, cpus=str(core)) for core in range(args.threads)]
        per_process = [rate(p) for p in procs]
        runs["processes"].append(sum(per_process))
        print(f"repeat {rep + 1}/{args.repeats}  {'processes':>10}  {sum(per_process):7.1f} windows/s "
              f"({' + '.join(f'{r:.1f}' for r in per_process)})", flush=True)
    return runs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=15, help="timed steps per run")
    ap.add_argument("--warm", type=int, default=5, help="warm-up steps per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variant", default="fp32", help="the benchmarks.perf.train_throughput variant every setting runs")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of the one-process settings "
                                                                         "(and processes of 'processes')")
    ap.add_argument("--out", "--json", dest="out", default=None,
                    help="the result JSON (default: benchmarks/results/train_process_settings_<preset>.json)")
    args = ap.parse_args(argv)
    env = start_environment(threads=args.threads)
    settings, skipped = allocator_settings()
    runs = measure(args, settings)
    base = statistics.median(runs["glibc"])
    labels = {"glibc": f"glibc malloc, 1 process x {args.threads} threads",
              "jemalloc": f"jemalloc, 1 process x {args.threads} threads",
              "tcmalloc": f"tcmalloc, 1 process x {args.threads} threads",
              "processes": f"{args.threads} processes x 1 thread, pinned (sum)"}
    rows = []
    print(f"\n{args.preset}, batch {args.batch}, variant {args.variant}; median of {args.repeats}")
    print(f"{'setting':>45} {'windows/s':>10} {'x glibc':>8}   runs")
    for name, values in runs.items():
        med = statistics.median(values)
        rows.append({"setting": name, "label": labels[name], "env": settings.get(name, {}),
                     "windows_per_s_median": med, "windows_per_s_runs": values, "speedup": med / base})
        print(f"{labels[name]:>45} {med:10.1f} {med / base:8.2f}   {', '.join(f'{v:.1f}' for v in values)}")
    result = {"preset": args.preset, "batch": args.batch, "steps": args.steps, "warm": args.warm,
              "variant": args.variant, "skipped": skipped, "results": rows}
    write_result(result_path(args.out, f"train_process_settings_{args.preset}"), result, env)


if __name__ == "__main__":
    main()
