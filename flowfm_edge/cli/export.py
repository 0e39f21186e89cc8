"""The export commands: ``export`` (a run to a validated bundle for a target) and ``sign`` (a bundle signed offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..bundle.targets import CALIBRATION_METHODS, PRECISIONS, targets_help, targets_table
from .common import cli_errors, console

EXPORT_HELP = ("Export graphs to a validated bundle: ONNX FP32/INT8, golden files, manifest.\n\n"
               "INT8 artefacts must pass their quality gates or the export fails.\n\n" + escape(targets_table()))


@cli_errors
def export(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="Run directory with a checkpoint (and a head from `probe` for the classifier)."),
    out: Path = typer.Option(..., help="Bundle directory to write (manifest.json, onnx/, golden/, torch/)."),
    target: str = typer.Option("cpu", help=f"Target: {escape(targets_help())}."),
    precision: Optional[str] = typer.Option(None, help="Comma-separated precisions: " + ", ".join(PRECISIONS) + " (int8 = static, calibrated); default: the target's (cpu fp32,int8; jetson fp16,int8; android all four)."),
    steps: str = typer.Option("8", help="Fused sampler step counts, comma-separated (e.g. 4,8,16): 1..1000 on the cpu target (an ONNX Loop over one step), 1..256 elsewhere (unrolled)."),
    solver: str = typer.Option("euler", help="Fused sampler solvers, comma-separated (euler, midpoint, heun, rk4)."),
    graphs: Optional[str] = typer.Option(None, help="Graphs to export (encoder, classifier, velocity, sampler; text-sampler for text runs, cpu target); default all the run has."),
    calib: Optional[str] = typer.Option(None, help="Calibration/validation windows: synthetic, hapt or a .npz; default the run's training data."),
    calib_method: str = typer.Option("minmax", help=f"Static INT8 calibration: {', '.join(CALIBRATION_METHODS)}."),
    calib_size: int = typer.Option(128, min=1, help="Calibration windows, drawn by class and subject."),
    guidance: bool = typer.Option(False, help="Fused samplers take a guidance weight input w (doubles their cost)."),
    max_f1_drop: float = typer.Option(0.01, help="INT8 gate: largest allowed classifier macro-F1 drop (0.01 = 1 point)."),
    max_traj_error: float = typer.Option(0.1, help="INT8 gate: largest sampler trajectory error (relative L2, normalised units)."),
    max_rel_error: float = typer.Option(0.1, help="INT8 gate: largest encoder/velocity relative L2 error."),
    batch_profile: Optional[str] = typer.Option(None, help="jetson: TensorRT optimisation profile MIN,OPT,MAX batch "
                                                            "(default 1,8,64)."),
    int8_io: bool = typer.Option(False, help="android: full-INT8 LiteRT models keep INT8 input/output (default float)."),
    fixed_batch: int = typer.Option(1, min=1, help="android: the fixed batch of the LiteRT models."),
    threads: Optional[int] = typer.Option(None, min=1, help="onnxruntime threads for the checks."),
    seed: int = typer.Option(0, help="Seed for window sampling and noise."),
    force: bool = typer.Option(False, help="Replace OUT if it exists."),
):
    from ..export.exporter import export_bundle
    from ..export.options import command_options

    log = lambda s: console.print(s, highlight=False, markup=False)  # noqa: E731
    manifest = export_bundle(run, out, command_options(ctx.params), log=log)
    total = sum(a["file"]["bytes"] for a in manifest["artefacts"])
    console.print(f"bundle {out}: {len(manifest['artefacts'])} artefacts, {total / 1e6:.1f} MB; "
                  f"check it anywhere with `flowfm-edge validate {out}{' --backend litert' if target == 'android' else ''}`")


@cli_errors
def sign(
    bundle: Path = typer.Argument(..., help="Bundle directory written by `flowfm-edge export`."),
    key: Path = typer.Option(..., help="Elliptic-curve private key (PEM), e.g. from "
                                       "`openssl ecparam -name prime256v1 -genkey -noout -out key.pem`."),
    password: Optional[str] = typer.Option(None, help="Password of an encrypted private key."),
):
    """Sign a bundle (OpenSSF model-signing, offline): BUNDLE/bundle.sig covers the manifest and every file.

    Devices that trust the public key (`--trust key.pub`, $FLOWFM_EDGE_TRUST_KEY or
    ~/.config/flowfm-edge/trusted_key.pem) then refuse the bundle if any file changes, is
    added or removed, and refuse unsigned bundles. Re-sign after `build-engine`. Needs the \\[signing] extra.
    """
    from ..bundle.signing import sign_bundle

    signature = sign_bundle(bundle, key, password)
    console.print(f"wrote {signature}; verify with `flowfm-edge validate {bundle} --trust PUBLIC_KEY`",
                  highlight=False)


export.__doc__ = EXPORT_HELP  # the help with the target table, computed from bundle.targets
