"""A run's metrics: ``RUN/metrics.csv`` and, chosen with ``train --logger``, TensorBoard or MLflow.

:class:`MetricsLog` writes the CSV and hands the same rows to the tracker; rank 0 only. The
tracker gets the run's configuration once (TensorBoard: as text; MLflow: as flat parameters),
then every row of ``metrics.csv`` (loss, learning rate, gradient norm, windows/s) at the same
steps. Both libraries are optional (the ``[track]`` extra) and imported only when asked for.

- ``tensorboard`` writes ``RUN/tensorboard/`` (``tensorboard --logdir RUN/tensorboard``).
- ``mlflow`` logs to ``$MLFLOW_TRACKING_URI`` when it is set, else to an SQLite store
  ``RUN/mlflow.db`` (``mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db``; MLflow's file
  store is deprecated); the MLflow run is named after the run directory.

:func:`check_logger` runs before training writes anything: a missing library, a tracking URI
MLflow cannot use, or a server that does not answer (one try, ``CHECK_TIMEOUT_S``) is one error
line, not minutes of retries. A server lost during training costs its metrics from then on (the
CSV keeps them all) and one warning line, never the run.

>>> tracker = make_tracker("tensorboard", "runs/t1", config)  # doctest: +SKIP
>>> tracker.log(10, {"loss": 0.5}); tracker.close()           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

LOGGERS = ("none", "tensorboard", "mlflow")
REMOTE = ("http", "https", "databricks", "postgresql", "mysql", "mssql")  # URI schemes checked by asking the server
CHECK_TIMEOUT_S = 10
# MLflow retries an HTTP request 7 times with backoff (about 4 minutes); a run asks for fewer unless told otherwise
RUN_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
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


@contextlib.contextmanager
def _environ(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def check_logger(kind: str | None) -> None:
    """Refuse a logger that cannot log (see the module docstring); returns when it can."""
    if kind in (None, "none"):
        return
    if kind not in LOGGERS:
        raise ValueError(f"--logger must be one of {', '.join(LOGGERS)}, got {kind!r}")
    if kind == "tensorboard":
        _need("torch.utils.tensorboard", "tensorboard")
        return
    mlflow = _need("mlflow", "mlflow")
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return  # an SQLite store in the run directory
    from mlflow.exceptions import MlflowException

    try:
        with _environ(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(CHECK_TIMEOUT_S)):
            client = mlflow.MlflowClient(tracking_uri=uri)
            if urlparse(uri).scheme in REMOTE:
                client.search_experiments(max_results=1)
    except (MlflowException, ValueError, OSError, ImportError) as exc:
        raise RuntimeError(f"--logger mlflow: cannot log to MLFLOW_TRACKING_URI={uri!r} ({_reason(exc)}); start its "
                           "server or fix the URI, or unset it to log to RUN/mlflow.db") from None


class MLflowTracker:
    def __init__(self, out: Path, config: dict):
        self.mlflow = _need("mlflow", "mlflow")
        from mlflow.exceptions import MlflowException

        self.errors = (MlflowException, OSError)
        for k, v in RUN_HTTP.items():
            os.environ.setdefault(k, v)
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            out.mkdir(parents=True, exist_ok=True)
            self.mlflow.set_tracking_uri(f"sqlite:///{(out / 'mlflow.db').resolve()}")
        try:
            self.mlflow.start_run(run_name=out.name)
            params = flatten(config)
            for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per call
                self.mlflow.log_params(dict(list(params.items())[i:i + 100]))
        except self.errors as exc:
            raise RuntimeError(f"--logger mlflow: could not start a run at {self.mlflow.get_tracking_uri()!r} "
                               f"({_reason(exc)})") from None
        self.lost = False

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.lost:
            return
        try:
            self.mlflow.log_metrics(metrics, step=step)
        except self.errors as exc:
            self.lost = True
            print(f"warning: MLflow stopped answering at step {step} ({_reason(exc)}); metrics.csv keeps every row, "
                  "MLflow gets no more", file=sys.stderr)

    def close(self) -> None:
        try:
            self.mlflow.end_run()
        except self.errors as exc:
            if not self.lost:
                print(f"warning: MLflow could not end the run ({_reason(exc)}); metrics.csv keeps every row",
                      file=sys.stderr)


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
