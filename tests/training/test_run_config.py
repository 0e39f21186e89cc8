import json

import pytest
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import make_synthetic, save_npz
from flowfm_edge.training.run_config import read_run_config

runner = CliRunner()


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synth.npz"
    save_npz(path, make_synthetic(n_subjects=2, windows_per_activity=2, seed=0))
    return path


def saved(run):
    return json.loads((run / "checkpoint" / "config.json").read_text())


def test_a_run_file_sets_model_and_train_fields_and_the_command_line_wins(synth, tmp_path):
    (tmp_path / "run.toml").write_text(f'''
[data]
source = "{synth}"
[model]
preset = "nano"
depth = 1          # not a command-line option: only a file sets it
p_dgs = 0.25
[train]
steps = 4
batch_size = 8
warmup = 1
ema_decay = 0.99
lr = 2e-3
''')
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "run.toml"), "--lr", "5e-4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    config = saved(out)
    assert config["model"]["depth"] == 1 and config["model"]["p_dgs"] == 0.25 and config["model"]["preset"] == "nano"
    assert config["train"]["steps"] == 4 and config["train"]["ema_decay"] == 0.99 and config["train"]["lr"] == 5e-4
    assert config["data"]["spec"] == str(synth)
    resolved = read_run_config(out / "run.toml")  # the resolved file is a run file itself
    assert resolved["train"]["lr"] == 5e-4 and resolved["model"]["depth"] == 1 and resolved["data"]["source"] == str(synth)
    assert "norm_mean" not in resolved["model"]
    again = tmp_path / "again"
    res = runner.invoke(app, ["train", "--config", str(out / "run.toml"), "--out", str(again)])
    assert res.exit_code == 0, res.output
    assert saved(again)["model"] == config["model"] and saved(again)["train"] == config["train"]


@pytest.mark.parametrize("text, message", [
    ("[model]\ndepht = 2\n", "[model] has unknown key(s) ['depht']; known:"),
    ("[train]\nsteps = \"many\"\n", "[train] steps must be int, got 'many' (str)"),
    ("[train]\nsteps = true\n", "[train] steps must be int, got True (bool)"),
    ("[optim]\nlr = 1\n", "unknown table(s) ['optim']; a run file has [data], [model] and [train]"),
    ("[model]\nnorm_mean = [0, 0, 0]\n", "(computed from the data)"),
    ("[train\nsteps = 1\n", "not valid TOML"),
])
def test_a_bad_run_file_is_one_line_naming_the_file_and_key(tmp_path, synth, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    res = runner.invoke(app, ["train", "--config", str(path), "--data", str(synth), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and message in res.output and str(path) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_a_missing_run_file_is_named(tmp_path):
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "none.toml: no such file" in res.output


def test_integers_are_accepted_for_float_fields(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[train]\nlr = 1\n[data]\nrate = 100\n")
    cfg = read_run_config(path)
    assert cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float) and cfg["data"]["rate"] == 100.0
