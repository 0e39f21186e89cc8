"""Which windows and which random numbers every training step uses, as pure functions of (seed, step, rank).

A resumed run therefore replays exactly the batches, noise, times and DGS masks an
uninterrupted run would have drawn, and resume needs no RNG snapshot.

>>> plan = BatchPlan(n=10, batch_size=4, seed=0)
>>> plan.indices(0).shape
torch.Size([4])
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

# Seeds of the per-step generators and the per-epoch shuffles. Primes above the step, rank and
# epoch counts of any realistic run, so (seed, step, rank) and (seed, epoch) each map to a
# distinct seed; the values are fixed because changing them changes every run.
STEP_STRIDE = 1_000_003  # > any step count
RANK_STRIDE = 257  # > any number of ranks
EPOCH_STRIDE = 7919  # > any epoch count


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of one step on one rank: every random draw of the step's loss comes from it."""
    g = torch.Generator(device=device)
    g.manual_seed(((seed * STEP_STRIDE + step) * RANK_STRIDE) + rank)
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
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * EPOCH_STRIDE + epoch))
            self._epoch = epoch
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]


def as_tensor(X) -> torch.Tensor | object:
    """In-memory windows (N, 3, 300) as one float32 tensor; a shard store is returned as it is, read per batch."""
    if isinstance(X, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return X


class Batches:
    """The windows of each step's batch; from a shard store, the next batch is read while this one trains.

    In-memory windows are indexed directly. A store's batch is gathered from memory maps (disk reads
    when the store is larger than the page cache) by one background thread, one step ahead; the
    batch plan is the same, so resume and DDP shares are unchanged.
    """

    def __init__(self, X, plan: BatchPlan, rank: int, world: int, start: int, stop: int):
        self.X, self.plan, self.rank, self.world, self.stop = X, plan, rank, world, stop
        self.pool = None
        if not isinstance(X, torch.Tensor) and start < stop:
            self.pool = ThreadPoolExecutor(1)
            self.pending = self.pool.submit(self._read, start)

    def _read(self, step: int):
        idx = self.plan.indices(step)[self.rank::self.world]
        return idx, torch.from_numpy(self.X[idx.numpy()])

    def next(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(idx (b,), x (b, 3, 300)): this rank's share of the global batch of ``step``."""
        if self.pool is None:
            idx = self.plan.indices(step)[self.rank::self.world]
            return idx, self.X[idx]
        out = self.pending.result()
        if step + 1 < self.stop:
            self.pending = self.pool.submit(self._read, step + 1)
        else:
            self.pool.shutdown()
        return out
