import numpy as np
import pytest
import torch
from torch import nn

from flowfm_edge.data.contract import WindowSet
from flowfm_edge.evaluation.downstream import evaluate_downstream
from flowfm_edge.evaluation.finetune import FitConfig
from flowfm_edge.models import FlowFM, ModelConfig


class BandEnergy(nn.Module):
    """A stand-in encoder: log energy of x in three frequency bands, which tells the test activities apart."""

    def __init__(self):
        super().__init__()
        self.cfg = ModelConfig.from_preset("nano")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(x[:, 0] - x[:, 0].mean(-1, keepdim=True)).abs() ** 2  # (B, 151)
        bands = [spec[:, 1:23].sum(-1), spec[:, 23:40].sum(-1), spec[:, 40:].sum(-1)]
        return torch.log(torch.stack(bands, 1) + 1e-3)  # (B, 3)


def test_linear_probe_on_separating_features_is_perfect(activity_windows):
    res = evaluate_downstream(BandEnergy(), activity_windows, "linear-probe")
    assert res["split"]["kind"] == "loso" and res["split"]["n_folds"] == 5
    assert res["pooled"]["macro_f1"] == 1.0 and res["pooled"]["kappa"] == 1.0
    assert res["per_subject"]["macro_f1"]["mean"] == 1.0 and res["per_subject"]["macro_f1"]["n"] == 5
    assert np.array_equal(np.array(res["confusion"]["matrix"]), np.diag([30, 30, 30]))
    assert res["model"]["feature_dim"] == 3 and res["fit"]["converged"] and "LogisticRegression" in res["fit"]["estimator"]
    assert all(f["C"] in res["fit"]["C_grid"] for f in res["folds"])
    tested = sorted(s for f in res["folds"] for s in f["test_subjects"])
    assert tested == [str(s) for s in range(100, 105)]


@pytest.mark.parametrize("protocol", ["fine-tune", "scratch"])
def test_trained_protocols_leave_the_model_untouched(protocol, activity_windows):
    torch.manual_seed(0)
    model = FlowFM(ModelConfig.from_preset("nano"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = evaluate_downstream(model, activity_windows, protocol, cfg=FitConfig(max_epochs=1, batch_size=32))
    assert res["protocol"] == protocol and len(res["folds"]) == 5
    assert res["fit"]["lr"] == {"fine-tune": 1e-4, "scratch": 1e-3}[protocol]
    assert 0.0 <= res["pooled"]["macro_f1"] <= 1.0 and all(f["epochs"] == 1 for f in res["folds"])
    # one allowed epoch: every fold stops at the cap, and the result says it did not converge
    assert all(f["hit_cap"] for f in res["folds"]) and res["fit"]["capped_folds"] == 5 and not res["fit"]["converged"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_errors_name_the_problem(activity_windows):
    with pytest.raises(ValueError, match="linear-probe, fine-tune, scratch"):
        evaluate_downstream(BandEnergy(), activity_windows, "knn")
    unlabelled = WindowSet(activity_windows.X, None, activity_windows.pid, source="u.npz")
    with pytest.raises(ValueError, match="u.npz: no labels"):
        evaluate_downstream(BandEnergy(), unlabelled)
