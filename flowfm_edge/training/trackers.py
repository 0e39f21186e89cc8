"""A run's metrics: ``RUN/metrics.csv`` and, chosen with ``train --logger``, TensorBoard or MLflow.

:class:`MetricsLog` writes the CSV and hands the same rows to the tracker; rank 0 only. The
tracker gets the run's configuration once (TensorBoard: as text; MLflow: as flat parameters),
then every row of ``metrics.csv`` (loss, learning rate, gradient norm, windows/s) at the same
steps. Both libraries are optional (the ``[track]`` extra) and imported only when asked for.

- ``tensorboard`` writes ``RUN/tensorboard/`` (``tensorboard --logdir RUN/tensorboard``).
- ``mlflow`` logs to ``$MLFLOW_TRACKING_URI`` when it is set, else to an SQLite store
  ``RUN/mlflow.db`` (``mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db``; MLflow's file
  store is deprecated); the MLflow run is named after the run directory.

>>> tracker = make_tracker("tensorboard", "runs/t1", config)  # doctest: +SKIP
>>> tracker.log(10, {"loss": 0.5}); tracker.close()           # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

LOGGERS = ("none", "tensorboard", "mlflow")
METRICS_FIELDS = ["step", "loss", "lr", "grad_norm", "windows_per_s", "elapsed_s"]


def _need(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"--logger {what} needs {module.split('.')[0]}: pip install 'flowfm-edge[track]'") from None


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """{"model": {"dim": 64}} -> {"model.dim": "64"}: the nested run configuration as flat parameters."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
    return out


class TensorBoardTracker:
    def __init__(self, out: Path, config: dict):
        summary = _need("torch.utils.tensorboard", "tensorboard")
        self.writer = summary.SummaryWriter(log_dir=str(out / "tensorboard"))
        self.writer.add_text("config", "```json\n" + json.dumps(config, indent=2) + "\n```", 0)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        self.writer.close()


class MLflowTracker:
    def __init__(self, out: Path, config: dict):
        self.mlflow = _need("mlflow", "mlflow")
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            out.mkdir(parents=True, exist_ok=True)
            self.mlflow.set_tracking_uri(f"sqlite:///{(out / 'mlflow.db').resolve()}")
        self.mlflow.start_run(run_name=out.name)
        params = flatten(config)
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per call
            self.mlflow.log_params(dict(list(params.items())[i:i + 100]))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.mlflow.log_metrics(metrics, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def make_tracker(kind: str | None, out: str | Path, config: dict):
    """The tracker of ``kind`` (none, tensorboard, mlflow) for the run at ``out``; None for none."""
    if kind in (None, "none"):
        return None
    if kind not in LOGGERS:
        raise ValueError(f"--logger must be one of {', '.join(LOGGERS)}, got {kind!r}")
    cls = TensorBoardTracker if kind == "tensorboard" else MLflowTracker
    return cls(Path(out), config)


class MetricsLog:
    """``out/metrics.csv`` (kept up to a resumed step, the replayed tail dropped) and the tracker of ``logger``."""

    def __init__(self, out: Path, start: int, logger: str | None, config: dict):
        path = Path(out) / "metrics.csv"
        rows = []
        if start > 0 and path.is_file():
            with path.open() as f:
                rows = [r for r in list(csv.reader(f))[1:] if r and int(r[0]) <= start]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = path.open("w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(METRICS_FIELDS)
        self.w.writerows(rows)
        self.tracker = make_tracker(logger, out, config)

    def log(self, step: int, loss: float, lr: float, grad_norm: float, windows_per_s: float, elapsed: float) -> None:
        self.w.writerow([step, f"{loss:.6f}", f"{lr:.3e}", f"{grad_norm:.4f}", f"{windows_per_s:.1f}",
                         f"{elapsed:.2f}"])
        self.f.flush()
        if self.tracker is not None:
            self.tracker.log(step, {"loss": loss, "lr": lr, "grad_norm": grad_norm, "windows_per_s": windows_per_s})

    def close(self) -> None:
        self.f.close()
        if self.tracker is not None:
            self.tracker.close()
