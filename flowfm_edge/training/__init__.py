"""One training loop and the run directory it writes.

:func:`train` trains FlowFM, its diffusion twin and the MTL baseline, and (given a loss and a
parameter filter) fine-tunes text runs: one EMA, one metrics log, resumable bit-exactly
(:mod:`.batches`). :mod:`.precision` chooses autocast, the GradScaler for fp16 and the
attention kernel; :mod:`.optim` the parameter groups; :mod:`.checkpoint` reads and writes runs;
:mod:`.prior` fits a run's prior over r.
A run's configuration is typed (:mod:`.config`: ``RunConfig`` of data, model and train) and
resolved in one place (:mod:`.run_config`: defaults <- recipe <- run file <- command line);
:func:`train_run` (:mod:`.run`) trains a resolved configuration as ``train`` and ``quickstart`` do.
"""

# public name -> the module that defines it; loaded (with torch) on first use, so importing the package
# (and the ``train`` command beside it) works in the runtime install too
_EXPORTS = {"TrainConfig": "config", "RunConfig": "config", "resolve_run_config": "run_config", "train": "loop",
            "train_run": "run", "RunError": "checkpoint", "load_model": "checkpoint", "load_classifier": "checkpoint",
            "read_config": "checkpoint", "save_head": "checkpoint"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
