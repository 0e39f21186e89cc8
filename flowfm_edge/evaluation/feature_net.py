"""The frozen HAR feature network behind the Frechet distance (docs/design.md#generation-quality).

A small 1-D CNN trained with labels on real windows, never the model under test, so the
distance measures what an activity classifier sees. Stored as ``NAME.safetensors`` (weights)
with ``NAME.json`` (architecture, normalisation, classes, training data and its score).

>>> net = FeatureNet(n_classes=6)
>>> net.features(torch.zeros(2, 3, 300)).shape
torch.Size([2, 64])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..data.contract import WindowSet
from .finetune import FitConfig, fit, predict_logits
from .metrics import classification_metrics
from .splits import VAL_SEED, validation_split


@dataclass
class FeatureNetConfig:
    n_classes: int
    width: int = 32
    feat_dim: int = 64
    classes: list[str] = field(default_factory=list)
    norm_mean: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    norm_std: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    info: dict = field(default_factory=dict)  # training data, validation score


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 5, padding=2), nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(2))


class FeatureNet(nn.Module):
    """Raw windows (B, 3, 300) in g -> logits (B, classes); :meth:`features` gives (B, feat_dim)."""

    def __init__(self, n_classes: int, width: int = 32, feat_dim: int = 64, cfg: FeatureNetConfig | None = None):
        super().__init__()
        self.cfg = cfg or FeatureNetConfig(n_classes=n_classes, width=width, feat_dim=feat_dim)
        w = self.cfg.width
        self.register_buffer("mean", torch.tensor(self.cfg.norm_mean, dtype=torch.float32).view(1, -1, 1))
        self.register_buffer("std", torch.tensor(self.cfg.norm_std, dtype=torch.float32).view(1, -1, 1))
        self.body = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w),
                                  nn.Conv1d(4 * w, self.cfg.feat_dim, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(self.cfg.feat_dim, self.cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body((x - self.mean) / self.std)  # (B, feat_dim, 37)
        return h.mean(-1)  # global average pool: (B, feat_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_feature_net(ws: WindowSet, epochs: int = 30, seed: int = 0, batch_size: int = 64, lr: float = 1e-3,
                      device: str = "cpu", on_epoch=None) -> FeatureNet:
    """Train a :class:`FeatureNet` on labelled ``ws``; 12.5% of the subjects validate (early stopping, score)."""
    if ws.y is None:
        raise ValueError(f"{ws.source}: no labels (field 'y'); the feature network is trained on labelled windows")
    X = torch.from_numpy(np.ascontiguousarray(ws.X, dtype=np.float32))
    y = torch.from_numpy(np.asarray(ws.y)).long()
    train_idx, val_idx = validation_split(ws.pid, np.arange(len(ws)), seed=VAL_SEED)
    mean = ws.X[train_idx].mean(axis=(0, 2)).astype(float).tolist()
    std = (ws.X[train_idx].std(axis=(0, 2)) + 1e-6).astype(float).tolist()
    classes = ws.classes or [str(k) for k in range(ws.n_classes)]
    cfg = FeatureNetConfig(n_classes=ws.n_classes, classes=classes, norm_mean=mean, norm_std=std)
    torch.manual_seed(seed)
    net = FeatureNet(cfg.n_classes, cfg=cfg)
    fit_cfg = FitConfig(lr=lr, batch_size=batch_size, max_epochs=epochs, patience=5, seed=seed, device=device)
    history = fit(net, X[train_idx], y[train_idx], X[val_idx], y[val_idx], fit_cfg, cfg.n_classes, on_epoch)
    pred = predict_logits(net, X[val_idx], device=device).argmax(1).numpy()
    score = classification_metrics(ws.y[val_idx], pred, ws.pid[val_idx], cfg.n_classes)
    cfg.info = {"data": ws.source, "n_windows": len(ws), "epochs": len(history["val_loss"]),
                "val_subjects": sorted(str(s) for s in np.unique(ws.pid[val_idx])),
                "val_macro_f1_pooled": score["pooled"]["macro_f1"], "val_kappa_pooled": score["pooled"]["kappa"]}
    return net.cpu().eval()


def feature_net_paths(path: str | Path) -> tuple[Path, Path]:
    """``NAME.safetensors`` and ``NAME.json`` for a path given with any suffix (or none)."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".safetensors", ".json", ".pt") else path
    return base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")


def save_feature_net(net: FeatureNet, path: str | Path) -> tuple[Path, Path]:
    weights, meta = feature_net_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}, str(weights))
    meta.write_text(json.dumps({"kind": "har-feature-net", **asdict(net.cfg)}, indent=2))
    return weights, meta


def fit_feature_net(data: str, out: str | Path, epochs: int = 30, seed: int = 0, rate: float | None = None,
                    device: str = "cpu") -> tuple[FeatureNet, Path, Path]:
    """Train the feature network on the labelled windows of ``data`` and save it (``OUT.safetensors`` and
    ``OUT.json``); the network and the two paths."""
    from ..data import load_source

    ws = load_source(data, split="labelled", rate=rate)
    net = train_feature_net(ws, epochs=epochs, seed=seed, device=device)
    weights, meta = save_feature_net(net, out)
    return net, weights, meta


def load_feature_net(path: str | Path) -> FeatureNet:
    """The frozen feature network saved at ``path`` (NAME, NAME.safetensors or NAME.json), in eval mode."""
    weights, meta = feature_net_paths(path)
    for p in (weights, meta):
        if not p.is_file():
            raise FileNotFoundError(f"feature network {path}: {p} is missing; "
                                    "train one with `flowfm-edge train-feature-net --data hapt --out FEAT`")
    d = json.loads(meta.read_text())
    if d.pop("kind", None) != "har-feature-net":
        raise ValueError(f"{meta}: not a feature-network description (no kind 'har-feature-net')")
    cfg = FeatureNetConfig(**d)
    net = FeatureNet(cfg.n_classes, cfg=cfg)
    net.load_state_dict(load_file(str(weights)))
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()
