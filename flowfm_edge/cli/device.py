"""The ``stream`` and ``embed-files`` commands, registered on the main typer app by ``flowfm_edge.cli``."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import typer

from ..cli_common import cli_errors

STREAM_HELP = ("Stream raw samples through a bundle: reads device,timestamp,x,y,z lines (CSV or JSON lines, any rate, "
               "g or m/s^2) and writes one JSON line per 10 s window: device, start, end, label, probabilities "
               "[, embedding].\n\nExample: flowfm-edge stream bundles/tiny --input samples.csv --hop 5 --stats")


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


def escape_id(device: str, limit: int = 64) -> str:
    """A device id safe to print on a terminal: control and other unprintable characters escaped, long ids cut."""
    text = "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in device)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format(fmt: Optional[str], path: str) -> str:
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


COUNTS = {"received": "received", "dropped_nan": "nan", "dropped_bad_time": "bad_time", "dropped_late": "late",
          "dropped_duplicate": "duplicate", "reordered": "reordered", "unit_converted": "unit_fixed", "gaps": "gaps",
          "padded": "padded", "partial_discarded": "partial", "clock_resets": "clock_resets",
          "invalid_windows": "invalid", "windows": "windows"}


def print_stats(write, run: dict, read, gw_stats: dict, top: int = 20) -> None:
    """Throughput and per-device drop/repair counts as plain text lines through ``write`` (stderr in the CLI)."""
    t = gw_stats["total"]
    write(f"lines {read.lines:,}  samples {read.rows:,}  malformed lines {read.malformed:,}  "
          f"devices {len(gw_stats['devices']):,}  windows {run['windows']:,}  batches {gw_stats['batches']:,}")
    write(f"wall {run['wall_s']:.2f} s  {run['windows_per_s']:,.0f} windows/s  {run['samples_per_s']:,.0f} samples/s  "
          f"latency p50 {run['latency_p50_ms']:.2f} ms  p99 {run['latency_p99_ms']:.2f} ms  "
          f"dropped {t.get('dropped', 0):,}  repaired {t.get('repaired', 0):,}")
    for reason in read.first_malformed:
        write(f"skipped {reason}")
    rows = sorted(gw_stats["devices"].items(), key=lambda kv: -kv[1]["dropped"])[:top]
    table = [["device", "units", "rate_hz", *COUNTS.values()]]
    table += [[escape_id(d), s["units"], f"{s['rate_hz']:.1f}", *(str(s[k]) for k in COUNTS)] for d, s in rows]
    table.append(["total", "", "", *(str(t.get(k, 0)) for k in COUNTS)])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    if len(gw_stats["devices"]) > top:
        write(f"per device: the {top} with most dropped samples of {len(gw_stats['devices'])}")
    for r in table:
        write("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


@cli_errors
def stream(
    bundle: Path = typer.Argument(..., help="Bundle directory from `flowfm-edge export` (with a classifier graph)."),
    input: str = typer.Option("-", "--input", "-i", help="Sample lines: a file, or - for stdin."),
    format: Optional[str] = typer.Option(None, "--format", help="csv or jsonl (default: from the file name; csv for stdin)."),
    output: str = typer.Option("-", "--output", "-o", help="Events as JSON lines: a file, or - for stdout."),
    hop: float = typer.Option(5.0, help="Seconds between window starts (a multiple of 1/30 s)."),
    backend: str = typer.Option("onnxruntime", help="Runtime backend: onnxruntime, torch, ..."),
    precision: str = typer.Option("auto", help="Artefact precision: auto (int8 when the bundle has it, else fp32), fp32, int8, ..."),
    threads: Optional[int] = typer.Option(None, min=1, help="Inference threads (default: the backend's)."),
    batch_size: int = typer.Option(16, min=1, help="Windows per inference call, batched across devices (memory grows with it)."),
    classify: bool = typer.Option(True, help="Labels and probabilities (classifier graph)."),
    embed: bool = typer.Option(False, help="Also write each window's embedding r (encoder graph)."),
    pipeline: bool = typer.Option(False, help="Infer in a background thread while the next lines are read and resampled."),
    gap: float = typer.Option(1.0, help="Samples further apart than this many seconds are a gap."),
    gap_policy: str = typer.Option("split", help="split: start new windows after a gap; pad: interpolate gaps up to --max-pad."),
    max_pad: float = typer.Option(5.0, help="pad: longest gap (s) to interpolate; longer ones split."),
    reorder: float = typer.Option(0.5, help="Out-of-order tolerance in seconds (adds that much delay)."),
    units: str = typer.Option("auto", help="Input units: auto (detect g / m/s^2 / mg per device), g, m/s^2, mg."),
    time_unit: str = typer.Option("s", help="Unit of numeric timestamps: s, ms, us, ns (ISO-8601 strings also work)."),
    idle: float = typer.Option(300.0, help="Finish and forget a device silent this many seconds (wall clock)."),
    strict: bool = typer.Option(False, help="Fail on an unreadable line instead of skipping and counting it."),
    max_line_bytes: int = typer.Option(65536, min=16, help="Longer lines are malformed (counted, skipped; memory stays bounded)."),
    trust: Optional[Path] = typer.Option(None, help="Public key (PEM) the bundle must be signed with (default: $FLOWFM_EDGE_TRUST_KEY or ~/.config/flowfm-edge/trusted_key.pem if set)."),
    stats: bool = typer.Option(False, "--stats", help="Print throughput and per-device drop counts to stderr at the end."),
):
    from .stream import GatewayStream

    check_output(output, input)
    gw = GatewayStream.from_bundle(bundle, backend=backend, precision=precision, threads=threads, hop_s=hop, trust=trust,
                                   batch_size=batch_size, classify=classify, embed=embed, gap_s=gap,
                                   gap_policy=gap_policy, max_pad_s=max_pad, reorder_s=reorder, units=units,
                                   idle_s=idle, pipeline=pipeline)
    run, read = _stream_lines(gw, input, output, _format(format, input), time_unit, strict, max_line_bytes)
    if stats:
        print_stats(lambda line: print(line, file=sys.stderr), run, read, gw.stats())


def _stream_lines(gw, input: str, output: str, fmt: str, time_unit: str, strict: bool, max_line_bytes: int):
    """Events of ``input``'s samples as JSON lines into ``output``; (run figures, reader stats)."""
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

        try:
            run = stream_file(gw, reader, write, out.flush, progress)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            sys.stdout = open(os.devnull, "w")
            raise typer.Exit(0) from None
    return run, reader.stats


@cli_errors
def embed_files_command(
    files: list[Path] = typer.Argument(..., help="Recordings: Sensor Logger exports (folders or .zip) or .npz window files."),
    bundle: Path = typer.Option(..., help="An exported bundle with an encoder graph (and a classifier for probabilities)."),
    out: Path = typer.Option(..., help="Output folder: one <recording key>.parquet each; finished files of the same recording and bundle are skipped, another recording's or bundle's are refused."),
    part: str = typer.Option("1/1", help="i/n: this job's share, every n-th recording from the i-th (1-based), "
                                         "e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT."),
    precision: str = typer.Option("int8", help="Artefact precision: fp32, int8 or int8-dynamic."),
    threads: Optional[int] = typer.Option(None, min=1, help="onnxruntime intra-op threads."),
    hop: float = typer.Option(10.0, min=0.1, help="Seconds between window starts."),
):
    """Embed a cohort with a bundle's encoder (onnxruntime, no torch): one Parquet file per recording, with
    participant, window start, r and class probabilities."""
    from ..progress import ProgressLine, stdout_is_terminal
    from .cohort import embed_files, parse_part

    line = None

    def progress(done: int, total: int, path) -> None:  # a plain line now and then when no terminal is attached
        nonlocal line
        line = line or ProgressLine("embed-files", total)
        line.update(done=done, file=Path(path).name)

    counts = embed_files(files, bundle, out, parse_part(part), precision=precision, threads=threads, hop_s=hop,
                         progress=None if stdout_is_terminal() else progress)
    print(f"part {counts['part']}: {counts['written']} written ({counts['windows']} windows, {counts['dropped_nan']} "
          f"dropped for NaN), {counts['skipped']} already done, {counts['replaced']} damaged outputs embedded again, "
          f"{counts['empty']} without a full window; out of {counts['files']} recordings in this part -> {out}")


GATEWAY_HELP = """Serve a bundle to wearables over MQTT: samples in through a broker, one activity event per 10 s window out.

Subscribes to wearables/+/acc (the + level is the device id) and takes JSON batches {"t": [...], "x": [...], "y": [...], "z": [...]} (seconds; g, m/s^2 or mg, detected) or SenML packs (RFC 8428). Publishes each window's label and probabilities, with the bundle's id and sha256, to wearables/{device}/activity. QoS 1 both ways on a persistent session: nothing is lost while the gateway reconnects or restarts.

SIGTERM drains: queued windows are finished, device buffers saved to the --state file and read back at the next start. SIGHUP, or {"update": "/path/to/bundle"} on the control topic, verifies a new bundle (sha256, signature with --trust, golden checks) and swaps it in; a failing one is refused and the old one serves on. Prometheus /metrics and /healthz on --metrics-port.

Every option can come from --config gateway.toml (deploy/gateway.toml lists them all); options given here win.

Example: flowfm-edge gateway bundles/tiny --host broker.local --state /var/lib/flowfm-edge/gateway.state"""


def _opt(help: str, *names: str, **kw):
    return typer.Option(None, *names, help=help, show_default=False, **kw)


@cli_errors
def gateway(
    bundle: Optional[Path] = typer.Argument(None, help="Bundle directory with a classifier graph (or \\[model] bundle in --config)."),
    config: Optional[Path] = _opt("gateway.toml: every setting below and more (deploy/gateway.toml).", "--config"),
    host: Optional[str] = _opt("Broker host (default localhost).", "--host"),
    port: Optional[int] = _opt("Broker port (default 1883).", "--port"),
    protocol: Optional[str] = _opt("MQTT version: 5 or 3.1.1 (default 5).", "--protocol"),
    client_id: Optional[str] = _opt("MQTT client id; keep it fixed, the broker keeps the session by it "
                                    "(default flowfm-edge-HOSTNAME).", "--client-id"),
    username: Optional[str] = _opt("Broker user name; the password from --password-file or "
                                   "$FLOWFM_EDGE_MQTT_PASSWORD.", "--username"),
    password_file: Optional[Path] = _opt("File whose first line is the broker password.", "--password-file"),
    ca_file: Optional[Path] = _opt("CA certificate (PEM) to verify the broker with; turns TLS on.", "--ca-file"),
    cert_file: Optional[Path] = _opt("Client certificate (PEM) for brokers that want one; turns TLS on.", "--cert-file"),
    key_file: Optional[Path] = _opt("The client certificate's private key (PEM).", "--key-file"),
    topic: Optional[list[str]] = _opt("Sample topic with one + for the device id (repeat for several) "
                                      "(default wearables/+/acc).", "--topic"),
    events: Optional[str] = _opt("Event topic, {device} filled in (default wearables/{device}/activity).", "--events"),
    hop: Optional[float] = _opt("Seconds between window starts (default 5).", "--hop"),
    batch_size: Optional[int] = _opt("Windows per inference call, across devices (default 16).", "--batch-size"),
    embed: Optional[bool] = _opt("Also publish each window's r (default no).", "--embed/--no-embed"),
    backend: Optional[str] = _opt("Runtime backend (default onnxruntime).", "--backend"),
    precision: Optional[str] = _opt("Artefact precision: auto, fp32, int8 (default auto).", "--precision"),
    threads: Optional[int] = _opt("Inference threads (default the backend's).", "--threads"),
    trust: Optional[Path] = _opt("Public key (PEM): only bundles signed by its holder load, at start and at "
                                 "updates.", "--trust"),
    state: Optional[Path] = _opt("State file saved at SIGTERM and read back at start "
                                 "(default flowfm-edge-gateway.state).", "--state"),
    metrics_port: Optional[int] = _opt("Port of /metrics and /healthz; 0: none (default 9108).", "--metrics-port"),
    metrics_host: Optional[str] = _opt("Address the metrics endpoint listens on (default 127.0.0.1).", "--metrics-host"),
    max_devices: Optional[int] = _opt("Devices held at once; new ids beyond it are refused and counted (default 5000).",
                                      "--max-devices"),
    max_payload_bytes: Optional[int] = _opt("Larger payloads are refused and counted (default 65536).", "--max-payload-bytes"),
    units: Optional[str] = _opt("Sample units: auto, g, m/s^2, mg (default auto).", "--units"),
):
    from .gateway import run_gateway
    from .gateway_config import load_config

    given = {
        "model": {"bundle": bundle, "backend": backend, "precision": precision, "threads": threads, "trust": trust,
                  "embed": embed},
        "mqtt": {"host": host, "port": port, "protocol": protocol, "client_id": client_id, "username": username,
                 "password_file": password_file, "ca_file": ca_file, "cert_file": cert_file, "key_file": key_file,
                 "topics": topic or None, "events": events},
        "stream": {"hop_s": hop, "batch_size": batch_size, "units": units},
        "limits": {"max_devices": max_devices, "max_payload_bytes": max_payload_bytes},
        "state": {"path": state},
        "metrics": {"port": metrics_port, "host": metrics_host},
    }
    overrides = {t: {k: v for k, v in kv.items() if v is not None} for t, kv in given.items()}
    overrides = {t: kv for t, kv in overrides.items() if kv}
    cfg = load_config(config, overrides)
    run_gateway(cfg, config, overrides)


def register(app: typer.Typer) -> None:
    """Add ``stream``, ``gateway`` and ``embed-files`` to ``app``."""
    app.command(help=STREAM_HELP)(stream)
    app.command(help=GATEWAY_HELP)(gateway)
    app.command("embed-files")(embed_files_command)


def main(argv: list[str] | None = None) -> None:
    """``python -m flowfm_edge.runtimes stream|gateway|embed-files ...``: the device-side commands, without importing torch.

    The full ``flowfm-edge`` CLI loads every subsystem (training, evaluation: torch); a
    gateway with only numpy and onnxruntime runs this instead.
    """
    app = typer.Typer(help="flowfm-edge gateway runtime (no torch).", no_args_is_help=True,
                      pretty_exceptions_enable=False, add_completion=False)

    register(app)

    @app.callback()
    def _root():  # keeps `stream` a named subcommand
        pass

    app(argv)
