import numpy as np
import pytest
import torch
from torch import nn

from flowfm_edge.evaluation.finetune import FitConfig, class_weights, fit, linear_probe_head, mlp_head, predict_logits


def test_class_weights_are_balanced():
    w = class_weights(np.array([0, 0, 0, 1, 2, 2]), 4)
    assert w.tolist() == pytest.approx([6 / 9, 2.0, 1.0, 0.0])  # n / (k count_c); absent class 0


def test_heads():
    head = mlp_head(8, 3)
    assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear] and head[0].in_features == head[0].out_features == 8
    F = torch.randn(50, 4) * 10 + 3
    probe = linear_probe_head(F, 2)
    z = probe[0](F)
    assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-4) and torch.allclose(z.std(0), torch.ones(4), atol=1e-4)


def test_fit_separates_and_early_stops_on_the_best_weights():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 2, generator=g)
    y = (X[:, 0] > 0).long()
    flip = torch.rand(200, generator=g) < 0.1  # label noise: the validation loss reaches a floor
    y[flip] = 1 - y[flip]
    torch.manual_seed(0)
    net = nn.Linear(2, 2)
    seen = []
    history = fit(net, X[:150], y[:150], X[150:], y[150:], FitConfig(lr=0.05, max_epochs=200, patience=3),
                  on_epoch=lambda e, h: seen.append(e))
    assert len(history["val_loss"]) < 200  # stopped early
    assert history["best_val_loss"] == pytest.approx(min(history["val_loss"]))
    assert len(history["val_loss"]) - 1 - history["best_epoch"] == 3  # patience epochs after the best
    loss = nn.CrossEntropyLoss(weight=class_weights(y[:150], 2))(predict_logits(net, X[150:]), y[150:]).item()
    assert loss == pytest.approx(history["best_val_loss"], rel=1e-5)  # best weights restored
    assert (predict_logits(net, X[150:]).argmax(1) == (X[150:, 0] > 0).long()).float().mean() > 0.9


def test_fit_refuses_empty_validation():
    with pytest.raises(ValueError, match="validation"):
        fit(nn.Linear(2, 2), torch.zeros(4, 2), torch.zeros(4), torch.zeros(0, 2), torch.zeros(0), FitConfig())
