import csv

import pytest

from flowfm_edge.data import make_synthetic
from flowfm_edge.models import ModelConfig
from flowfm_edge.training import TrainConfig, train
from flowfm_edge.training import trackers


def train_with(out, logger):
    ws = make_synthetic(n_subjects=2, windows_per_activity=2, seed=0)
    train(ws, out, ModelConfig.from_preset("nano"), TrainConfig(steps=4, batch_size=8, warmup=1, log_every=2),
          progress=False, device="cpu", logger=logger)
    return [float(r["loss"]) for r in csv.DictReader(open(out / "metrics.csv"))]


def test_tensorboard_gets_the_rows_of_metrics_csv(tmp_path):
    pytest.importorskip("tensorboard", reason="needs the [track] extra (tensorboard): pip install 'flowfm-edge[track]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    losses = train_with(tmp_path / "run", "tensorboard")
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    events = acc.Scalars("loss")
    assert [e.step for e in events] == [2, 4]
    assert [e.value for e in events] == pytest.approx(losses, rel=1e-5)
    assert {"lr", "grad_norm", "windows_per_s"} <= set(acc.Tags()["scalars"])


def test_mlflow_logs_params_and_metrics_to_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="needs the [track] extra (mlflow-skinny): pip install 'flowfm-edge[track]'")
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    losses = train_with(tmp_path / "run", "mlflow")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    [found] = client.search_runs(experiment_ids=["0"])
    assert found.info.run_name == "run" and found.info.status == "FINISHED"
    assert found.data.params["model.preset"] == "nano" and found.data.params["train.steps"] == "4"
    history = client.get_metric_history(found.info.run_id, "loss")
    assert [m.step for m in history] == [2, 4] and [m.value for m in history] == pytest.approx(losses, rel=1e-5)


def test_an_unknown_logger_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="--logger must be one of none, tensorboard, mlflow, got 'wandb'"):
        train_with(tmp_path / "run", "wandb")
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_a_missing_library_names_the_extra(tmp_path, monkeypatch):
    import importlib

    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a: (_ for _ in ()).throw(ImportError(name)) if name == "mlflow" else real(name, *a))
    with pytest.raises(ImportError, match=r"--logger mlflow needs mlflow: pip install 'flowfm-edge\[track\]'"):
        trackers.make_tracker("mlflow", tmp_path, {})


def test_flatten_names_nested_fields():
    assert trackers.flatten({"model": {"dim": 64, "norm": [1.0, 2.0]}, "seed": 0}) == \
        {"model.dim": "64", "model.norm": "[1.0, 2.0]", "seed": "0"}
