"""``flowfm-edge stream`` over files: sample lines from a file or stdin through a gateway stream, one JSON event
line per window into a file or stdout.

The input is read as bytes and decoded line by line (:mod:`.stream_io`); events are flushed after
each block that produced some, so a live consumer sees them at once. Without a terminal on stdout,
a plain progress line goes to stderr now and then (stdout carries the events).

>>> gw, run, read = stream_bundle("bundles/tiny", "samples.csv", "events.jsonl", hop_s=5.0)   # doctest: +SKIP
>>> run["windows"], read.malformed                                                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Optional


def _open_input(stack: ExitStack, path: str):
    """The input as a binary file (decoded line by line by the reader) and its name."""
    if path == "-":
        return sys.stdin.buffer, "<stdin>"
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--input {path}: no such file; pass a CSV/JSON-lines file or - for stdin")
    return stack.enter_context(open(p, "rb")), str(p)


def check_output(output: str, input: str) -> None:
    """Refuse an ``--output`` that is the input file (opening it for writing would empty the input)."""
    if output == "-" or input == "-":
        return
    out, inp = Path(output), Path(input)
    same = out.resolve() == inp.resolve() or (out.exists() and inp.exists() and os.path.samefile(out, inp))
    if same:
        raise ValueError(f"--output {output} is the input file {input}; writing events there would erase the "
                         "samples: choose another --output")


def input_format(fmt: Optional[str], path: str) -> str:
    """``fmt`` when given, else the format the file name says (jsonl for .jsonl, .ndjson, .json; csv otherwise)."""
    if fmt:
        return fmt
    return "jsonl" if path.endswith((".jsonl", ".ndjson", ".json")) else "csv"


def stream_file(gw, reader, write, flush=lambda: None, progress=None) -> dict:
    """Feed every block of ``reader`` to the gateway ``gw``; ``write(event)`` each event, ``flush()`` after each
    block that produced some (live consumers see them at once); ``progress`` (a ProgressLine) hears the counts.
    Returns run figures."""
    from .stream_stats import LatencyHistogram

    latency = LatencyHistogram()
    windows, started = 0, time.perf_counter()

    def emit(events):
        nonlocal windows
        for ev in events:
            write(ev)
        if events:
            flush()
        windows += len(events)
        latency.add([ev.latency_s for ev in events])

    for block in reader:
        emit(gw.push_rows(block.devices, block.t, block.xyz))
        emit(gw.poll())
        if progress is not None:
            progress.update(lines=reader.stats.lines, windows=windows, devices=len(gw.devices),
                            malformed=reader.stats.malformed)
    emit(gw.close())
    if progress is not None:
        progress.update(lines=reader.stats.lines, windows=windows, devices=len(gw.devices),
                        malformed=reader.stats.malformed)
        progress.close()
    wall = time.perf_counter() - started
    return {"wall_s": wall, "windows": windows, "windows_per_s": windows / wall if wall else 0.0,
            "samples_per_s": reader.stats.rows / wall if wall else 0.0,
            "latency_p50_ms": latency.percentile(50) * 1e3, "latency_p99_ms": latency.percentile(99) * 1e3}


def stream_events(gw, input: str, output: str, fmt: str, time_unit: str, strict: bool, max_line_bytes: int):
    """Events of ``input``'s samples as JSON lines into ``output``; (run figures, reader stats).

    A reader of ``output`` that goes away (``| head``) raises BrokenPipeError once the files are closed."""
    from ..progress import ProgressLine, stdout_is_terminal
    from .stream_io import SampleReader, byte_lines

    # stdout carries the events: the progress lines go to stderr, and only when no terminal shows the stream live
    progress = None if stdout_is_terminal() else ProgressLine("stream", file=sys.stderr)
    with ExitStack() as stack:
        lines, source = _open_input(stack, input)
        out = sys.stdout if output == "-" else stack.enter_context(open(output, "w", encoding="utf-8"))
        reader = SampleReader(byte_lines(lines, max_line_bytes), fmt, time_unit, source,
                              strict=strict, max_line_bytes=max_line_bytes)
        classes = gw.classes

        def write(ev):
            out.write(json.dumps(ev.to_dict(classes), separators=(",", ":")) + "\n")

        run = stream_file(gw, reader, write, out.flush, progress)
    return run, reader.stats


def stream_bundle(bundle, input: str = "-", output: str = "-", fmt: Optional[str] = None, time_unit: str = "s",
                  strict: bool = False, max_line_bytes: int = 65536, **stream_options):
    """``flowfm-edge stream``: the gateway stream of ``bundle`` (``stream_options`` go to
    :meth:`~.stream.GatewayStream.from_bundle`) over ``input``'s sample lines, events into ``output``;
    (the stream, run figures, reader stats). An ``output`` that is the input file is refused first."""
    from .stream import GatewayStream

    check_output(output, input)
    gw = GatewayStream.from_bundle(bundle, **stream_options)
    run, read = stream_events(gw, input, output, input_format(fmt, input), time_unit, strict, max_line_bytes)
    return gw, run, read
