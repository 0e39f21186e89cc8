"""Run directories: safetensors weights + JSON config, and the state to resume exactly.

Layout of ``RUN/checkpoint/``::

    config.json          model config, train config, data description
    model.safetensors    raw weights
    ema.safetensors      EMA weights (used for sampling, embedding and export)
    train_state.pt       optimizer, LR scheduler and step (tensors only; resume-only)
    head.safetensors     optional classifier head (from ``probe``), with head.json
    prior.safetensors    optional density model over r for unconditional generation (weights,
                         means, chol), with prior.json (fitted at the end of training or by
                         ``flowfm-edge fit-prior``)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..models import Classifier, FlowFM, LinearHead, ModelConfig, build_model
from ..models.prior import GaussianMixturePrior


class RunError(ValueError):
    """A run directory is missing, incomplete or inconsistent."""


def checkpoint_dir(run: str | Path) -> Path:
    return Path(run) / "checkpoint"


def _contiguous(sd: dict) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in sd.items()}


def save_checkpoint(run: Path, model: FlowFM, ema: dict, config: dict, train_state: dict | None) -> None:
    ckpt = checkpoint_dir(run)
    ckpt.mkdir(parents=True, exist_ok=True)
    # Write to temporary names and rename, so an interrupted save never leaves a torn checkpoint.
    parts = {
        "model.safetensors": lambda p: save_file(_contiguous(model.state_dict()), str(p)),
        "ema.safetensors": lambda p: save_file(_contiguous(ema), str(p)),
        "config.json": lambda p: p.write_text(json.dumps(config, indent=2)),
    }
    if train_state is not None:
        parts["train_state.pt"] = lambda p: torch.save(train_state, p)
    for name, write in parts.items():
        tmp = ckpt / (name + ".tmp")
        write(tmp)
        tmp.replace(ckpt / name)


def read_config(run: str | Path) -> dict:
    path = checkpoint_dir(run) / "config.json"
    if not path.is_file():
        raise RunError(f"{run}: no checkpoint found ({path} is missing); train one with `flowfm-edge train --out {run}`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON ({exc})") from exc


def load_model(run: str | Path, weights: str = "ema", device: str = "cpu") -> tuple[FlowFM, dict]:
    """The model of ``run`` with its EMA (default) or raw weights, in eval mode, and its config dict."""
    config = read_config(run)
    model = build_model(ModelConfig.from_dict(config["model"]))
    path = checkpoint_dir(run) / f"{'ema' if weights == 'ema' else 'model'}.safetensors"
    if not path.is_file():
        raise RunError(f"{run}: weights file {path} is missing")
    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    if missing or unexpected:
        raise RunError(f"{path}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    prior = load_prior(run)
    if prior is not None and hasattr(model, "attach_prior"):
        model.attach_prior(prior.to(device))
    return model.to(device).eval(), config


def save_prior(run: str | Path, prior: GaussianMixturePrior, info: dict) -> None:
    """Write ``prior.safetensors`` (weights, means, chol) and ``prior.json`` (``info``) into the run's checkpoint."""
    ckpt = checkpoint_dir(run)
    ckpt.mkdir(parents=True, exist_ok=True)
    for name, write in (("prior.safetensors", lambda p: save_file(_contiguous(prior.state_dict()), str(p))),
                        ("prior.json", lambda p: p.write_text(json.dumps(info, indent=2)))):
        tmp = ckpt / (name + ".tmp")
        write(tmp)
        tmp.replace(ckpt / name)


def load_prior(run: str | Path) -> GaussianMixturePrior | None:
    """The run's prior over r, or None when it has none."""
    path = checkpoint_dir(run) / "prior.safetensors"
    if not path.is_file():
        return None
    tensors = load_file(str(path))
    try:
        return GaussianMixturePrior(tensors["weights"], tensors["means"], tensors["chol"])
    except (KeyError, ValueError) as exc:
        raise RunError(f"{path}: not a valid prior ({exc}); refit it with `flowfm-edge fit-prior {run}`") from exc


def load_train_state(run: Path) -> dict | None:
    path = checkpoint_dir(run) / "train_state.pt"
    return torch.load(path, weights_only=True) if path.is_file() else None


def save_head(run: str | Path, head: LinearHead, classes: list[str], info: dict) -> None:
    ckpt = checkpoint_dir(run)
    save_file(_contiguous(head.state_dict()), str(ckpt / "head.safetensors"))
    meta = {"classes": classes, "r_dim": head.linear.in_features, **info}
    (ckpt / "head.json").write_text(json.dumps(meta, indent=2))


def load_classifier(run: str | Path, device: str = "cpu") -> tuple[Classifier, list[str]]:
    """Encoder + saved head as one module (x -> logits), and the class names."""
    model, _ = load_model(run, device=device)
    meta_path = checkpoint_dir(run) / "head.json"
    if not meta_path.is_file():
        raise RunError(f"{run}: no classifier head; fit one with `flowfm-edge probe {run} --data ...`")
    meta = json.loads(meta_path.read_text())
    head = LinearHead(meta["r_dim"], len(meta["classes"]))
    head.load_state_dict(load_file(str(checkpoint_dir(run) / "head.safetensors")))
    return Classifier(model, head).to(device).eval(), meta["classes"]
