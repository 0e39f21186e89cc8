"""Networks: encoder, velocity network, FlowFM, its baselines, and the classifier built from them.

Above :mod:`flowfm_edge.data` (the window contract) and the solvers; below training, evaluation and export,
which build, train and trace these modules.
"""

from .classifier import Classifier, LinearHead
from .config import PRESETS, ModelConfig
from .diffusion import DiffusionTwin
from .dit import VelocityNet
from .encoder import Encoder
from .flowfm import FlowFM
from .resnet import MTLResNet

# objective -> model class; every model takes a ModelConfig, returns its training loss from
# forward(x, generator) and has embed(x) -> r.
OBJECTIVES = {"flow": FlowFM, "diffusion": DiffusionTwin, "mtl": MTLResNet}


def build_model(cfg: ModelConfig):
    """The model for ``cfg.objective``."""
    if cfg.objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {cfg.objective!r}; available: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[cfg.objective](cfg)


__all__ = ["PRESETS", "OBJECTIVES", "ModelConfig", "Encoder", "VelocityNet", "FlowFM", "DiffusionTwin", "MTLResNet", "Classifier", "LinearHead",
           "build_model"]
