"""An .npz of labelled windows for the bench tests (the nano diffusion bundle is in tests/conftest.py)."""

import pytest


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
