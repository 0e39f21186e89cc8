"""One training run from the command line's settings: the options, run directory and logger checked, the data
read, then :func:`~.loop.train`; ``train`` and ``quickstart`` run it.

>>> train_run("synthetic", Path("runs/a"), "nano", {}, {"steps": 10})   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..progress import console


def train_run(data: str, out: Path, preset: str, model_kw: dict, train_kw: dict, resume: bool = False,
              until: Optional[int] = None, rate: Optional[float] = None, device: Optional[str] = None,
              logger: str = "none", force: bool = False, verify: str = "quick") -> None:
    """Check the options, the run directory and the logger, read the data, then train (see ``training.train``)."""
    from ..data import load_source
    from ..models import OBJECTIVES, ModelConfig
    from .checkpoint import check_run_dir
    from .loop import TrainConfig, train as train_loop
    from .run_config import resolved_run_config
    from .trackers import check_logger

    objective = model_kw.get("objective", "flow")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; available: {', '.join(OBJECTIVES)}")
    model_cfg = ModelConfig.from_preset(preset, **model_kw)
    cfg = TrainConfig(**train_kw)
    if int(os.environ.get("RANK", "0")) == 0:
        check_run_dir(out, resume, force)
    check_logger(logger)
    ws = load_source(data, split="pretrain", rate=rate, verify=verify)
    ws.meta["spec"] = data
    console.print(f"training {objective} model ({preset}) on {len(ws)} windows from {ws.source} for {cfg.steps} steps "
                  f"of batch {cfg.batch_size}", highlight=False)
    resolved = resolved_run_config({"source": data, "rate": rate}, model_cfg, cfg)
    train_loop(ws, out, model_cfg, cfg, resume=resume, device=device, until=until, logger=logger, force=force,
               run_file=resolved)
    console.print(f"wrote {out}/checkpoint and {out}/metrics.csv")
