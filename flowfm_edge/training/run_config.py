"""One run configuration, resolved in one place: defaults <- recipe <- run file <- command line.

:func:`resolve_run_config` starts from the typed configs' defaults (:mod:`.config`,
``ModelConfig``), applies the recipe (:data:`flowfm_edge.recipe.RECIPE`: what the ablations
changed), then a run file (``train --config run.toml``), then the options given on the command
line, and returns a :class:`~.config.RunConfig`. The run saves its tables as ``RUN/run.toml``
(:func:`~.checkpoint.write_run_config`), which ``--config`` takes back to train the same run again.

A run file has up to three tables; every key is optional and names a field of the typed config
it maps onto, so a file can set what the command line does not expose (``dim``, ``ema_decay``,
``grad_clip``, ...). Values are checked by those configs when the file is read (types and ranges:
a batch of 0, an EMA of 2 or an infinite learning rate name the file and the key)::

    [data]
    source = "hapt"          # what --data takes
    rate = 100.0             # native rate of an SSL-Wearables directory

    [model]                  # flowfm_edge.models.ModelConfig, plus the preset
    preset = "tiny"
    p_dgs = 0.0

    [train]                  # flowfm_edge.training.TrainConfig
    steps = 10000
    lr = 1e-3

Options given on the command line win over the file; the file wins over the defaults.

>>> run = resolve_run_config({"source": "synthetic", "steps": 10})
>>> run.train.steps, run.train.warmup, run.model.p_dgs
(10, 10, 0.0)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from ..models import OBJECTIVES, ModelConfig
from ..recipe import RECIPE
from .config import COMPUTED, SECTIONS, DataConfig, RunConfig, TrainConfig, cut_warmup

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SECTION_OF = {key: section for section, keys in SECTIONS.items() for key in keys}  # field -> its section
PRESET_WIDTH = ("r_dim",)  # 0 on the command line: the preset's width


def resolve_run_config(options: Mapping[str, Any] | None = None, run_file: str | Path | None = None,
                       recipe: Mapping[str, Mapping] = RECIPE) -> RunConfig:
    """The run configuration: the defaults, then ``recipe``, then ``run_file``, then ``options``.

    ``options`` are fields by name, whatever their section (``{"steps": 10, "p_dgs": 0.5}``);
    None means not given. A run file is checked on its own first, so its errors name the file
    and the key. The warm-up is cut to the number of steps.
    """
    layers = [recipe, read_run_config(run_file) if run_file is not None else {}, sections(options or {})]
    tables = {section: {} for section in SECTIONS}
    for layer in layers:
        for section, values in layer.items():
            tables[section].update(values)
    return build_run_config(tables)


def sections(options: Mapping[str, Any]) -> dict[str, dict]:
    """Options by field name -> a run file's tables; None values are not given."""
    unknown = sorted(set(options) - set(SECTION_OF))
    if unknown:
        raise ValueError(f"unknown run configuration field(s) {unknown}; known: {', '.join(sorted(SECTION_OF))}")
    tables: dict[str, dict] = {section: {} for section in SECTIONS}
    for key, value in options.items():
        if value is not None and not (key in PRESET_WIDTH and value == 0):
            tables[SECTION_OF[key]][key] = value
    return tables


def options_given(params: Mapping[str, Any], config: type | None = None) -> dict[str, Any]:
    """The fields among a command's parameters that were given (not None): a run's, or those of ``config`` (a
    typed config class)."""
    names = SECTION_OF if config is None else {f.name for f in dataclasses.fields(config)}
    return {k: v for k, v in params.items() if k in names and v is not None}


def build_run_config(tables: Mapping[str, Mapping]) -> RunConfig:
    """The typed configs of a run file's tables (the preset fills the size fields the tables leave out)."""
    model = dict(tables.get("model", {}))
    preset = model.pop("preset", ModelConfig.preset)
    objective = model.get("objective", ModelConfig.objective)
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; available: {', '.join(OBJECTIVES)}")
    model_cfg = ModelConfig.from_preset(preset, **model)
    train = cut_warmup(TrainConfig(**tables.get("train", {})))
    return RunConfig(DataConfig(**tables.get("data", {})), model_cfg, train)


def _check_value(path: Path, section: str, key: str, value, kind: type):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ValueError(f"{path}: [{section}] {key} must be {kind.__name__}, got {value!r} ({type(value).__name__})")


def read_run_config(path: str | Path) -> dict[str, dict]:
    """The tables of a run file, each key checked against its config: {"data": {}, "model": {}, "train": {}}."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--config {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    except IsADirectoryError:
        raise ValueError(f"--config {path}: a directory; pass a run file (TOML), e.g. RUN/run.toml") from None
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {unknown}; a run file has [data], [model] and [train]")
    out: dict[str, dict] = {}
    for section, known in SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"{path}: '{section}' must be a table ([{section}]), got {table!r}")
        bad = sorted(set(table) - set(known))
        if bad:
            hint = " (computed from the data)" if set(bad) & set(COMPUTED) else ""
            raise ValueError(f"{path}: [{section}] has unknown key(s) {bad}{hint}; known: {', '.join(sorted(known))}")
        out[section] = {k: _check_value(path, section, k, v, known[k]) for k, v in table.items()}
    _check_ranges(path, out)
    return out


def _check_ranges(path: Path, tables: dict[str, dict]) -> None:
    """Build each typed config from the file's values alone, so a value out of range names the file and the key."""
    from pydantic import ValidationError

    from ..validation import one_line

    model = dict(tables["model"])
    preset = model.pop("preset", ModelConfig.preset)
    for section, build in (("train", lambda: TrainConfig(**tables["train"])),
                           ("model", lambda: ModelConfig.from_preset(preset, **model)),
                           ("data", lambda: DataConfig(**tables["data"]))):
        try:
            build()
        except ValidationError as exc:
            raise ValueError(f"{path}: [{section}] {one_line(exc)}") from None
        except ValueError as exc:  # an unknown preset, a cross-field check
            raise ValueError(f"{path}: [{section}] {exc}") from None
