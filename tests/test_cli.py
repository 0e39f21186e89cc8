import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import make_synthetic, save_npz

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synth.npz"
    save_npz(path, make_synthetic(n_subjects=6, windows_per_activity=3, seed=1))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, synth):
    out = tmp_path_factory.mktemp("runs") / "nano"
    # p_dgs > 0: the run learns the r = 0 velocity that guidance needs (the recipe's default is 0)
    res = invoke("train", "--data", synth, "--preset", "nano", "--steps", 20, "--batch-size", 16, "--p-dgs", 0.5,
                 "--out", out)
    assert res.exit_code == 0, res.output
    return out


def test_default_recipe_run_refuses_guidance(synth, tmp_path):
    out = tmp_path / "p0"
    res = invoke("train", "--data", synth, "--preset", "nano", "--steps", 3, "--batch-size", 16, "--out", out)
    assert res.exit_code == 0, res.output
    assert "train 3/3 (100%)" in res.output  # no terminal: a plain progress line instead of the bar
    assert json.loads((out / "checkpoint" / "config.json").read_text())["model"]["p_dgs"] == 0.0
    res = runner.invoke(app, ["generate", str(out), "--n", 2, "--steps", 2, "--guidance", "2", "--out", str(tmp_path / "g.npz")])
    assert res.exit_code == 1 and "p_dgs = 0" in res.output and "Traceback" not in res.output
    res = invoke("generate", out, "--n", 2, "--steps", 2, "--out", tmp_path / "u.npz")
    assert res.exit_code == 0 and "prior" in res.output


def test_train_writes_run(run):
    assert (run / "checkpoint" / "ema.safetensors").is_file()
    assert (run / "metrics.csv").read_text().startswith("step,loss")
    cfg = json.loads((run / "checkpoint" / "config.json").read_text())
    assert cfg["model"]["preset"] == "nano" and cfg["train"]["steps"] == 20


def test_generate_unconditional_and_reconstruction_with_plot(run, synth, tmp_path):
    res = invoke("generate", run, "--n", 4, "--steps", 4, "--solver", "heun", "--out", tmp_path / "s.npz",
                 "--plot", tmp_path / "s.png")
    assert res.exit_code == 0, res.output
    X = np.load(tmp_path / "s.npz")["X"]
    assert X.shape == (4, 3, 300) and np.isfinite(X).all()
    assert (tmp_path / "s.png").stat().st_size > 10_000
    res = invoke("generate", run, "--n", 3, "--like", synth, "--guidance", 2.0, "--out", tmp_path / "r.npz")
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "r.npz")["X"].shape == (3, 3, 300)


def test_generate_draws_r_from_the_prior_unless_r_zero(run, tmp_path):
    import torch

    from flowfm_edge.training import load_model

    res = invoke("generate", run, "--n", 3, "--steps", 2, "--out", tmp_path / "p.npz")
    assert res.exit_code == 0, res.output
    assert "r drawn from the run's prior" in res.output and "--r-zero" in res.output
    res = invoke("generate", run, "--n", 3, "--steps", 2, "--r-zero", "--out", tmp_path / "z.npz")
    assert res.exit_code == 0 and "prior" not in res.output
    prior_x, zero_x = np.load(tmp_path / "p.npz")["X"], np.load(tmp_path / "z.npz")["X"]
    # same seed, same noise: the r = 0 mode is exactly what sample(r = 0) gives, the prior mode differs
    model, _ = load_model(run)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(3, 3, 300, generator=gen)
    np.testing.assert_allclose(zero_x, model.sample(torch.zeros(3, 64), steps=2, noise=noise).numpy(), atol=1e-5)
    r = model.unconditional_r(3, generator=gen)
    np.testing.assert_allclose(prior_x, model.sample(r, steps=2, noise=noise).numpy(), atol=1e-5)
    assert not np.allclose(prior_x, zero_x)
    res = invoke("generate", run, "--n", 2, "--steps", 2, "--guidance", 2.0, "--out", tmp_path / "g.npz")
    assert res.exit_code == 0 and np.isfinite(np.load(tmp_path / "g.npz")["X"]).all()


def test_embed_and_probe_save_a_classifier(run, synth, tmp_path):
    res = invoke("embed", run, "--data", synth, "--out", tmp_path / "e.npz")
    assert res.exit_code == 0, res.output
    e = np.load(tmp_path / "e.npz")
    assert e["r"].shape[1] == 64 and len(e["r"]) == len(e["y"]) == len(e["pid"])
    res = invoke("probe", run, "--data", synth)
    assert res.exit_code == 0, res.output
    probe = json.loads((run / "probe.json").read_text())
    names = [r["features"] for r in probe["summary"]]
    assert names == ["FlowFM r", "untrained encoder", "hand-crafted", "raw windows"]
    assert all(0.0 <= r["f1_mean"] <= 1.0 and 0.0 <= r["f1_pooled"] <= 1.0 for r in probe["summary"])
    assert probe["protocol"]["split"]["kind"] == "loso" and len(probe["results"]["FlowFM r"]["folds"]) == 6
    assert (run / "probe.png").is_file() and "hand-crafted" in res.output and "untrained encoder" in res.output
    card = (run / "checkpoint" / "README.md").read_text()  # the model card now carries the probe table
    f1 = probe["summary"][0]["f1_mean"]
    assert f"| FlowFM r | 64 | {f1:.3f} +- " in card and "| raw windows | 900 |" in card and "Not probed yet" not in card
    res = invoke("probe", run, "--data", synth, "--baselines", "typo")
    assert res.exit_code == 1 and "unknown --baselines ['typo']" in res.output
    from flowfm_edge.training import load_classifier
    import torch

    clf, classes = load_classifier(run)
    ws = make_synthetic(n_subjects=6, windows_per_activity=3, seed=1)
    logits = clf(torch.from_numpy(ws.X[:5]))
    assert logits.shape == (5, len(classes))


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nowhere.npz", "--out", "x"], "nowhere.npz"),
    (["train", "--data", "mystery", "--out", "x"], "mystery"),
    (["generate", "no-such-run"], "no checkpoint found"),
    (["train", "--data", "synthetic", "--out", "x", "--preset", "huge"], "unknown preset"),
    (["train", "--data", "synthetic", "--out", "x", "--objective", "gan"], "unknown objective"),
])
def test_errors_are_one_line_and_exit_1(args, message):
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output


def test_bad_solver(run, tmp_path):
    res = runner.invoke(app, ["generate", str(run), "--solver", "ode45", "--out", str(tmp_path / "s.npz")])
    assert res.exit_code == 1 and "unknown solver 'ode45'" in res.output


def test_doctor_lists_versions():
    res = invoke("doctor")
    assert res.exit_code == 0 and "torch" in res.output and "extra [onnx]" in res.output


@pytest.mark.slow
def test_quickstart_on_synthetic(tmp_path):
    res = invoke("quickstart", "--out", tmp_path / "qs", "--data", "synthetic", "--preset", "nano", "--steps", 30)
    assert res.exit_code == 0, res.output
    for name in ("embeddings.png", "loss.png", "samples.png", "probe.json"):
        assert (tmp_path / "qs" / name).is_file()


@pytest.mark.parametrize("command, shown", [
    ("train", ["[data]", "[model]", "[train]", "[track]"]),
    ("export", ["[litert]"]),
    ("sign", ["[signing]"]),
    ("train-text", ["[data]"]),
])
def test_help_keeps_the_square_brackets_of_extras_and_tables(command, shown, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option, so no name is split by wrapping
    out = runner.invoke(app, [command, "--help"]).output
    for text in shown:
        assert text in out, f"{command} --help lost {text!r} (rich markup reads unescaped brackets as tags)"


def test_train_compile_option_compiles_and_is_recorded(synth, tmp_path, monkeypatch):
    import torch

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module: compiled.append(module) or module)  # no inductor build here
    out = tmp_path / "c"
    res = invoke("train", "--data", synth, "--preset", "nano", "--steps", 2, "--batch-size", 16, "--compile", "--out", out)
    assert res.exit_code == 0, res.output
    assert len(compiled) == 1 and "compile = true" in (out / "run.toml").read_text()
    res = invoke("train", "--data", synth, "--preset", "nano", "--steps", 2, "--batch-size", 16, "--out", tmp_path / "e")
    assert res.exit_code == 0 and len(compiled) == 1 and "compile = false" in (tmp_path / "e" / "run.toml").read_text()


def test_training_commands_exist_and_training_modules_match_the_train_extra():
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from flowfm_edge.cli.main import TRAINING_COMMANDS, commands
    from flowfm_edge.doctor import TRAINING_MODULES

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    assert TRAINING_COMMANDS <= {name for name, _ in commands(app)}
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    dists = {canonicalize_name(Requirement(r).name) for r in pyproject["project"]["optional-dependencies"]["train"]}
    owners = importlib.metadata.packages_distributions()  # import name -> distributions
    modules = {d: {m for m, ds in owners.items() if d in map(canonicalize_name, ds)} for d in dists}
    assert all(modules[d] & set(TRAINING_MODULES) for d in dists), modules  # every [train] package is checked
    assert set(TRAINING_MODULES) <= set().union(*modules.values())  # and nothing else


def test_a_training_module_reached_at_run_time_is_one_line_naming_the_install(capsys):
    import typer as typer_

    from flowfm_edge.cli.common import cli_errors

    @cli_errors
    def needs_scipy():
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    with pytest.raises(typer_.Exit) as exc:
        needs_scipy()
    assert exc.value.exit_code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: No module named 'scipy': scipy comes with the training install: pip install 'flowfm-edge[train]' "
        "(and torch first: pip install torch==2.13.0)"]
