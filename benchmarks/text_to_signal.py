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

    python benchmarks/text_to_signal.py                        # reuses runs/hapt-tiny if present
    python benchmarks/text_to_signal.py --base runs/other --text-steps 400 --guidance none,2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from flowfm_edge.bench.environment import environment, load_average
from flowfm_edge.data import load_source
from flowfm_edge.evaluation.feature_net import load_feature_net, save_feature_net, train_feature_net
from flowfm_edge.models import ModelConfig
from flowfm_edge.text.embeddings import MiniLMEmbedder, run_cache
from flowfm_edge.text.evaluate import markdown_table, text_eval
from flowfm_edge.text.finetune import TextTrainConfig, finetune_text
from flowfm_edge.training import TrainConfig, load_model, train

RESULTS = Path(__file__).parent / "results"


def _guidance(value: str) -> list[float | None]:
    return [None if g.strip().lower() == "none" else float(g) for g in value.split(",") if g.strip()]


def main() -> None:
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
    args = ap.parse_args()
    torch.set_num_threads(2)
    env = environment(threads=torch.get_num_threads())
    timings, commands = {}, []
    data = load_source("hapt")
    data.meta["spec"] = "hapt"

    t0 = time.perf_counter()
    if (args.base / "checkpoint" / "config.json").is_file():
        print(f"reusing base run {args.base}")
        base_note = "reused"
    else:
        pre = load_source("hapt", split="pretrain")
        pre.meta["spec"] = "hapt"
        train(pre, args.base, ModelConfig.from_preset("tiny"), TrainConfig(steps=args.base_steps, batch_size=64, warmup=40))
        base_note = f"trained here, {args.base_steps} steps"
    timings["base_s"] = round(time.perf_counter() - t0, 1)
    base_config = load_model(args.base)[1]
    commands.append(f"flowfm-edge train --data hapt --preset {base_config['model']['preset']} "
                    f"--steps {base_config['train']['steps']} --out {args.base}")

    text_run = args.work / "hapt-text"
    t0 = time.perf_counter()
    cfg = TextTrainConfig(steps=args.text_steps, p_text_drop=args.p_text_drop)
    finetune_text(args.base, data, text_run, MiniLMEmbedder(), cfg)
    timings["train_text_s"] = round(time.perf_counter() - t0, 1)
    commands.append(f"flowfm-edge train-text {args.base} --data hapt --out {text_run} --steps {args.text_steps} "
                    f"--p-text-drop {args.p_text_drop}")

    feat = args.work / "feature-net"
    t0 = time.perf_counter()
    net = train_feature_net(data, epochs=args.feature_epochs, seed=0)
    save_feature_net(net, feat)
    net = load_feature_net(feat)
    timings["feature_net_s"] = round(time.perf_counter() - t0, 1)
    commands.append(f"flowfm-edge train-feature-net --data hapt --out {feat} --epochs {args.feature_epochs}")

    model, config = load_model(text_run)
    cache = run_cache(text_run, MiniLMEmbedder())
    evals = []
    for g in _guidance(args.guidance):
        t0 = time.perf_counter()
        res = text_eval(model, config, data, net, cache, n=args.n, steps=args.steps, guidance=g, seed=0)
        timings[f"text_eval_guidance_{g}_s"] = round(time.perf_counter() - t0, 1)
        evals.append(res)
        s = res["summary"]
        print(f"guidance {g}: accuracy train prompts {s['train']['accuracy']:.3f}, held-out {s['held_out']['accuracy']:.3f}, "
              f"unconditional {s['floor_unconditional']['accuracy']:.3f}; Frechet {s['train']['frechet']:.3f} / "
              f"{s['held_out']['frechet']:.3f} / {s['floor_unconditional']['frechet']:.3f}")
        flag = "" if g is None else f" --guidance {g:g}"
        commands.append(f"flowfm-edge text-eval {text_run} --data hapt --feature-net {feat} --n {args.n} "
                        f"--steps {args.steps}{flag} --json out.json")

    result = {"base": {"run": str(args.base), "note": base_note, "model": base_config["model"]["preset"],
                       "train_steps": base_config["train"]["steps"], "batch_size": base_config["train"]["batch_size"]},
              "text_finetune": config["train"], "feature_net": net.cfg.info, "timings_s": timings,
              "commands": commands, "machine": {**env, "load_average_end": load_average()},
              "evaluations": evals}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    md = [f"# Text-to-signal on HAPT\n\nBase: tiny FlowFM, {result['base']['train_steps']} steps ({base_note}); "
          f"text fine-tuning {args.text_steps} steps of batch {cfg.batch_size}; {args.n} windows per prompt, "
          f"Euler x {args.steps}. Timings (s): {timings}\n"]
    for g, res in zip(_guidance(args.guidance), evals):
        md += [f"\n## guidance {g}\n", markdown_table(res)]
    args.out.with_suffix(".md").write_text("\n".join(md))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}; timings {timings}")


if __name__ == "__main__":
    main()
