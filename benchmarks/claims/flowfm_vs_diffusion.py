"""FlowFM vs its diffusion twin on HAPT, end to end through the command line: latency and quality per generated window.

1. trains FlowFM and the diffusion twin with the same budget (preset, steps, batch 64, lr 1e-3,
   30 warm-up steps, seed), side by side at ``--train-threads`` each;
2. trains the frozen HAR feature network behind the Frechet distance;
3. exports both to the cpu target (FP32 + static INT8): FlowFM's fused samplers at ``--flow-steps``
   with ``--solver``; the twin's denoiser step and fused DDIM samplers at ``--ddim-steps`` (DDPM-1000
   runs as a per-step loop over the denoiser graph); the two exports side by side;
4. runs ``flowfm-edge bench compare`` (``--backends``; PyTorch eager runs the DDPM-1000 reference and
   FlowFM's settings) and writes ``compare.{json,md}`` and its plots under ``--out``, the JSON led by
   this command, its date and the machine.

A stage whose output is already there (a run at the requested step, a feature net, a bundle with a
manifest) is reused, so a second call continues where an interrupted one stopped; delete the run,
bundle and result folders to start over. ``--stage train`` stops after training, ``--stage export``
after export.

    python -m benchmarks.claims.flowfm_vs_diffusion                         # tiny, 300 steps, N 1000
    python -m benchmarks.claims.flowfm_vs_diffusion --preset nano --steps 1000 --solver midpoint \\
        --flow-steps 1,2,4,8,16,32 --max-rel-error 1.0
    python -m benchmarks.claims.flowfm_vs_diffusion --backends onnxruntime   # no PyTorch rows (its DDPM-1000 is the slowest)

Gates: FP32 must match PyTorch (fixed); INT8 samplers may drift up to ``--max-traj-error`` (0.5)
relative L2 in normalised units and the twin's INT8 denoiser step up to ``--max-rel-error`` (0.3; a
short-trained nano twin needs more): their Frechet distance is measured in the benchmark and reported
anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.kit import RESULTS, provenance, start_environment

CLI = "flowfm-edge"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, default=300, help="training steps of each model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=1000, help="generated windows per FD, against as many real ones")
    ap.add_argument("--threads", type=int, default=2, help="threads of bench compare")
    ap.add_argument("--train-threads", type=int, default=1, help="threads of each of the two trainings")
    ap.add_argument("--flow-steps", default="1,2,4,8,16,32,64")
    ap.add_argument("--solver", default="euler", help="FlowFM's solver: euler, midpoint, heun or rk4")
    ap.add_argument("--ddim-steps", default="10,25,50,100,250")
    ap.add_argument("--backends", default="onnxruntime,torch")
    ap.add_argument("--max-traj-error", type=float, default=0.5)
    ap.add_argument("--max-rel-error", type=float, default=0.3)
    ap.add_argument("--flow-run", type=Path, help="a FlowFM run trained elsewhere (e.g. by benchmarks.claims.training_time)")
    ap.add_argument("--diffusion-run", type=Path, help="the twin's run trained elsewhere")
    ap.add_argument("--feature-net", type=Path, default=Path("runs/fvd/feature-net-hapt"))
    ap.add_argument("--out", type=Path, help="result folder (default benchmarks/results/flowfm_vs_diffusion_PRESET-STEPSsteps)")
    ap.add_argument("--stage", choices=("all", "train", "export"), default="all", help="stop after this stage")
    return ap


def trained(run: Path, steps: int) -> bool:
    """The run's checkpoint stands at ``steps``."""
    from flowfm_edge.training import read_config

    try:
        return read_config(run)["step"] == steps
    except ValueError:
        return False


def train_both(args, runs: dict[str, Path]) -> None:
    """The two runs not yet trained, side by side, one thread each (the same budget)."""
    procs, t0 = {}, time.perf_counter()
    for objective, run in runs.items():
        if trained(run, args.steps):
            print(f"reusing {run}", flush=True)
            continue
        shutil.rmtree(run, ignore_errors=True)
        procs[objective] = (subprocess.Popen(
            [CLI, "train", "--data", "hapt", "--preset", args.preset, "--objective", objective, "--steps", str(args.steps),
             "--batch-size", "64", "--lr", "1e-3", "--warmup", "30", "--seed", str(args.seed), "--ckpt-every", "1000000",
             "--out", str(run)], env={**os.environ, "OMP_NUM_THREADS": str(args.train_threads)}))
    for objective, p in procs.items():
        if p.wait():
            raise SystemExit(f"training {objective} failed (see above)")
        print(f"train {objective}: {time.perf_counter() - t0:.0f} s wall", flush=True)
    if not args.feature_net.with_suffix(".safetensors").is_file():
        subprocess.run([CLI, "train-feature-net", "--data", "hapt", "--out", str(args.feature_net), "--seed",
                        str(args.seed)], check=True)


def export_both(args, runs: dict[str, Path], bundles: Path) -> None:
    """Both models to the cpu target, FP32 and static INT8, side by side; fused samplers are ONNX Loops."""
    gates = ["--max-traj-error", str(args.max_traj_error), "--max-rel-error", str(args.max_rel_error)]
    common = ["--target", "cpu", "--precision", "fp32,int8", "--calib", "hapt", "--threads", "1", *gates, "--force"]
    jobs = {"flow": ["--graphs", "sampler", "--steps", args.flow_steps, "--solver", args.solver],
            "diffusion": ["--graphs", "velocity,sampler", "--steps", args.ddim_steps]}
    procs = [subprocess.Popen([CLI, "export", str(runs[obj]), "--out", str(bundles / obj), *common, *extra])
             for obj, extra in jobs.items() if not (bundles / obj / "manifest.json").is_file()]
    for p in procs:
        p.wait()
    if not all((bundles / obj / "manifest.json").is_file() for obj in jobs):
        raise SystemExit("an export failed (see above)")


def compare(args, bundles: Path, out: Path) -> None:
    """``bench compare`` of the two bundles; PyTorch eager runs DDPM-1000 and FlowFM's settings."""
    torch_samplers = ",".join(["ddpm-1000", *(f"{args.solver}-{k}" for k in args.flow_steps.split(","))])
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([CLI, "bench", "compare", str(bundles / "flow"), str(bundles / "diffusion"), "--data", "hapt",
                    "--feature-net", str(args.feature_net), "--backend", args.backends, "--precision", "fp32,int8",
                    "--flow-steps", args.flow_steps, "--flow-solver", args.solver, "--ddim-steps", args.ddim_steps,
                    "--ddpm-steps", "1000", "--torch-samplers", torch_samplers, "--n", str(args.n), "--batch", "1",
                    "--threads", str(args.threads), "--min-iters", "10", "--min-seconds", "2", "--energy", "auto",
                    "--json", str(out / "compare.json"), "--report", str(out / "compare.md"), "--plots", str(out)],
                   check=True)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    env = start_environment(threads=args.threads)
    name = f"{args.preset}-{args.steps}steps"
    runs = {"flow": args.flow_run or Path(f"runs/fvd/hapt-{args.preset}-flow-{args.steps}steps-seed{args.seed}"),
            "diffusion": args.diffusion_run or Path(f"runs/fvd/hapt-{args.preset}-diffusion-{args.steps}steps-seed{args.seed}")}
    bundles = Path(f"bundles/fvd-{name}-seed{args.seed}")
    out = args.out or RESULTS / f"flowfm_vs_diffusion_{name}"
    train_both(args, runs)
    if args.stage == "train":
        return
    export_both(args, runs, bundles)
    if args.stage == "export":
        return
    compare(args, bundles, out)
    result = json.loads((out / "compare.json").read_text())
    (out / "compare.json").write_text(json.dumps({**provenance(env), **result}, indent=2) + "\n")
    print(f"wrote {out / 'compare.json'} (with this command, its date and machine)")


if __name__ == "__main__":
    main()
