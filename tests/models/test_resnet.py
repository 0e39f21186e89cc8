"""The SSL-Wearables-style ResNet baseline: size, shapes, pretext transforms, loss."""

import numpy as np
import pytest
import torch

from flowfm_edge.models import OBJECTIVES, MTLResNet, ModelConfig
from flowfm_edge.models.resnet import BlurPool, arrow_of_time, permute_segments, time_warp


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MTLResNet(ModelConfig.from_preset("nano", objective="mtl"))


def test_encoder_size_matches_the_paper(model):
    n = sum(p.numel() for p in model.encoder.parameters())
    assert abs(n - 10.46e6) / 10.46e6 < 0.02, n
    assert n == 10_457_408  # the 5-stage, kernel-5 layout for 10 s windows


def test_embed_is_1024_d_and_config_says_so(model):
    assert OBJECTIVES["mtl"] is MTLResNet
    assert model.cfg.r_dim == 1024
    model.eval()
    with torch.no_grad():
        r = model.embed(torch.randn(2, 3, 300))
    assert r.shape == (2, 1024) and torch.isfinite(r).all()


def test_wrong_window_is_refused():
    with pytest.raises(ValueError, match="300"):
        MTLResNet(ModelConfig(objective="mtl", window=200, patch=10))


def test_loss_is_summed_bce_and_reproducible(model):
    model.train()
    x = torch.randn(4, 3, 300)
    loss = model(x, torch.Generator().manual_seed(0))
    assert 3 * 0.3 < loss.item() < 3 * 1.5  # three binary heads near chance at init: ~3 ln 2
    assert model(x, torch.Generator().manual_seed(0)).item() == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()
    assert all(h.weight.grad is not None for h in model.heads.values())


def test_augment_labels_follow_the_transforms(model):
    z = torch.randn(256, 3, 300)
    _, labels = model.augment(z, torch.Generator().manual_seed(0))
    assert labels.shape == (256, 3)
    assert set(labels.unique().tolist()) == {0.0, 1.0}
    assert np.allclose(labels.mean(0).numpy(), 0.5, atol=0.1)  # p = 0.5 each


def test_arrow_of_time():
    x = torch.arange(300.0).repeat(8, 3, 1)
    y, applied = arrow_of_time(x, p=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y[applied], x[applied].flip(-1)) and torch.equal(y[~applied], x[~applied])


def test_permutation_shuffles_four_segments():
    x = torch.arange(300.0).repeat(16, 3, 1)
    y, applied = permute_segments(x, p=1.0, generator=torch.Generator().manual_seed(0))
    assert applied.all()
    for row in y[:, 0]:
        assert torch.equal(row.sort().values, x[0, 0])  # same samples
        jumps = int((row.diff() != 1).sum())
        assert 1 <= jumps <= 3  # at most 3 seams between 4 segments, never the original order
    y0, none = permute_segments(x, p=0.0)
    assert not none.any() and torch.equal(y0, x)


def test_time_warp_is_a_monotone_resampling():
    ramp = torch.linspace(0, 1, 300).repeat(8, 3, 1)
    y, applied = time_warp(ramp, p=1.0, generator=torch.Generator().manual_seed(0))
    assert applied.all()
    assert torch.allclose(y[..., 0], ramp[..., 0]) and torch.allclose(y[..., -1], ramp[..., -1])
    assert (y.diff(dim=-1) >= 0).all() and (y - ramp).abs().max() > 0.01
    const = torch.full((2, 3, 300), 0.7)
    assert torch.allclose(time_warp(const, p=1.0)[0], const)


def test_blur_pool_is_a_unit_gain_low_pass():
    pool = BlurPool(2, factor=2, order=0)
    x = torch.randn(1, 2, 12)
    assert torch.allclose(pool(x), torch.nn.functional.avg_pool1d(x, 2))
    for factor, order in ((2, 2), (5, 1), (3, 1)):
        pool = BlurPool(1, factor, order)
        out = pool(torch.ones(1, 1, 30 * factor))
        assert out.shape[-1] == 30 and torch.allclose(out[..., 1:-1], torch.ones(1)), (factor, order)
        alt = torch.tensor([1.0, -1.0]).repeat(15 * factor)[None, None]  # Nyquist tone: removed by the filter
        assert pool(alt)[..., 2:-2].abs().max() < 0.5


def test_trains_through_the_loop(tmp_path, tiny_windows):
    from flowfm_edge.training import TrainConfig, load_model, train

    small = tiny_windows.subset(np.arange(8))
    train(small, tmp_path, ModelConfig.from_preset("nano", objective="mtl"),
          TrainConfig(steps=2, batch_size=4, warmup=1, log_every=1), device="cpu", progress=False)
    model, config = load_model(tmp_path)
    assert isinstance(model, MTLResNet) and config["model"]["r_dim"] == 1024
