"""Evaluation: embeddings, probes, downstream protocols, metrics and generation quality, and a run's reports.

The measures (:mod:`.probe`, :mod:`.downstream`, :mod:`.quality`, :mod:`.frechet`, :mod:`.transfer`, ...)
take windows and models; the reports of a run directory, which load the run and the data and write
their files next to the run, are :func:`~.probe_run.run_probe`, :func:`~.embed.embed_run`,
:func:`~.downstream.evaluate_run`, :func:`~.quality.quality_run`, :func:`~.transfer.run_transfer` and
:func:`~.transfer.run_rotations`, and :func:`~.generate.generate_windows` samples a run. It loads runs
through :mod:`flowfm_edge.training`, below it.

Importing this package is cheap and needs no torch; each name below loads its module, and torch or
scikit-learn with it, on first use.
"""

# public name -> the module that defines it
_EXPORTS = {
    "evaluate_downstream": "downstream", "embed_windows": "embed",
    "FeatureNet": "feature_net", "load_feature_net": "feature_net", "save_feature_net": "feature_net",
    "train_feature_net": "feature_net", "PROTOCOLS": "finetune", "FitConfig": "finetune", "fit": "finetune",
    "classification_metrics": "metrics", "representation_table": "baselines", "har_features": "har_features",
    "ProbeResult": "probe", "linear_probe": "probe", "probe_folds": "probe", "probe_head": "probe",
    "probe_table": "probe", "frechet_distance": "frechet", "marginal_stats": "quality", "psd_distance": "quality",
    "quality_metrics": "quality", "quality_sweep": "quality", "subject_folds": "splits",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
