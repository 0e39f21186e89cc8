"""One run configuration: defaults <- recipe <- run file <- command line, resolved by one function."""

import dataclasses
import inspect
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from flowfm_edge.models import ModelConfig
from flowfm_edge.recipe import RECIPE
from flowfm_edge.text.finetune import TextTrainConfig, resolve_text_config
from flowfm_edge.training import RunConfig, TrainConfig, resolve_run_config
from flowfm_edge.training.config import SECTIONS
from flowfm_edge.training.run_config import build_run_config, options_given, read_run_config


def test_each_layer_wins_over_the_one_below(tmp_path):
    assert ModelConfig().p_dgs == 0.5 and RECIPE["model"]["p_dgs"] == 0.0  # the default, and what the recipe changes
    assert resolve_run_config().model.p_dgs == 0.0
    path = tmp_path / "run.toml"
    path.write_text("[model]\np_dgs = 0.25\ndepth = 1\n[train]\nsteps = 40\n")
    from_file = resolve_run_config(run_file=path)
    assert (from_file.model.p_dgs, from_file.model.depth, from_file.train.steps) == (0.25, 1, 40)
    both = resolve_run_config({"p_dgs": 0.75, "seed": 3}, run_file=path)
    assert (both.model.p_dgs, both.model.depth, both.train.steps, both.train.seed) == (0.75, 1, 40, 3)
    assert resolve_run_config({"p_dgs": 0.75}, recipe={}).model.p_dgs == 0.75
    assert resolve_run_config(recipe={}).model.p_dgs == 0.5


def test_the_preset_fills_what_no_layer_sets():
    run = resolve_run_config({"preset": "tiny", "depth": 1})
    assert (run.model.dim, run.model.depth, run.model.heads, run.model.r_dim) == (192, 1, 3, 192)
    assert resolve_run_config({"preset": "tiny", "r_dim": 0}).model.r_dim == 192  # 0: the preset's width
    assert resolve_run_config({"objective": "mtl"}).model.r_dim == 1024


def test_options_not_given_and_other_names_are_left_out():
    params = {"out": "runs/x", "resume": False, "steps": 10, "lr": None, "view_shift": 3, "source": "synthetic"}
    assert options_given(params) == {"steps": 10, "view_shift": 3, "source": "synthetic"}
    run = resolve_run_config(options_given(params))
    assert (run.train.steps, run.train.lr, run.model.view_shift, run.data.source) == (10, 1e-3, 3, "synthetic")
    with pytest.raises(ValueError, match=r"unknown run configuration field\(s\) \['stepz'\]"):
        resolve_run_config({"stepz": 10})


def test_warmup_is_cut_to_the_steps():
    assert resolve_run_config({"steps": 7}).train.warmup == 7
    assert resolve_run_config({"steps": 700}).train.warmup == 100
    assert TrainConfig(steps=7).warmup == 100  # the typed config itself keeps what it is given


def test_a_run_saves_tables_that_resolve_to_the_same_run(tmp_path):
    from flowfm_edge.training.checkpoint import write_run_config

    run = resolve_run_config({"source": "synthetic", "rate": 50, "preset": "tiny", "view_shift": 30, "lr": 2e-3})
    path = write_run_config(tmp_path / "run.toml", run.tables())
    again = resolve_run_config(run_file=path)
    assert again == run and build_run_config(read_run_config(path)) == run
    assert set(run.tables()) == set(SECTIONS) and "norm_mean" not in run.tables()["model"]


def test_a_run_file_that_is_not_text_or_not_a_file_is_named(tmp_path):
    binary = tmp_path / "bin.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match=f"{binary}: not valid TOML"):
        resolve_run_config(run_file=binary)
    with pytest.raises(ValueError, match=f"--config {tmp_path}: a directory; pass a run file"):
        resolve_run_config(run_file=tmp_path)
    with pytest.raises(ValueError, match=r"unknown objective \[1\]"):
        resolve_run_config({"objective": [1]})
    with pytest.raises(ValueError, match="unknown preset {}"):
        resolve_run_config({"preset": {}})


def test_the_train_command_keeps_no_defaults_of_its_own():
    from flowfm_edge.cli.train import train

    options = {name: p.default for name, p in inspect.signature(train).parameters.items()
               if name in {k for keys in SECTIONS.values() for k in keys}}
    assert len(options) == 25  # every option a run file can also set is named as its typed config names it
    assert all(info.default is None for info in options.values()), options


def test_text_training_builds_on_train_config():
    cfg = TextTrainConfig()
    assert isinstance(cfg, TrainConfig)
    changed = {f.name for f in dataclasses.fields(TrainConfig) if getattr(cfg, f.name) != getattr(TrainConfig(), f.name)}
    assert changed == {"steps", "lr", "warmup", "ema_decay", "decay", "amp", "attention", "ckpt_every"}
    assert cfg.ckpt_every == cfg.steps == 300 and TextTrainConfig(steps=40).ckpt_every == 40  # one checkpoint, at the end
    resolved = resolve_text_config({"steps": 12, "lr": None, "run": "base", "data": "hapt", "r_mode": "dgs"})
    assert (resolved.steps, resolved.warmup, resolved.lr, resolved.r_mode) == (12, 12, 5e-4, "dgs")
    with pytest.raises(ValueError, match=r"p_text_drop\s+Input should be less than 1"):
        resolve_text_config({"p_text_drop": 1.0})


# ---- hostile options: every value either resolves to what was asked or is refused in one line --------------

VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.text(max_size=8), st.sampled_from([0, 1, 2, 0.5, 0.999, "nano", "tiny", "flow", "off", "l2"]),
                   st.lists(st.floats(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
FIELDS = sorted({k for keys in SECTIONS.values() for k in keys})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=5))
def test_fuzz_options(options):
    try:
        run = resolve_run_config(options)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        assert "\n" not in _message(exc) and _message(exc)
        return
    assert isinstance(run, RunConfig)
    for key, value in options.items():
        if key == "r_dim" and value == 0:
            continue  # the preset's width
        config = getattr(run, next(s for s, keys in SECTIONS.items() if key in keys))
        expected = TypeAdapter(typing.get_type_hints(type(config), include_extras=True)[key]).validate_python(value)
        if key == "warmup" and expected > run.train.steps:
            continue  # cut to the steps
        assert getattr(config, key) == expected, (key, value, getattr(config, key))  # nothing lost or moved


def _message(exc: Exception) -> str:
    from flowfm_edge.validation import one_line

    return one_line(exc) if hasattr(exc, "errors") else str(exc)
