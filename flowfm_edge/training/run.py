"""Train a resolved run configuration into a run directory: what ``train`` and ``quickstart`` do.

>>> run = resolve_run_config({"source": "synthetic", "steps": 10})   # doctest: +SKIP
>>> train_run(run, "runs/try")                                       # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..data import load_source
from .checkpoint import check_run_dir
from .config import RunConfig
from .loop import train
from .trackers import check_logger


def train_run(run: RunConfig, out: str | Path, *, resume: bool = False, until: int | None = None,
              device: str | None = None, logger: str = "none", force: bool = False, verify: str = "quick",
              log: Callable[[str], None] = print):
    """Check the run directory and the logger, read the data, then train (:func:`~.loop.train`); the trained model.

    ``out`` gets the checkpoint, ``metrics.csv`` and ``run.toml`` (``run.tables()``); ``verify``
    is how a shard store given as data is checked at open (quick or full).
    """
    out = Path(out)
    if int(os.environ.get("RANK", "0")) == 0:
        check_run_dir(out, resume, force)
    check_logger(logger)
    ws = load_source(run.data.source, split="pretrain", rate=run.data.rate, verify=verify)
    ws.meta["spec"] = run.data.source
    log(f"training {run.model.objective} model ({run.model.preset}) on {len(ws)} windows from {ws.source} for "
        f"{run.train.steps} steps of batch {run.train.batch_size}")
    model = train(ws, out, run.model, run.train, resume=resume, device=device, until=until, logger=logger,
                  force=force, run_file=run.tables())
    log(f"wrote {out}/checkpoint and {out}/metrics.csv")
    return model
