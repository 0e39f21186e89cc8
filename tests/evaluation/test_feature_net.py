import pytest
import torch

from flowfm_edge.evaluation.feature_net import FeatureNet, load_feature_net, save_feature_net, train_feature_net


def test_trains_saves_and_loads(activity_windows, tmp_path):
    net = train_feature_net(activity_windows, epochs=4, seed=0)
    assert net.cfg.info["val_macro_f1_pooled"] > 0.6  # three well separated classes
    assert net.cfg.classes == ["still", "walk", "run"]
    weights, meta = save_feature_net(net, tmp_path / "feat.pt")
    assert weights.name == "feat.safetensors" and meta.name == "feat.json"
    loaded = load_feature_net(tmp_path / "feat")
    x = torch.from_numpy(activity_windows.X[:5])
    with torch.no_grad():
        assert torch.allclose(loaded.features(x), net.features(x), atol=1e-6)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-feature-net"):
        load_feature_net(tmp_path / "nope")


def test_needs_labels(activity_windows):
    from flowfm_edge.data.contract import WindowSet

    unlabelled = WindowSet(activity_windows.X, None, activity_windows.pid)
    with pytest.raises(ValueError, match="labelled"):
        train_feature_net(unlabelled)
    assert FeatureNet(4).features(torch.zeros(1, 3, 300)).shape == (1, 64)
