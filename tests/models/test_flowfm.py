import pytest
import torch

from flowfm_edge.models import PRESETS, Classifier, FlowFM, LinearHead, ModelConfig, build_model


def nano(**kw):
    return FlowFM(ModelConfig.from_preset("nano", **kw))


def test_presets_in_one_table_and_param_counts():
    assert set(PRESETS) == {"nano", "tiny", "small"}
    cfg = ModelConfig.from_preset("tiny")
    assert (cfg.dim, cfg.depth, cfg.heads) == (192, 4, 3)
    m = FlowFM(cfg)
    n_enc = sum(p.numel() for p in m.encoder.parameters())
    n_vel = sum(p.numel() for p in m.velocity.parameters())
    assert 1.5e6 < n_enc < 2.5e6 and 2.5e6 < n_vel < 3.5e6
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        ModelConfig.from_preset("huge")


def test_shapes_and_adaln_zero_init():
    torch.manual_seed(0)
    m = nano()
    x = torch.randn(4, 3, 300)
    r = m.embed(x)
    assert r.shape == (4, 64)
    v = m.velocity(x, torch.rand(4), r)
    assert v.shape == (4, 3, 300)
    assert torch.count_nonzero(v) == 0  # adaLN-Zero and the zero final layer: the network starts at v = 0


def test_normalisation_lives_inside_the_model():
    cfg = ModelConfig.from_preset("nano", norm_mean=[0.0, 0.0, 1.0], norm_std=[0.5, 0.5, 0.25])
    torch.manual_seed(0)
    m = FlowFM(cfg)
    x = torch.randn(2, 3, 300) + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1)
    z = (x - torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1)) / torch.tensor([0.5, 0.5, 0.25]).view(1, 3, 1)
    torch.testing.assert_close(m.embed(x), m.encoder(z))
    torch.testing.assert_close(m.denormalize(m.normalize(x)), x)


def _grad_norms(m, p_dgs):
    m.cfg.p_dgs = p_dgs
    with torch.no_grad():  # move off the zero init so gradients reach the encoder through r
        for p in m.velocity.parameters():
            p.add_(0.02 * torch.randn_like(p))
    m.zero_grad()
    m(torch.randn(8, 3, 300), torch.Generator().manual_seed(0)).backward()
    enc = sum(p.grad.norm() ** 2 for p in m.encoder.parameters() if p.grad is not None) ** 0.5
    vel = sum(p.grad.norm() ** 2 for p in m.velocity.parameters() if p.grad is not None) ** 0.5
    return float(enc), float(vel)


def test_joint_loss_trains_both_networks_and_dgs_cuts_r():
    torch.manual_seed(0)
    enc, vel = _grad_norms(nano(), p_dgs=0.0)
    assert enc > 1e-6 and vel > 1e-6
    torch.manual_seed(0)
    enc_all_dropped, _ = _grad_norms(nano(), p_dgs=1.0)
    assert enc_all_dropped == 0.0  # every r replaced by zeros: no gradient path into the encoder


def test_dgs_default_and_configurable():
    assert ModelConfig().p_dgs == 0.5
    assert ModelConfig.from_preset("nano", p_dgs=0.25).p_dgs == 0.25
    with pytest.raises(ValueError, match="p_dgs"):
        FlowFM(ModelConfig.from_preset("nano", p_dgs=1.5))


def test_guidance_weights():
    torch.manual_seed(0)
    m = nano()
    for p in m.velocity.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    z, t, r = torch.randn(2, 3, 300), torch.tensor(0.3), torch.randn(2, 64)
    v_r = m.guided_velocity(r)(z, t)
    v_0 = m.guided_velocity(torch.zeros_like(r))(z, t)
    torch.testing.assert_close(m.guided_velocity(r, 1.0)(z, t), v_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m.guided_velocity(r, 0.0)(z, t), v_0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m.guided_velocity(r, 3.0)(z, t), v_0 + 3.0 * (v_r - v_0), rtol=1e-4, atol=1e-5)


def test_sample_is_seeded_and_in_g():
    m = nano(norm_mean=[0.0, 0.0, 1.0], norm_std=[0.3, 0.3, 0.3]).eval()
    r = torch.zeros(3, 64)
    a = m.sample(r, steps=4, generator=torch.Generator().manual_seed(1))
    b = m.sample(r, steps=4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    # an untrained model has v = 0, so the sample is the denormalised noise: z-channel centred on 1 g
    assert abs(float(a[:, 2].mean()) - 1.0) < 0.05


def test_config_round_trip_and_classifier():
    cfg = ModelConfig.from_preset("nano", p_dgs=0.3)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown field"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    m = build_model(cfg)
    clf = Classifier(m, LinearHead(64, 6))
    assert clf(torch.randn(5, 3, 300)).shape == (5, 6)
    with pytest.raises(ValueError, match="unknown objective"):
        build_model(ModelConfig.from_preset("nano", objective="gan"))
