"""Text-to-signal on HAPT: does a generated window show the activity its prompt describes?

The whole run, on the project's CPU in about 10-15 minutes:

1. a tiny FlowFM trained on HAPT (reused from ``--base`` when it holds a checkpoint, e.g.
   the quickstart's ``runs/hapt-tiny``; otherwise trained here for ``--base-steps`` steps);
2. text fine-tuning (``flowfm-edge train-text``): encoder frozen, TextProj added, the
   velocity network fine-tuned for ``--text-steps`` steps on HAPT's labelled windows;
3. the frozen HAR classifier (``flowfm-edge train-feature-net``), trained on real HAPT;
4. ``flowfm-edge text-eval`` at each ``--guidance`` setting: per-prompt accuracy and Frechet
   distance of the generated windows, against the unconditional generator as the floor.

Writes ``benchmarks/results/text_to_signal.json`` and ``.md``.

    python -m benchmarks.claims.text_to_signal                        # reuses runs/hapt-tiny if present
    python -m benchmarks.claims.text_to_signal --base runs/other --text-steps 400 --guidance none,2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.kit import RESULTS, start_environment, write_result
from flowfm_edge.data import load_source
from flowfm_edge.evaluation.feature_net import load_feature_net, save_feature_net, train_feature_net
from flowfm_edge.models import ModelConfig
from flowfm_edge.text.embeddings import MiniLMEmbedder, run_cache
from flowfm_edge.text.evaluate import markdown_table, text_eval
from flowfm_edge.text.finetune import TextTrainConfig, finetune_text
from flowfm_edge.training import TrainConfig, load_model, train


def _guidance(value: str) -> list[float | None]:
    return [None if g.strip().lower() == "none" else float(g) for g in value.split(",") if g.strip()]


class Steps:
    """The steps of the run, each timed, and the ``flowfm-edge`` command each one equals."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self.commands: list[str] = []
        self.t0 = time.perf_counter()

    def done(self, name: str, command: str) -> None:
        self.timings[name] = round(time.perf_counter() - self.t0, 1)
        self.commands.append(command)
        self.t0 = time.perf_counter()


def base_run(args, steps: Steps) -> tuple[dict, str]:
    """The base FlowFM run (reused from ``--base`` when it holds a checkpoint) and its config."""
    if (args.base / "checkpoint" / "config.json").is_file():
        print(f"reusing base run {args.base}")
        note = "reused"
    else:
        pre = load_source("hapt", split="pretrain")
        pre.meta["spec"] = "hapt"
        train(pre, args.base, ModelConfig.from_preset("tiny"), TrainConfig(steps=args.base_steps, batch_size=64, warmup=40))
        note = f"trained here, {args.base_steps} steps"
    config = load_model(args.base)[1]
    steps.done("base_s", f"flowfm-edge train --data hapt --preset {config['model']['preset']} "
                         f"--steps {config['train']['steps']} --out {args.base}")
    return config, note


def evaluations(args, data, text_run: Path, net, feat: Path, steps: Steps) -> list[dict]:
    """``text-eval`` of the text run at every ``--guidance`` setting."""
    model, config = load_model(text_run)
    cache = run_cache(text_run, MiniLMEmbedder())
    out = []
    for g in _guidance(args.guidance):
        res = text_eval(model, config, data, net, cache, n=args.n, steps=args.steps, guidance=g, seed=0)
        out.append(res)
        s = res["summary"]
        print(f"guidance {g}: accuracy train prompts {s['train']['accuracy']:.3f}, held-out {s['held_out']['accuracy']:.3f}, "
              f"unconditional {s['floor_unconditional']['accuracy']:.3f}; Frechet {s['train']['frechet']:.3f} / "
              f"{s['held_out']['frechet']:.3f} / {s['floor_unconditional']['frechet']:.3f}")
        flag = "" if g is None else f" --guidance {g:g}"
        steps.done(f"text_eval_guidance_{g}_s", f"flowfm-edge text-eval {text_run} --data hapt --feature-net {feat} "
                                                f"--n {args.n} --steps {args.steps}{flag} --json out.json")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=Path("runs/hapt-tiny"), help="base FlowFM run (trained if absent)")
    ap.add_argument("--base-steps", type=int, default=400, help="steps of batch 64 when the base run is trained here")
    ap.add_argument("--work", type=Path, default=Path("runs/text-bench"), help="text run and feature network go here")
    ap.add_argument("--text-steps", type=int, default=300)
    ap.add_argument("--p-text-drop", type=float, default=0.2)
    ap.add_argument("--feature-epochs", type=int, default=30)
    ap.add_argument("--n", type=int, default=64, help="windows generated per prompt")
    ap.add_argument("--steps", type=int, default=8, help="Euler steps of the sampler")
    ap.add_argument("--guidance", default="none,2", help="comma-separated text guidance weights; 'none' = no guidance")
    ap.add_argument("--out", type=Path, default=RESULTS / "text_to_signal.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    env = start_environment(threads=torch.get_num_threads())
    data = load_source("hapt")
    data.meta["spec"] = "hapt"
    steps = Steps()
    base_config, base_note = base_run(args, steps)

    text_run = args.work / "hapt-text"
    cfg = TextTrainConfig(steps=args.text_steps, p_text_drop=args.p_text_drop)
    finetune_text(args.base, data, text_run, MiniLMEmbedder(), cfg)
    steps.done("train_text_s", f"flowfm-edge train-text {args.base} --data hapt --out {text_run} "
                               f"--steps {args.text_steps} --p-text-drop {args.p_text_drop}")
    feat = args.work / "feature-net"
    save_feature_net(train_feature_net(data, epochs=args.feature_epochs, seed=0), feat)
    net = load_feature_net(feat)
    steps.done("feature_net_s", f"flowfm-edge train-feature-net --data hapt --out {feat} --epochs {args.feature_epochs}")
    evals = evaluations(args, data, text_run, net, feat, steps)

    result = {"base": {"run": str(args.base), "note": base_note, "model": base_config["model"]["preset"],
                       "train_steps": base_config["train"]["steps"], "batch_size": base_config["train"]["batch_size"]},
              "text_finetune": load_model(text_run)[1]["train"], "feature_net": net.cfg.info,
              "timings_s": steps.timings, "commands": steps.commands, "evaluations": evals}
    md = [f"# Text-to-signal on HAPT\n\nBase: tiny FlowFM, {result['base']['train_steps']} steps ({base_note}); "
          f"text fine-tuning {args.text_steps} steps of batch {cfg.batch_size}; {args.n} windows per prompt, "
          f"Euler x {args.steps}. Timings (s): {steps.timings}\n"]
    for g, res in zip(_guidance(args.guidance), evals):
        md += [f"\n## guidance {g}\n", markdown_table(res)]
    write_result(args.out, result, env, "\n".join(md))


if __name__ == "__main__":
    main()
