"""What the encoder reads (xyz, xyz+mag, xyz-mean, gravity-frame) and the rotation of both views: saved, reloaded, exported alike."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flowfm_edge.models import ModelConfig, build_model
from flowfm_edge.models.views import training_window
from flowfm_edge.training import TrainConfig, load_model, train

NORM = {"norm_mean": [0.1, -0.2, 0.9], "norm_std": [0.3, 0.4, 0.2]}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def model(**kw):
    torch.manual_seed(0)
    return build_model(ModelConfig.from_preset("nano", **NORM, **kw)).eval()


def test_magnitude_channel_is_the_raw_norm_less_one_g():
    m = model(encoder_input="xyz+mag")
    x = torch.randn(4, 3, 300) * 0.5 + torch.tensor([0.0, 0.0, 1.0])[:, None]
    z = m.normalize(x)
    inputs = m.encoder.inputs(z)  # (4, 4, 300)
    assert inputs.shape == (4, 4, 300) and torch.equal(inputs[:, :3], z)
    torch.testing.assert_close(inputs[:, 3], x.norm(dim=1) - 1.0, atol=1e-5, rtol=1e-5)
    assert m.encoder.patch.proj.in_channels == 4


def test_mean_removed_input_forgets_gravity_and_offsets():
    m = model(encoder_input="xyz-mean")
    x = torch.randn(2, 3, 300)
    r, r_shifted = m.embed(x), m.embed(x + torch.tensor([0.0, 0.0, 1.0])[:, None])  # 1 g more on z
    torch.testing.assert_close(r, r_shifted, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(model().embed(x), model().embed(x + torch.tensor([0.0, 0.0, 1.0])[:, None]), atol=1e-3)


def random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen(seed)))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    return q * torch.sign(torch.det(q))[:, None, None]  # proper rotations (det +1)


def test_gravity_frame_is_vertical_horizontal_and_total_in_the_windows_own_frame():
    from flowfm_edge.models.encoder import gravity_frame

    t = torch.linspace(0, 6.28, 300)
    x = torch.stack([0.3 * torch.sin(t), torch.zeros(300), 1.0 + 0.2 * torch.cos(3 * t)])[None]  # gravity on z
    v, h, total = gravity_frame(x)[0]
    torch.testing.assert_close(v, x[0, 2] - 1.0, atol=1e-3, rtol=0)  # the mean points (almost exactly) along z
    torch.testing.assert_close(h, x[0, 0].abs(), atol=2e-3, rtol=0)
    torch.testing.assert_close(total, x[0].norm(dim=0) - 1.0, atol=1e-5, rtol=0)


def test_gravity_frame_embedding_is_unchanged_by_any_rotation_of_the_device():
    m = model(encoder_input="gravity-frame")
    x = torch.randn(6, 3, 300) * 0.3 + torch.tensor([0.2, -0.3, 0.9])[:, None]
    rotated = random_rotations(6) @ x
    torch.testing.assert_close(m.embed(rotated), m.embed(x), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(model().embed(rotated), model().embed(x), atol=1e-2)  # the axes do change
    assert m.encoder.patch.proj.in_channels == 3
    still = torch.zeros(1, 3, 300)  # no mean to find gravity by: finite, not NaN
    assert torch.isfinite(m.embed(still)).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1e-4, 0.1, 1.0, 8.0]),
       offset=st.sampled_from([0.0, 1e-7, 1.0, 4.0]))
def test_gravity_frame_is_finite_and_rotation_free_for_any_window(seed, scale, offset):
    """Still windows, gravity-removed windows (mean about 0, as BasicMotions), strong motion: all finite, all invariant."""
    from flowfm_edge.models.encoder import gravity_frame

    g = gen(seed)
    x = torch.randn(3, 3, 300, generator=g) * scale + offset * torch.randn(3, 3, 1, generator=g)
    frame = gravity_frame(x)
    assert torch.isfinite(frame).all()
    rotated = gravity_frame(random_rotations(3, seed) @ x)
    torch.testing.assert_close(rotated[:, 2], frame[:, 2], atol=1e-5 * (1 + scale + offset), rtol=1e-4)  # |a| never depends on g
    # v and h follow the window's mean direction, which float error moves most when that mean is tiny
    tol = 1e-4 * (1 + scale + offset) * (1 + scale / max(offset, 1e-3))
    torch.testing.assert_close(rotated, frame, atol=tol, rtol=1e-3)


def test_unknown_input_and_negative_rotation_are_refused():
    with pytest.raises(ValueError, match=r"encoder_input\n.*'xyz', 'xyz\+mag', 'xyz-mean' or 'gravity-frame'"):
        ModelConfig.from_preset("nano", encoder_input="mag").validate()
    with pytest.raises(ValueError, match="augment_rotate_deg"):
        ModelConfig.from_preset("nano", augment_rotate_deg=-1.0).validate()


def test_rotating_both_views_rotates_the_window_the_loss_sees():
    cfg = ModelConfig.from_preset("nano", augment_rotate_deg=90.0)
    x = torch.randn(8, 3, 300)
    v = training_window(x, cfg, gen())
    torch.testing.assert_close(v.norm(dim=1), x.norm(dim=1), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(v, x)
    assert training_window(x, ModelConfig.from_preset("nano"), gen()) is x
    loss = lambda m: m(x, gen(1)).item()  # noqa: E731
    assert loss(model(augment_rotate_deg=90.0)) != loss(model())


def test_an_old_config_without_the_new_fields_loads_with_the_old_behaviour():
    d = ModelConfig.from_preset("nano").to_dict()
    for key in ("encoder_input", "augment_rotate_deg"):
        d.pop(key)
    cfg = ModelConfig.from_dict(d)
    assert cfg.encoder_input == "xyz" and cfg.augment_rotate_deg == 0.0 and cfg.encoder_channels == 3


def test_a_magnitude_run_reloads_and_exports_the_same_embedding(tmp_path, tiny_windows):
    from flowfm_edge.export.graphs import EncoderGraph

    run = tmp_path / "mag"
    trained = train(tiny_windows, run, ModelConfig.from_preset("nano", encoder_input="xyz+mag", augment_rotate_deg=180.0),
                    TrainConfig(steps=3, batch_size=8, warmup=1, amp="off"), progress=False)
    loaded, config = load_model(run)
    assert config["model"]["encoder_input"] == "xyz+mag" and config["model"]["augment_rotate_deg"] == 180.0
    x = torch.from_numpy(tiny_windows.X[:4])
    torch.testing.assert_close(loaded.encoder.mean, loaded.mean)  # |a| restored from the saved normalisation
    torch.testing.assert_close(EncoderGraph(loaded)(x), loaded.embed(x))
    torch.testing.assert_close(loaded.embed(x), trained.embed(x))  # train returns the EMA weights load_model reads


def test_a_gravity_frame_run_reloads_and_exports_the_same_embedding(tmp_path, tiny_windows):
    from flowfm_edge.export.graphs import EncoderGraph

    run = tmp_path / "gravity"
    trained = train(tiny_windows, run, ModelConfig.from_preset("nano", encoder_input="gravity-frame"),
                    TrainConfig(steps=3, batch_size=8, warmup=1, amp="off"), progress=False)
    loaded, config = load_model(run)
    assert config["model"]["encoder_input"] == "gravity-frame"
    x = torch.from_numpy(tiny_windows.X[:4])
    torch.testing.assert_close(EncoderGraph(loaded)(x), loaded.embed(x))
    torch.testing.assert_close(loaded.embed(x), trained.embed(x))
    torch.testing.assert_close(loaded.embed(random_rotations(4, 1) @ x), loaded.embed(x), atol=1e-4, rtol=1e-4)
