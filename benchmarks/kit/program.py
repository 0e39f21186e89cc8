"""A module run as a program under watch: ``python -m benchmarks.kit.program [--torch-free] [--peak-rss] MODULE [ARGS ...]``.

Runs ``MODULE`` in this process as ``python -m MODULE ARGS`` would; ``MODULE:FUNCTION ARGS`` instead calls
that function with the arguments (strings) and prints ``RESULT <JSON>``, or ``ERROR <type>: <message>``
and exits 1 when it raises. ``--torch-free`` first makes torch,
scipy, scikit-learn and matplotlib unimportable, so the run shows it needs none of them (the gateway
tests and benchmarks run the gateway so). ``--peak-rss`` prints ``PEAK_RSS_KB <kB>`` on stderr at the
end: the process's VmHWM, not ``ru_maxrss``, which survives fork and exec, so that a child of a large
parent would report the parent's peak. :func:`peak_rss` runs a module so in a fresh process and reads the
figure back. ``--import-time MODULE`` only imports it and prints ``IMPORT_S <seconds>``.

The file needs nothing but the standard library, so another environment's Python can run it by path
(``python .../benchmarks/kit/program.py --import-time flowfm_edge.runtimes.stream``), as the runtime
install benchmark does in a fresh venv.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

MARK = "PEAK_RSS_KB"
TRAINING_STACK = ("torch", "scipy", "sklearn", "matplotlib")
CHECKOUT = Path(__file__).resolve().parents[2]  # where `benchmarks` is found


def vm_hwm_kb() -> int:
    """This process's peak resident memory so far (``VmHWM`` of /proc/self/status), kB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def import_seconds(module: str) -> float:
    """Seconds to import ``module`` (and what it imports) in this process."""
    t0 = time.perf_counter()
    importlib.import_module(module)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--import-time"] and len(args) == 2:
        print("IMPORT_S", import_seconds(args[1]), flush=True)
        return 0
    flags = set()
    while args and args[0] in ("--torch-free", "--peak-rss"):
        flags.add(args.pop(0))
    if not args:
        print("usage: python -m benchmarks.kit.program [--torch-free] [--peak-rss] MODULE [ARGS ...] | --import-time MODULE",
              file=sys.stderr)
        return 2
    if "--torch-free" in flags:
        for name in TRAINING_STACK:
            sys.modules[name] = None  # an import of it now raises ImportError
    target, sys.argv = args[0], args
    code = call(target, args[1:]) if ":" in target else run(target)
    if "--peak-rss" in flags:
        print(MARK, vm_hwm_kb(), file=sys.stderr, flush=True)
    return code


def run(module: str) -> int:
    """``module`` as ``__main__``; its exit status."""
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def call(target: str, args: list[str]) -> int:
    """``module:function`` called with ``args``: prints its result as JSON (objects with a length as their type and
    length), or the error it raised."""
    module, function = target.split(":", 1)
    try:
        result = getattr(importlib.import_module(module), function)(*args)
    except Exception as exc:  # noqa: BLE001  what the function raises is the result
        print(f"ERROR {type(exc).__name__}: {' '.join(str(exc).split())}", flush=True)
        return 1
    summary = lambda o: f"{type(o).__name__} of {len(o)}" if hasattr(o, "__len__") else type(o).__name__  # noqa: E731
    print("RESULT", json.dumps(result, default=summary), flush=True)
    return 0


def command(module: str, *args: str, torch_free: bool = False, peak: bool = False) -> list[str]:
    """The command line that runs ``module`` with ``args`` under this harness."""
    flags = ["--torch-free"] * torch_free + ["--peak-rss"] * peak
    return [sys.executable, "-m", "benchmarks.kit.program", *flags, module, *map(str, args)]


def peak_rss(module: str, args: list[str], cwd: str | Path | None = None,
             timeout: float = 1800) -> tuple[float | None, subprocess.CompletedProcess]:
    """Peak RSS in MB of ``python -m MODULE ARGS`` in a fresh process (None if it printed none), and the process.

    ``cwd`` (default: this checkout) decides whose ``flowfm_edge`` runs: ``python -m`` puts it first on the
    path, ahead of this checkout, where this module is found.
    """
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    res = subprocess.run(command(module, *args, peak=True), capture_output=True, text=True, cwd=cwd or CHECKOUT,
                         env=env, timeout=timeout)
    kb = [int(line.split()[1]) for line in res.stderr.splitlines() if line.startswith(MARK)]
    return (kb[-1] / 1024 if kb else None), res


if __name__ == "__main__":
    sys.exit(main())
