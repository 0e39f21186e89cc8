"""The training loop: AdamW, warmup + cosine, EMA, clipping, autocast, exact resume, DDP.

One function, :func:`train`, reads top to bottom. Randomness is drawn from generators
seeded by (seed, step, rank), so a resumed run replays exactly the batches, noise, times
and DGS masks an uninterrupted run would have drawn: resume needs no RNG snapshot.
Under ``torchrun`` each rank takes its share of every global batch; the lines marked DDP
are all it takes.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.parallel import DistributedDataParallel

from ..data.contract import WindowSet
from ..models import FlowFM, ModelConfig, build_model
from .checkpoint import check_resume, load_train_state, save_checkpoint
from .model_card import write_model_card
from .trackers import LOGGERS, make_tracker
from .progress import progress_bar

METRICS_FIELDS = ["step", "loss", "lr", "grad_norm", "windows_per_s", "elapsed_s"]


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    decay: str = "matrices"  # matrices: weight decay on weight matrices only (not norms, biases, embeddings); all
    warmup: int = 100
    min_lr_ratio: float = 0.05
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    amp: str = "auto"  # auto | bf16 | fp16 | off
    attention: str = "auto"  # auto (math kernel on CPU, PyTorch's choice on CUDA) | math | default
    compile: bool = False  # torch.compile the model (inductor); 1.07x on a 2-core CPU for 75 s of compile
    log_every: int = 10
    ckpt_every: int = 500


def data_hash(X) -> str:
    """16 hex digits of sha256 over the windows; a shard store hashes its shards' sha256 instead of re-reading them."""
    if hasattr(X, "content_hash"):
        return X.content_hash()
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float32).tobytes()).hexdigest()[:16]


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


def lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo (Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


BF16_MIN_GAIN = 1.25  # bf16 autocast only where its matmuls are at least this much faster than fp32


def matmul_rate(dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    """Measured GFLOP/s of an n x n matmul in ``dtype`` at the current thread count (median of ``repeats``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / sorted(times)[repeats // 2] / 1e9


@functools.lru_cache(maxsize=None)
def cpu_bf16_pays(threads: int) -> bool:
    """Whether bf16 matmuls run >= ``BF16_MIN_GAIN`` x faster than fp32 here, measured once per thread count.

    The AVX512-BF16 flag alone does not tell: on one 2-core AMD EPYC bf16 matmuls ran 4.1x faster than
    fp32 (tiny trained 2.15x faster), on one 2-core Intel Xeon with the same flag 0.49x (tiny 0.64x);
    benchmarks/README.md, "Training throughput". Costs about 0.1 s.
    """
    return matmul_rate(torch.bfloat16) >= BF16_MIN_GAIN * matmul_rate(torch.float32)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``amp`` on ``device``; auto is bf16 on CUDA, and on CPUs where bf16 is measured faster.

    A CPU gets bf16 under ``auto`` when it computes bf16 natively (AVX512-BF16 or AMX) and its bf16 matmuls
    are measured at least 1.25x faster than fp32 (:func:`cpu_bf16_pays`); elsewhere bf16 is emulated or
    slower, and ``auto`` stays fp32.
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"
                        and not (cpu_has_bf16() and cpu_bf16_pays(torch.get_num_threads()))):
        return None
    if amp in ("auto", "bf16"):
        return torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16


NO_DECAY_NAMES = ("pos", "cls")  # positional and CLS embeddings: parameters of >= 2 dims that are not weights


def attention_backend(kind: str, device: torch.device):
    """The scaled-dot-product attention kernels training uses: ``auto`` is the math kernel on CPU.

    For windows of 30 tokens the CPU flash kernel's backward is the largest single cost of a tiny step (28% in
    bf16) and the math path (matmul, softmax, matmul) trains 1.2x faster. On CUDA ``auto`` leaves PyTorch's
    choice (``default``).
    """
    if kind not in ("auto", "math", "default"):
        raise ValueError(f"attention must be auto, math or default, got {kind!r}")
    if kind == "math" or (kind == "auto" and device.type == "cpu"):
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


def param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: decay on weight matrices (Linear, Conv) only, or on everything with ``decay="all"``."""
    if cfg.decay not in ("matrices", "all"):
        raise ValueError(f"decay must be matrices or all, got {cfg.decay!r}")
    decay, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_matrix = p.ndim >= 2 and name.rsplit(".", 1)[-1] not in NO_DECAY_NAMES
        (decay if is_matrix or cfg.decay == "all" else rest).append(p)
    return [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + step) * 257 + rank)
    return g


class BatchPlan:
    """Global batch indices for any step: an epoch-wise permutation seeded by (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.batch_size
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            self._epoch = epoch
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]


def _update_ema(ema: dict, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.dtype.is_floating_point:
                ema[name].lerp_(p, 1 - decay)
            else:
                ema[name].copy_(p)


def train(
    data: WindowSet,
    out: str | Path,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    resume: bool = False,
    device: str | None = None,
    model_factory=build_model,
    progress: bool = True,
    until: int | None = None,
    logger: str | None = None,
) -> FlowFM:
    """Train ``model_factory(model_cfg)`` (by default the model of ``model_cfg.objective``) on ``data``.

    Writes ``out/checkpoint`` and ``out/metrics.csv``. ``until`` stops (with a checkpoint)
    after that step of the ``cfg.steps`` schedule, to fit a job's time slice; ``resume``
    continues from the last checkpoint. ``logger`` (tensorboard, mlflow) also sends the
    metrics to an experiment tracker (:mod:`.trackers`).
    """
    out = Path(out)
    # DDP: torchrun sets WORLD_SIZE/RANK; one process otherwise.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)

    state = load_train_state(out) if resume else None
    if state is None:
        model_cfg.norm_mean, model_cfg.norm_std = normalisation(data.X)
    else:
        check_resume(out, state, data_hash(data.X), model_cfg, cfg.steps, until)
        model_cfg = ModelConfig.from_dict(state["model_config"])
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = model_factory(model_cfg).to(dev)
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, betas=(0.9, 0.99))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ema = {k: v.to(dev) for k, v in state["ema"].items()}
        start = int(state["step"])
    net = DistributedDataParallel(model) if world > 1 else model  # DDP: gradients all-reduced
    if cfg.compile:
        net = torch.compile(net)

    if isinstance(data.X, np.ndarray):
        X = torch.from_numpy(np.ascontiguousarray(data.X, dtype=np.float32))
    else:  # a shard store: each batch is read through memory maps, never the whole corpus
        X = data.X
    plan = BatchPlan(len(X), cfg.batch_size, cfg.seed)
    amp_dtype = autocast_dtype(cfg.amp, dev)
    attention_backend(cfg.attention, dev)  # refuses an unknown kind before the first step
    config = {
        "model": model_cfg.to_dict(),
        "train": asdict(cfg),
        "data": {"source": data.source, "spec": data.meta.get("spec", data.source), "n_windows": len(X),
                 "hash": data_hash(data.X), "classes": data.classes},
    }
    if logger not in LOGGERS + (None,):
        raise ValueError(f"--logger must be one of {', '.join(LOGGERS)}, got {logger!r}")
    metrics = _Metrics(out / "metrics.csv", start) if rank == 0 else None
    tracker = make_tracker(logger, out, config) if rank == 0 else None

    def checkpoint(step: int) -> None:
        if rank != 0:
            return
        train_state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "ema": ema, "model_config": model_cfg.to_dict()}
        save_checkpoint(out, model, ema, {**config, "step": step}, train_state)

    model.train()
    t_start, seen = time.perf_counter(), 0
    stop = cfg.steps if until is None else min(until, cfg.steps)
    with progress_bar(cfg.steps, start, "train", enabled=progress and rank == 0) as advance:
        batches = _Batches(X, plan, rank, world, start, stop)
        for step in range(start, stop):
            idx, x = batches.next(step)  # DDP: this rank's share of the global batch
            x = x.to(dev, non_blocking=True)
            gen = step_generator(cfg.seed, step, rank, dev)
            with attention_backend(cfg.attention, dev), torch.autocast(
                    dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                loss = net(x, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            _update_ema(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            seen += len(idx) * world
            done = step + 1
            if metrics is not None and (done % cfg.log_every == 0 or done == cfg.steps):
                elapsed = time.perf_counter() - t_start
                metrics.writerow([done, f"{loss.item():.6f}", f"{scheduler.get_last_lr()[0]:.3e}",
                                  f"{grad_norm.item():.4f}", f"{seen / elapsed:.1f}", f"{elapsed:.2f}"])
                if tracker is not None:
                    tracker.log(done, {"loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                                       "grad_norm": grad_norm.item(), "windows_per_s": seen / elapsed})
            advance(loss=loss.item())
            if done % cfg.ckpt_every == 0 and done < stop:
                checkpoint(done)
    checkpoint(stop)
    if tracker is not None:
        tracker.close()
    if world > 1:
        dist.barrier()
    model.load_state_dict(ema)
    if rank == 0 and hasattr(model, "attach_prior"):  # prior over r for unconditional generation, on the EMA weights
        from .prior import fit_run_prior  # (imports this module)

        fit_run_prior(out, model, data.X, data.meta.get("spec", data.source), seed=cfg.seed)
    if rank == 0:
        write_model_card(out)
    return model.eval()


class _Batches:
    """The windows of each step's batch; from a shard store, the next batch is read while this one trains.

    In-memory windows are indexed directly. A store's batch is gathered from memory maps (disk reads
    when the store is larger than the page cache) by one background thread, one step ahead; the
    batch plan is the same, so resume and DDP shares are unchanged.
    """

    def __init__(self, X, plan: BatchPlan, rank: int, world: int, start: int, stop: int):
        self.X, self.plan, self.rank, self.world, self.stop = X, plan, rank, world, stop
        self.pool = None
        if not isinstance(X, torch.Tensor) and start < stop:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(1)
            self.pending = self.pool.submit(self._read, start)

    def _read(self, step: int):
        idx = self.plan.indices(step)[self.rank::self.world]
        return idx, torch.from_numpy(self.X[idx.numpy()])

    def next(self, step: int):
        if self.pool is None:
            idx = self.plan.indices(step)[self.rank::self.world]
            return idx, self.X[idx]
        out = self.pending.result()
        if step + 1 < self.stop:
            self.pending = self.pool.submit(self._read, step + 1)
        else:
            self.pool.shutdown()
        return out


class _Metrics:
    def __init__(self, path: Path, start: int):
        rows = []
        if start > 0 and path.is_file():  # keep rows up to the resumed step, drop the replayed tail
            with path.open() as f:
                rows = [r for r in csv.reader(f)][1:]
            rows = [r for r in rows if r and int(r[0]) <= start]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = path.open("w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(METRICS_FIELDS)
        self.w.writerows(rows)

    def writerow(self, row: list) -> None:
        self.w.writerow(row)
        self.f.flush()
