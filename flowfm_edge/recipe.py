"""The training recipe of ``train``, ``quickstart`` and the benchmark scripts: what it changes from the defaults.

Chosen by ``benchmarks.claims.ablate_representation`` (the table is in benchmarks/NOTES.md). Every
field the recipe leaves out keeps the default of ``ModelConfig`` or ``TrainConfig``, which the
ablations measured best or could not tell from the alternatives. The one change: the recipe
trains without Dynamic Guidance Switching (``p_dgs`` 0.0: the best probe), while a
``ModelConfig`` built directly keeps ``p_dgs`` 0.5 and learns the r = 0 velocity that guidance
needs. :func:`flowfm_edge.training.run_config.resolve_run_config` applies it over the defaults,
below a run file and the command line.
"""

from __future__ import annotations

# run file table -> {field: value}, as in a run file
RECIPE: dict[str, dict] = {"model": {"p_dgs": 0.0}}
# The quickstart's budget: the nano preset for 1,000 steps of batch 64 shows the encoder above its untrained twin
# by 0.053 per subject on HAPT (3 seeds, each beyond the spread) in a few minutes on 2 cores; the README says what
# the stated budget (tiny, 10,000 steps) reaches.
QUICKSTART_PRESET = "nano"
QUICKSTART_STEPS = 1000
