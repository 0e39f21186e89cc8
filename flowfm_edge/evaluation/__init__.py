"""Evaluation: embeddings, probes, downstream protocols, metrics and generation quality."""

from .downstream import evaluate_downstream
from .embed import embed_windows
from .feature_net import FeatureNet, load_feature_net, save_feature_net, train_feature_net
from .finetune import PROTOCOLS, FitConfig, fit
from .metrics import classification_metrics
from .baselines import representation_table
from .har_features import har_features
from .probe import ProbeResult, linear_probe, probe_folds, probe_head, probe_table
from .frechet import frechet_distance
from .quality import marginal_stats, psd_distance, quality_metrics, quality_sweep
from .splits import subject_folds

__all__ = ["embed_windows", "linear_probe", "probe_folds", "probe_table", "representation_table", "har_features",
           "probe_head", "ProbeResult", "evaluate_downstream",
           "FitConfig", "fit", "PROTOCOLS", "classification_metrics", "subject_folds", "FeatureNet",
           "train_feature_net", "save_feature_net", "load_feature_net", "frechet_distance", "psd_distance",
           "marginal_stats", "quality_metrics", "quality_sweep"]
