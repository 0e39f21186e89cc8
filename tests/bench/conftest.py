"""A nano diffusion-twin bundle, a feature network and an .npz of labelled windows for the bench tests."""

from pathlib import Path

import pytest


def nano_diffusion_bundle(base: Path, ws, calib) -> Path:
    """Denoiser + fused DDIM x 2 and x 5 (FP32, INT8) of a nano twin trained 20 steps; cached under ``base``."""
    out = base / "nano-diffusion-bundle"
    if (out / "manifest.json").is_file():
        return out
    from flowfm_edge.export import ExportOptions, Limits, export_bundle
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, train

    run = base / "nano-diffusion-run"
    train(ws, run, ModelConfig.from_preset("nano", objective="diffusion"), TrainConfig(steps=20, batch_size=16, warmup=5),
          progress=False)
    opts = ExportOptions(precisions=["fp32", "int8"], steps=[2, 5], graphs=["encoder", "velocity", "sampler"],
                         calib=calib, calib_size=24, val_size=24,
                         # 20 training steps leave a poor noise predictor whose DDIM states are large; the
                         # gates are for trained models, these tests check the machinery
                         limits=Limits(max_rel_error=10.0, max_traj_error=10.0))
    export_bundle(run, out, opts)
    return out


@pytest.fixture(scope="session")
def diffusion_bundle(tmp_path_factory, activity_windows, activity):
    pytest.importorskip("onnxruntime")
    return nano_diffusion_bundle(tmp_path_factory.getbasetemp(), activity_windows, activity)


@pytest.fixture(scope="session")
def labelled_npz(tmp_path_factory, activity):
    from flowfm_edge.data import save_npz

    return save_npz(tmp_path_factory.getbasetemp() / "activity.npz", activity)


@pytest.fixture(scope="session")
def feature_net(tmp_path_factory):
    """An untrained feature network: Frechet distances are meaningless, the plumbing is not."""
    import torch

    from flowfm_edge.evaluation.feature_net import FeatureNet, save_feature_net

    torch.manual_seed(0)
    path = tmp_path_factory.getbasetemp() / "feature-net"
    save_feature_net(FeatureNet(n_classes=3).eval(), path)
    return path
