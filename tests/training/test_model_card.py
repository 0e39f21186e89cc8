import csv

import pytest

from flowfm_edge.data import make_synthetic
from flowfm_edge.models import ModelConfig
from flowfm_edge.training import TrainConfig, train
from flowfm_edge.training.model_card import model_card, training_seconds


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    ws = make_synthetic(n_subjects=2, windows_per_activity=2, seed=0)
    ws.meta["spec"] = "synthetic"
    out = tmp_path_factory.mktemp("card") / "nano-synthetic"
    train(ws, out, ModelConfig.from_preset("nano"), TrainConfig(steps=6, batch_size=8, warmup=1, ckpt_every=3),
          progress=False, device="cpu")
    return out, len(ws)


def test_training_writes_a_hugging_face_style_card_beside_the_weights(synthetic_run):
    run, n = synthetic_run
    card = (run / "checkpoint" / "README.md").read_text()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    assert "license: apache-2.0" in front and "library_name: flowfm-edge" in front and "- flow-matching" in front
    assert (run / "checkpoint" / "config.json").is_file() and (run / "checkpoint" / "model.safetensors").is_file()
    assert "# nano-synthetic" in body and "nano preset (dim 64, depth 2, 2 heads); 0.30 M parameters" in body
    assert f"- synthetic: {n} windows" in body and "no third-party data" in body
    assert f"- 6 optimiser steps of batch 8 ({6 * 8 / n:.1f} epochs of {n} windows)" in body
    assert "Not probed yet" in body and "Not a medical device" in body and "prior over r saved: yes" in body


def test_licence_is_named_for_hapt_and_asked_for_unknown_data(synthetic_run, tmp_path):
    import json
    import shutil

    run, _ = synthetic_run
    for spec, expected in (("hapt", "non-commercial use"), ("runs/mine.npz", "State it here before sharing")):
        copy = tmp_path / spec.replace("/", "-")
        shutil.copytree(run, copy)
        path = copy / "checkpoint" / "config.json"
        config = json.loads(path.read_text())
        config["data"]["spec"] = spec
        path.write_text(json.dumps(config))
        card = model_card(copy)
        assert expected in card and ("license: other" in card)


def test_training_time_adds_up_resumed_sessions(tmp_path):
    with (tmp_path / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "lr", "grad_norm", "windows_per_s", "elapsed_s"])
        for step, elapsed in ((10, 5.0), (20, 10.0), (30, 4.0), (40, 8.5)):  # a resume after step 20
            w.writerow([step, 1.0, 1e-3, 1.0, 100.0, elapsed])
    assert training_seconds(tmp_path) == pytest.approx(18.5)
    assert training_seconds(tmp_path / "missing") is None
