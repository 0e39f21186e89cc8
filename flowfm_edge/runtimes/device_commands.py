"""The device-side commands, ``validate`` and ``build-engine``, registered on the main typer app by ``flowfm_edge.cli``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_common import cli_errors, console

BUILD_HELP = ("Build TensorRT engines from a jetson bundle, on the device that will run them.\n\n"
              "Runs the bundle's build recipes with the TensorRT Python API (TensorRT comes with JetPack on a "
              "Jetson) and writes plain TensorRT plans to BUNDLE/engines/ (`trtexec --loadEngine` reads them). "
              "The manifest records the TensorRT release, compute capability, JetPack/L4T, power mode and clocks; "
              "each recipe's trtexec line in manifest.json builds the same engine by hand.")


@cli_errors
def validate(
    bundle: Path = typer.Argument(..., help="Bundle directory written by `flowfm-edge export`."),
    backend: str = typer.Option("onnxruntime", help="Backend to run the golden checks with: onnxruntime, torch, "
                                                    "litert (LiteRT models of --target android), or tensorrt "
                                                    "(the engines of `build-engine`, on their device)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Threads for the backend."),
    trust: Optional[Path] = typer.Option(None, help="Public key (PEM) the bundle must be signed with (default: "
                                                    "$FLOWFM_EDGE_TRUST_KEY or ~/.config/flowfm-edge/trusted_key.pem "
                                                    "when set); an unsigned or mis-signed bundle fails."),
):
    """Re-run the bundle's golden checks here: fails on a modified or missing file, a bad signature, or drift."""
    from .validate import validate_bundle

    report = validate_bundle(bundle, backend=backend, threads=threads, trust=trust)
    if report.get("signature"):
        console.print(f"[green]signature[/green] {report['signature']}", highlight=False)
    for problem in report["files"]:
        console.print(f"[red]tampered:[/red] {problem}", highlight=False)
    for c in report["checks"]:
        mark = "[green]ok[/green]  " if c["passed"] else "[red]FAIL[/red]"
        console.print(f"{mark} {c['artefact']:<22} {c['precision']:<13} {c.get('metric', 'rel_l2')} "
                      f"{c.get('value', c['rel_l2']):.2e} "
                      f"(tolerance {c['tolerance']:.0e}, vs {c['against']}; vs PyTorch {c['rel_l2_vs_reference']:.2e})",
                      highlight=False)
    if not report["passed"]:
        what = ("files were modified or are missing, or the signature does not match (see above)"
                if report["files"] else "outputs drifted beyond tolerance")
        raise RuntimeError(f"{bundle}: validation failed with backend {backend}: {what}")
    console.print(f"{bundle}: {len(report['checks'])} golden checks passed with {backend}")


@cli_errors
def build_engine(
    bundle: Path = typer.Argument(..., help="Bundle written by `flowfm-edge export RUN --target jetson`."),
    precision: str = typer.Option("fp16", help="fp16, int8 (the bundle's QDQ graphs), best (int8 where exported, "
                                               "else fp16) or fp32."),
    dla_core: Optional[int] = typer.Option(None, min=0, help="Build for this DLA core (with GPU fallback)."),
    workspace: Optional[float] = typer.Option(None, min=0.0625, help="Builder workspace in GiB (default: the "
                                                                    "bundle's, 1 GiB)."),
    timing_cache: Optional[Path] = typer.Option(None, help="Timing cache file to read and update (default: "
                                                           "BUNDLE/engines/timing.cache)."),
):
    from .engine_build import build_engines

    records = build_engines(bundle, precision, dla_core=dla_core, workspace_gib=workspace, timing_cache=timing_cache,
                            log=lambda s: console.print(s, highlight=False, markup=False))
    device = records[0]["device"] if records else {}
    jetson = device.get("jetson") or {}
    where = f"JetPack {jetson.get('jetpack')} (L4T {jetson.get('l4t')})" if jetson else device.get("gpu")
    console.print(f"{len(records)} engines built with TensorRT {device.get('tensorrt')} for compute capability "
                  f"{device.get('compute_capability')} on {where}; check them with "
                  f"`flowfm-edge validate {bundle} --backend tensorrt`", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command("build-engine", help=BUILD_HELP)(build_engine)
