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

A checkpoint is written whole into ``RUN/.checkpoint.tmp/`` (every file fsynced), then swapped
in: ``checkpoint`` -> ``.checkpoint.old``, ``.checkpoint.tmp`` -> ``checkpoint``. An interrupted
write leaves either the previous checkpoint in place or, between the two renames, only
``.checkpoint.old``, which :func:`checkpoint_dir` puts back: never files of two steps. The head,
prior and model card describe the weights they were made from, so a new checkpoint does not carry
them: training refits the prior and rewrites the card at its end, ``probe`` fits a new head.

Beside it, ``RUN/run.toml`` holds the run file the run resolved to (:func:`write_run_config`).

Training into a directory that already holds a run needs ``resume`` (continue it) or ``force``
(start over: :func:`clear_run` deletes what the old run wrote); :func:`check_run_dir` refuses
anything else before a byte is written.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..files import fsync as _fsync  # one name, so a test can stand in for it
from ..models import Classifier, FlowFM, LinearHead, ModelConfig, build_model
from ..models.prior import GaussianMixturePrior


class RunError(ValueError):
    """A run directory is missing, incomplete or inconsistent."""


TMP_NAME, OLD_NAME = ".checkpoint.tmp", ".checkpoint.old"
IGNORED_ON_RESUME = ("norm_mean", "norm_std")  # computed from the data, whose hash is checked on its own


def checkpoint_dir(run: str | Path) -> Path:
    """``RUN/checkpoint``; first restores the previous checkpoint if a save was cut between its two renames."""
    ckpt, old = Path(run) / "checkpoint", Path(run) / OLD_NAME
    if not ckpt.exists() and old.is_dir():
        old.replace(ckpt)
    return ckpt


def _contiguous(sd: dict) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in sd.items()}


def save_checkpoint(run: Path, model: FlowFM, ema: dict, config: dict, train_state: dict | None) -> None:
    """Write the checkpoint of ``run`` as one unit (see the module docstring)."""
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    ckpt, tmp, old = checkpoint_dir(run), run / TMP_NAME, run / OLD_NAME
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    parts = {
        "model.safetensors": lambda p: save_file(_contiguous(model.state_dict()), str(p)),
        "ema.safetensors": lambda p: save_file(_contiguous(ema), str(p)),
        "config.json": lambda p: p.write_text(json.dumps(config, indent=2)),
    }
    if train_state is not None:
        parts["train_state.pt"] = lambda p: torch.save(train_state, p)
    for name, write in parts.items():
        write(tmp / name)
    for f in tmp.iterdir():
        _fsync(f)
    _fsync(tmp)
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.replace(old)
    tmp.replace(ckpt)
    _fsync(run)
    shutil.rmtree(old, ignore_errors=True)


# what training and the commands that write into a run put there (a text run's embedding cache is its input)
RUN_FILES = ("checkpoint", TMP_NAME, OLD_NAME, "metrics.csv", "run.toml", "probe.json", "probe.png", "embeddings.png",
             "loss.png", "samples.npz", "samples_real.npz", "samples.png", "tensorboard", "mlflow.db")
RUN_MARKS = ("checkpoint", TMP_NAME, OLD_NAME, "metrics.csv")  # any of them: the directory holds a run


def check_run_dir(run: str | Path, resume: bool = False, force: bool = False) -> None:
    """Refuse to train into ``run`` when it holds a run and neither ``resume`` nor ``force`` says what to do with it."""
    run = Path(run)
    if resume and force:
        raise RunError(f"{run}: --resume continues the run and --force deletes it; pass one of them")
    if run.exists() and not run.is_dir():
        raise RunError(f"{run}: --out exists and is not a directory; pass a directory for the run")
    if resume or force or not any((run / name).exists() for name in RUN_MARKS):
        return
    try:
        held = f"a checkpoint at step {read_config(run).get('step')}"
    except RunError:
        held = "a run's files"
    raise RunError(f"{run}: already holds {held}; pass --resume to continue it, --force to start over (its checkpoint, "
                   "head, prior, model card and metrics are deleted), or a new --out")


def clear_run(run: str | Path) -> list[str]:
    """Delete what a run wrote into ``run`` (see ``RUN_FILES``); the names deleted."""
    gone = []
    for name in RUN_FILES:
        path = Path(run) / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        gone.append(name)
    return gone


def write_run_config(path: str | Path, tables: dict[str, dict]) -> Path:
    """Write ``tables`` as TOML (``tomli_w``) with a header saying where it came from."""
    import tomli_w

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# The configuration this run resolved to; `flowfm-edge train --config` takes it back.\n"
                    + tomli_w.dumps(tables))
    return path


def check_resume(run: Path, state: dict, data_hash: str, model_cfg: ModelConfig, steps: int,
                 until: int | None = None) -> None:
    """Refuse to resume ``run`` on other data, another preset or model config, or a step it has passed."""
    config = read_config(run)
    saved_hash = config.get("data", {}).get("hash")
    if saved_hash is not None and saved_hash != data_hash:
        spec = config.get("data", {}).get("spec", "?")
        raise RunError(f"{run}: --resume on other data: the checkpoint was trained on data hash {saved_hash} "
                       f"({spec}), the data given now hashes to {data_hash}; pass the run's --data or a new --out")
    saved = state.get("model_config", {})
    now = model_cfg.to_dict()
    if saved.get("preset") != now["preset"]:
        raise RunError(f"{run}: --resume with another preset: the checkpoint is {saved.get('preset')!r}, "
                       f"--preset is {now['preset']!r}")
    diff = [k for k in now if k not in IGNORED_ON_RESUME and saved.get(k) != now[k]]
    if diff:
        both = ", ".join(f"{k}: checkpoint {saved.get(k)!r}, now {now[k]!r}" for k in diff)
        raise RunError(f"{run}: --resume with another model config ({both}); pass the run's options or a new --out")
    step = int(state["step"])
    for flag, value in (("--steps", steps), ("--until", until)):
        if value is not None and value < step:
            raise RunError(f"{run}: {flag} {value} is below the checkpoint's step {step}; "
                           f"pass {flag} >= {step} or train a new run with another --out")


def read_config(run: str | Path) -> dict:
    path = checkpoint_dir(run) / "config.json"
    if not path.is_file():
        raise RunError(f"{run}: no checkpoint found ({path} is missing); train one with `flowfm-edge train --out {run}`")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise RunError(f"{path}: field 'model' is missing or not an object; the run {run} is damaged")
    return config


def load_model(run: str | Path, weights: str = "ema", device: str = "cpu") -> tuple[FlowFM, dict]:
    """The model of ``run`` with its EMA (default) or raw weights, in eval mode, and its config dict."""
    config = read_config(run)
    model = build_model(ModelConfig.from_dict(config["model"]))
    path = checkpoint_dir(run) / f"{'ema' if weights == 'ema' else 'model'}.safetensors"
    if not path.is_file():
        raise RunError(f"{run}: weights file {path} is missing")
    missing, unexpected = model.load_state_dict(_load_tensors(path, run), strict=False)
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
    tensors = _load_tensors(path, run)
    try:
        return GaussianMixturePrior(tensors["weights"], tensors["means"], tensors["chol"])
    except (KeyError, ValueError) as exc:
        raise RunError(f"{path}: not a valid prior ({exc}); refit it with `flowfm-edge fit-prior {run}`") from exc


def _load_tensors(path: Path, run: str | Path) -> dict:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise RunError(f"{path}: not a readable safetensors file ({exc}); the run {run} is damaged") from exc


def load_train_state(run: Path) -> dict | None:
    """The optimizer/scheduler/EMA state and step of ``run``, or None when it has none."""
    path = checkpoint_dir(run) / "train_state.pt"
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError) as exc:
        raise RunError(f"{path}: not a readable training state ({type(exc).__name__}: {exc}); "
                       f"train again with a new --out") from exc
    missing = [k for k in ("step", "model", "optimizer", "scheduler", "ema", "model_config")
               if not isinstance(state, dict) or k not in state]
    if missing:
        raise RunError(f"{path}: training state lacks field(s) {missing}; train again with a new --out")
    return state


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
    try:
        meta = json.loads(meta_path.read_text())
        head = LinearHead(int(meta["r_dim"]), len(meta["classes"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{meta_path}: not a valid head description ({type(exc).__name__}: {exc}); "
                       f"refit it with `flowfm-edge probe {run} --data ...`") from exc
    head.load_state_dict(_load_tensors(checkpoint_dir(run) / "head.safetensors", run))
    return Classifier(model, head).to(device).eval(), meta["classes"]
