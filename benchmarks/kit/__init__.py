"""The benchmarks' one shared kit: where a result goes and what it records, timing, tables, argument lists.

Built on :mod:`flowfm_edge.bench`: latency statistics come from :mod:`flowfm_edge.bench.stats`, Markdown
tables from :func:`flowfm_edge.bench.report.table`, the machine from
:func:`flowfm_edge.bench.environment.environment`. Every benchmark writes its JSON with
:func:`write_result`, which leads it with the command that produced it, its date (UTC, when the
benchmark started) and the machine (CPU model); ``python -m benchmarks.report`` renders
``benchmarks/README.md`` from those files.

Beside this module: :mod:`.program` (a module run as a program with the training stack blocked, or its
peak memory read), :mod:`.mqtt` (a real Mosquitto and the gateway as a process), :mod:`.device_files`
(accelerometer files written from their formats' descriptions) and :mod:`.recordings` (Sensor Logger exports,
zip bombs, stream files); the tests share the last three. Importing the
kit loads nothing beyond the standard library (``flowfm_edge.bench`` on first use), so the programs that
:mod:`.program` runs and measures carry nothing of it.

>>> markdown_table(["a", "b"], [[1, 0.5]])
'| a | b |\\n|---|---|\\n| 1 | 0.500 |'
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Hashable

RESULTS = Path(__file__).resolve().parents[1] / "results"
# settings of the environment that change what a benchmark measures: recorded with its command when set
ENV_SETTINGS = ("CLAIMS_THREADS", "CLAIMS_COMPILE", "OMP_NUM_THREADS")


def command_line(argv: list[str] | None = None) -> str:
    """This process's command as a user types it (``python -m benchmarks.perf.x --flag``), after the settings
    of :data:`ENV_SETTINGS` that are set."""
    argv = list(getattr(sys, "orig_argv", sys.argv) if argv is None else argv)
    argv[0] = "python"
    return shlex.join([f"{k}={os.environ[k]}" for k in ENV_SETTINGS if k in os.environ] + argv)


def start_environment(threads: int | None = None) -> dict:
    """The machine, libraries, load and UTC date as the benchmark starts (``threads``: None where each row
    names its own)."""
    from flowfm_edge.bench.environment import environment

    return environment(threads=threads)


def provenance(env: dict) -> dict:
    """What every result leads with: the command, the date it started and the machine's CPU model."""
    return {"command": command_line(), "date": env["date"], "machine": env["cpu"]}


def write_result(path: str | Path, result: dict, env: dict, markdown: str | None = None) -> Path:
    """``result`` as JSON at ``path`` (and ``markdown`` beside it as ``.md``), led by :func:`provenance`.

    ``env`` is :func:`start_environment` from the start of the benchmark; it is stored as ``env`` with
    the load average at the end added.
    """
    from flowfm_edge.bench.environment import load_average

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**provenance(env), **result, "env": {**env, "load_average_end": load_average()}}
    path.write_text(json.dumps(document, indent=2) + "\n")
    if markdown is not None:
        path.with_suffix(".md").write_text(markdown.rstrip("\n") + "\n")
    print(f"wrote {path}" + (f" and {path.with_suffix('.md')}" if markdown is not None else ""), flush=True)
    return path


def result_path(out: str | Path | None, stem: str) -> Path:
    """``out`` when given (the ``--out`` of a benchmark), else ``benchmarks/results/STEM.json``."""
    return Path(out) if out else RESULTS / f"{stem}.json"


def markdown_table(header: list[str], rows: list[list], digits: int = 3) -> str:
    """A Markdown table (:func:`flowfm_edge.bench.report.table`) with floats at ``digits`` decimals."""
    from flowfm_edge.bench.report import table

    fmt = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    return table(header, [[fmt(v) for v in row] for row in rows])


def ints(text: str) -> list[int]:
    """A comma-separated list of integers (``"1,2,4"``); empty items are skipped."""
    return [int(v) for v in str(text).split(",") if v.strip()]


# ---- timing -----------------------------------------------------------------------------------------

def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """The first call, ``warmup - 1`` more untimed, then ``repeats`` timed single calls: median, p90, min (ms)."""
    from flowfm_edge.bench.stats import summarize, timed_once

    first = timed_once(fn)
    for _ in range(max(0, warmup - 1)):
        fn()
    s = summarize([timed_once(fn) for _ in range(repeats)], min_iters=repeats, min_seconds=0.0)
    return {"median_ms": s["p50_ms"], "p90_ms": s["p90_ms"], "min_ms": s["min_ms"], "first_ms": first * 1e3,
            "repeats": repeats}


def block_ms(fn: Callable[[], object], calls: int) -> float:
    """Mean ms per call over one block of ``calls`` calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e3


def time_blocks(fn: Callable[[], object], repeats: int, calls: int, warmup: int = 3) -> dict:
    """The first call, ``warmup`` untimed calls, then ``repeats`` blocks of ``calls``: statistics of the blocks'
    mean call time (ms): median, min, max, CV%."""
    from flowfm_edge.bench.stats import summarize, timed_once

    first = timed_once(fn)
    for _ in range(warmup):
        fn()
    s = summarize([block_ms(fn, calls) / 1e3 for _ in range(repeats)], min_iters=repeats, min_seconds=0.0)
    return {"median_ms": s["p50_ms"], "min_ms": s["min_ms"], "max_ms": s["max_ms"], "cv_percent": s["cv_pct"],
            "first_ms": first * 1e3, "repeats": repeats, "calls": calls}


def interleaved_ms(fns: dict[Hashable, Callable[[], object]], rounds: int, calls: int) -> dict[Hashable, list[float]]:
    """Every callable once untimed, then ``rounds`` rounds in which each runs a block of ``calls`` calls in turn,
    so load on the machine falls on all alike: ms per call of each block."""
    for fn in fns.values():
        fn()
    out: dict[Hashable, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            out[k].append(block_ms(fn, calls))
    return out
