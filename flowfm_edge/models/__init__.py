"""Networks: encoder, velocity network, FlowFM, and the classifier built from them."""

from .classifier import Classifier, LinearHead
from .config import PRESETS, ModelConfig
from .dit import VelocityNet
from .encoder import Encoder
from .flowfm import FlowFM

__all__ = ["PRESETS", "ModelConfig", "Encoder", "VelocityNet", "FlowFM", "Classifier", "LinearHead"]
