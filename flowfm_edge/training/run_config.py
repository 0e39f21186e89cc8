"""Run configuration files: ``train --config run.toml`` and the resolved ``RUN/run.toml`` every run saves.

A file has up to three tables; every key is optional and names a field of the typed config it
maps onto, so a file can set what the command line does not expose (``dim``, ``ema_decay``,
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

Options given on the command line win over the file; the file wins over the defaults. The run
saves what it resolved to as ``RUN/run.toml`` (:func:`~.checkpoint.write_run_config`), which
``--config`` takes back to train the same run again.

>>> cfg = read_run_config("run.toml")  # doctest: +SKIP
>>> cfg["train"]["steps"]              # doctest: +SKIP
10000
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..models import ModelConfig
from .loop import TrainConfig

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

COMPUTED = ("norm_mean", "norm_std")  # from the data at the start of training, never from a file


def _fields(cls) -> dict[str, type]:
    return {f.name: type(f.default) if f.default is not dataclasses.MISSING else list for f in dataclasses.fields(cls)}


SECTIONS: dict[str, dict[str, type]] = {
    "data": {"source": str, "rate": float},
    "model": {k: t for k, t in _fields(ModelConfig).items() if k not in COMPUTED},
    "train": _fields(TrainConfig),
}


def _check_value(path: Path, section: str, key: str, value, kind: type):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is type(None) or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ValueError(f"{path}: [{section}] {key} must be {kind.__name__}, got {value!r} ({type(value).__name__})")


def read_run_config(path: str | Path) -> dict[str, dict]:
    """The tables of a run file, each key checked against its config: {"data": {}, "model": {}, "train": {}}."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
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
    """Build the typed configs from the file's values, so a value out of range names the file and the key."""
    from pydantic import ValidationError

    from ..validation import one_line

    model = dict(tables["model"])
    preset = model.pop("preset", "nano")
    for section, build in (("train", lambda: TrainConfig(**tables["train"])),
                           ("model", lambda: ModelConfig.from_preset(preset, **model))):
        try:
            build()
        except ValidationError as exc:
            raise ValueError(f"{path}: [{section}] {one_line(exc)}") from None
        except ValueError as exc:  # an unknown preset
            raise ValueError(f"{path}: [{section}] {exc}") from None
    rate = tables["data"].get("rate")
    if rate is not None and not 0 < rate < float("inf"):
        raise ValueError(f"{path}: [data] rate must be a positive number of samples per second, got {rate!r}")


def resolved_run_config(data: dict, model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict[str, dict]:
    """What a run trained with, as a run file's tables (None values and computed fields left out)."""
    model = {k: v for k, v in model_cfg.to_dict().items() if k not in COMPUTED}
    clean = lambda d: {k: v for k, v in d.items() if v is not None}  # noqa: E731  (TOML has no null)
    return {"data": clean(data), "model": clean(model), "train": clean(dataclasses.asdict(train_cfg))}
