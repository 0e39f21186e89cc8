"""The training loop: one :func:`train` for base training and fine-tuning alike.

A step draws its batch and every random number from generators seeded by (seed, step, rank)
(:mod:`.batches`), so a resumed run replays exactly what an uninterrupted run would have drawn;
:mod:`.optim` does the AdamW step (warmup + cosine, clipping, EMA) and :mod:`.precision` the
autocast and its fp16 loss scaler. Under ``torchrun`` each rank takes its share of every global
batch; the lines marked DDP are all it takes. A fine-tune (text conditioning,
:mod:`flowfm_edge.text.finetune`) passes its starting model, its loss and which parameters train.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..data.contract import WindowSet
from ..data.hashing import data_hash
from ..models import FlowFM, ModelConfig, build_model
from ..progress import progress_bar
from .batches import BatchPlan, Batches, as_tensor, step_generator
from .checkpoint import check_resume, check_run_dir, clear_run, load_train_state, save_checkpoint, write_run_config
from .config import TrainConfig
from .model_card import write_model_card
from .optim import Optimiser, freeze
from .precision import attention_backend, autocast_dtype, grad_scaler
from .trackers import MetricsLog, check_logger

# loss_fn(model, x (b, 3, 300), idx (b,) the windows' indices in the data, generator) -> scalar loss
LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]




def normalisation(X) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over all windows and samples of ``X`` (N, 3, L); a store is read in chunks."""
    if isinstance(X, np.ndarray):
        mean = X.mean(axis=(0, 2))
        std = X.std(axis=(0, 2)) + 1e-6
        return mean.astype(float).tolist(), std.astype(float).tolist()
    total, squares, n = np.zeros(X.shape[1]), np.zeros(X.shape[1]), 0
    for _, chunk in X.chunks():  # (n, 3, L), float64 sums
        total += chunk.sum(axis=(0, 2), dtype=np.float64)
        squares += np.square(chunk, dtype=np.float64).sum(axis=(0, 2))
        n += chunk.shape[0] * chunk.shape[2]
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0)) + 1e-6
    return mean.tolist(), std.tolist()


def train(data: WindowSet, out: str | Path, model_cfg: ModelConfig, cfg: TrainConfig, resume: bool = False,
          device: str | None = None, model_factory=build_model, progress: bool = True, until: int | None = None,
          logger: str | None = None, *, init: torch.nn.Module | None = None, loss_fn: LossFn | None = None,
          trainable: Callable[[str], bool] | None = None, record: dict | None = None, force: bool = False,
          run_file: dict | None = None) -> FlowFM:
    """Train ``model_factory(model_cfg)`` (by default the model of ``model_cfg.objective``) on ``data``.

    Writes ``out/checkpoint`` and ``out/metrics.csv``. ``until`` stops (with a checkpoint)
    after that step of the ``cfg.steps`` schedule, to fit a job's time slice; ``resume``
    continues from the last checkpoint; ``force`` deletes a run already in ``out`` and starts over
    (without either, a run in ``out`` is refused). ``logger`` (tensorboard, mlflow) also sends the
    metrics to an experiment tracker (:mod:`.trackers`). ``run_file`` (a run file's tables,
    :meth:`~.config.RunConfig.tables`) is saved as ``out/run.toml``. Nothing is written before
    the options, ``out``, the logger and the data (normalised here, every window read once) have
    been checked. Returns the model with its EMA weights.

    Fine-tuning: ``init`` is a trained model to start from instead of a new one (its
    configuration, normalisation included, is kept: pass ``init.cfg`` as ``model_cfg``);
    ``loss_fn`` replaces the model's own loss (see :data:`LossFn`; one process, no compile);
    ``trainable(name)`` says which parameters train, the rest are frozen; ``record`` adds
    sections to the run's ``config.json`` (a ``"train"`` section replaces ``asdict(cfg)``).
    A run trained with the model's own loss also gets its prior over r and its model card.
    """
    out = Path(out)
    world, rank, dev = _distributed(device)
    _check_options(cfg, model_cfg, logger, init, loss_fn, world)
    if rank == 0:
        check_run_dir(out, resume, force)
    attention_backend(cfg.attention, dev)  # refuses an unknown kind before anything is written
    state = load_train_state(out) if resume else None
    model_cfg = _model_config(out, data, model_cfg, cfg, state, until, fine_tune=init is not None)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = (init if init is not None else model_factory(model_cfg)).to(dev)
    freeze(model, trainable)
    amp_dtype = autocast_dtype(cfg.amp, dev)
    opt = Optimiser(model, cfg, grad_scaler(amp_dtype, dev))
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state, dev)
    start = int(state["step"]) if state is not None else 0
    X = as_tensor(data.X)
    config = {"model": model_cfg.to_dict(), "train": asdict(cfg), "data": _data_record(data, len(X)), **(record or {})}

    def checkpoint(step: int) -> None:
        if rank == 0:
            train_state = {"step": step, "model": model.state_dict(), **opt.state_dict(),
                           "model_config": model_cfg.to_dict()}
            save_checkpoint(out, model, opt.ema, {**config, "step": step}, train_state)

    if rank == 0:  # the first writes
        if force:
            clear_run(out)
        if run_file is not None:
            write_run_config(out / "run.toml", run_file)
    log = MetricsLog(out, start, logger, config) if rank == 0 else None
    stop = cfg.steps if until is None else min(until, cfg.steps)
    batches = Batches(X, BatchPlan(len(X), cfg.batch_size, cfg.seed), rank, world, start, stop)
    loss_at = _objective(model, loss_fn, cfg, rank, world, dev, amp_dtype)
    model.train()
    with progress_bar(cfg.steps, start, "train", enabled=progress and rank == 0) as advance:
        _steps(loss_at, opt, batches, cfg, range(start, stop), world, log, checkpoint, advance)
    checkpoint(stop)
    if log is not None:
        log.close()
    if world > 1:
        dist.barrier()
    model.load_state_dict(opt.ema)
    if rank == 0 and loss_fn is None:
        _describe_run(out, model, data, cfg.seed)
    return model.eval()


def _distributed(device: str | None) -> tuple[int, int, torch.device]:
    """(world size, rank, device); DDP: torchrun sets WORLD_SIZE/RANK, one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
    return world, rank, dev


def _check_options(cfg: TrainConfig, model_cfg: ModelConfig, logger: str | None, init, loss_fn, world: int) -> None:
    """Refuse what cannot train before anything is built or written."""
    model_cfg.validate()
    check_logger(logger)
    if init is not None and getattr(init, "cfg", model_cfg) != model_cfg:
        raise ValueError("init's configuration differs from model_cfg; pass init.cfg as model_cfg")
    if loss_fn is not None and (world > 1 or cfg.compile):
        raise ValueError("a loss_fn calls the model itself, outside DDP and torch.compile; train it in one process "
                         "with compile=False")


def _model_config(out: Path, data: WindowSet, model_cfg: ModelConfig, cfg: TrainConfig, state: dict | None,
                  until: int | None, fine_tune: bool) -> ModelConfig:
    """The checkpoint's config on resume; else ``model_cfg``, normalised on ``data`` unless it is a fine-tune's."""
    if state is not None:
        check_resume(out, state, data_hash(data.X), model_cfg, cfg.steps, until)
        return ModelConfig.from_dict(state["model_config"])
    if not fine_tune:
        model_cfg.norm_mean, model_cfg.norm_std = normalisation(data.X)
    return model_cfg


def _data_record(data: WindowSet, n: int) -> dict:
    return {"source": data.source, "spec": data.meta.get("spec", data.source), "n_windows": n,
            "hash": data_hash(data.X), "classes": data.classes}


def _objective(model: torch.nn.Module, loss_fn: LossFn | None, cfg: TrainConfig, rank: int, world: int,
               dev: torch.device, amp_dtype: torch.dtype | None) -> Callable:
    """(step, idx, x) -> the step's loss under the run's attention kernels and autocast; the model's own by default."""
    net = DistributedDataParallel(model) if world > 1 else model  # DDP: gradients all-reduced
    if cfg.compile:
        net = torch.compile(net)

    def loss_at(step: int, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x, gen = x.to(dev, non_blocking=True), step_generator(cfg.seed, step, rank, dev)
        with attention_backend(cfg.attention, dev), torch.autocast(
                dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            return net(x, gen) if loss_fn is None else loss_fn(model, x, idx, gen)

    return loss_at


def _steps(loss_at: Callable, opt: Optimiser, batches: Batches, cfg: TrainConfig, steps: range, world: int,
           log: MetricsLog | None, checkpoint: Callable, advance: Callable) -> None:
    """Run ``steps``: loss, optimiser step, metrics every ``cfg.log_every``, a checkpoint every ``cfg.ckpt_every``."""
    t_start, seen = time.perf_counter(), 0
    for step in steps:
        idx, x = batches.next(step)  # DDP: this rank's share of the global batch
        loss = loss_at(step, idx, x)
        grad_norm = opt.step(loss, step)
        seen += len(idx) * world
        done = step + 1
        if log is not None and (done % cfg.log_every == 0 or done == cfg.steps):
            elapsed = time.perf_counter() - t_start
            log.log(done, loss.item(), opt.lr, grad_norm.item(), seen / elapsed, elapsed)
        advance(loss=loss.item())
        if done % cfg.ckpt_every == 0 and done < steps.stop:
            checkpoint(done)


def _describe_run(out: Path, model: torch.nn.Module, data: WindowSet, seed: int) -> None:
    """The prior over r for unconditional generation (on the EMA weights) and the model card."""
    if hasattr(model, "attach_prior"):
        from .prior import fit_run_prior  # (imports this module)

        fit_run_prior(out, model, data.X, data.meta.get("spec", data.source), seed=seed)
    write_model_card(out)
