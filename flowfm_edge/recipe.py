"""The default training recipe of ``train``, ``quickstart`` and the benchmark scripts, in one place.

Chosen by ``benchmarks/ablate_representation.py`` (the table is in benchmarks/README.md):
every field here is what the ablations measured best, or the earlier value where they could
not tell. ``ModelConfig``'s own defaults stay the values older runs were trained with, so
their saved configs load unchanged.
"""

from __future__ import annotations

MODEL_FIELDS = ("p_dgs", "time_sampling", "r_dim", "r_norm", "view_mask", "view_rotate_deg", "view_scale",
                "view_shift", "augment_rotate_deg", "encoder_input")
TRAIN_FIELDS = ("lr", "weight_decay", "decay")

RECIPE = {"lr": 1e-3, "weight_decay": 0.05, "decay": "matrices", "p_dgs": 0.0, "time_sampling": "uniform",
          "r_dim": 0, "r_norm": "none", "view_mask": 0.0, "view_rotate_deg": 0.0, "view_scale": 0.0, "view_shift": 0,
          "augment_rotate_deg": 0.0, "encoder_input": "xyz"}
QUICKSTART_STEPS = 400


def model_overrides(**changes) -> dict:
    """ModelConfig keyword arguments of the recipe (``r_dim`` 0 means the preset's width), updated by ``changes``."""
    kw = {k: RECIPE[k] for k in MODEL_FIELDS} | changes
    if not kw.get("r_dim"):
        kw.pop("r_dim", None)
    return kw


def train_overrides(**changes) -> dict:
    """TrainConfig keyword arguments of the recipe, updated by ``changes``."""
    return {k: RECIPE[k] for k in TRAIN_FIELDS} | changes
