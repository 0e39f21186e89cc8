"""The ``build-engine`` command, registered on the main typer app by ``flowfm_edge.cli``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

BUILD_HELP = ("Build TensorRT engines from a jetson bundle, on the device that will run them.\n\n"
              "Runs the bundle's build recipes with the TensorRT Python API (TensorRT comes with JetPack on a "
              "Jetson) and writes plain TensorRT plans to BUNDLE/engines/ (`trtexec --loadEngine` reads them). "
              "The manifest records the TensorRT release, compute capability, JetPack/L4T, power mode and clocks; "
              "each recipe's trtexec line in manifest.json builds the same engine by hand.")


def register(app: typer.Typer, cli_errors, console) -> None:
    @app.command("build-engine", help=BUILD_HELP)
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
