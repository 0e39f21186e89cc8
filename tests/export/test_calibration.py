"""Calibration windows by class and subject; generator tuples along sampler trajectories."""

import numpy as np
import pytest
import torch

from flowfm_edge.calibration import ArrayReader, calibration_split, stratified_indices
from flowfm_edge.data.hashing import array_hash
from flowfm_edge.calibration.trajectories import generator_conditions, noise_like, trajectory_tuples
from flowfm_edge.export.graphs import evaluation_times
from flowfm_edge.models import FlowFM, ModelConfig
from flowfm_edge.solvers import nfe


def test_stratified_covers_every_class_and_subject(activity):
    idx = stratified_indices(activity.y, activity.pid, 18, seed=0)
    assert len(idx) == 18 and len(np.unique(idx)) == 18
    cells = {(activity.y[i], activity.pid[i]) for i in idx}
    assert len(cells) == 18  # 3 classes x 6 subjects, one window each before any cell gets two


def test_stratified_without_labels_and_small_sets():
    pid = np.array([0, 0, 0, 1])
    idx = stratified_indices(None, pid, 2, seed=0)
    assert set(pid[idx]) == {0, 1}
    assert len(stratified_indices(None, pid, 100)) == 4


def test_calibration_split_is_disjoint(activity):
    calib, val = calibration_split(activity, 30, 40, seed=0)
    assert len(calib) == 30 and len(val) == 40 and not set(calib) & set(val)


def test_reader_batches_and_hash():
    def sizes(reader):
        out = []
        while (feed := reader.get_next()) is not None:
            out.append(len(feed["x"]))
        return out

    reader = ArrayReader({"x": np.zeros((6, 3), np.float32), "t": np.arange(6, dtype=np.float32)}, batch_size=4)
    assert sizes(reader) == [3, 3]  # equal batches, as the histogram calibrators need
    reader.rewind()
    assert reader.get_next()["t"].tolist() == [0, 1, 2]
    assert sizes(ArrayReader({"x": np.zeros((7, 3))}, batch_size=4)) == [1] * 7
    d = reader.describe()
    assert d["size"] == 6 and len(d["hash"]) == 64
    assert array_hash(np.ones(3)) != array_hash(np.zeros(3))
    with pytest.raises(ValueError, match="differ in length"):
        ArrayReader({"a": np.zeros(2), "b": np.zeros(3)})


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_trajectory_tuples_visit_every_evaluation(solver):
    torch.manual_seed(0)
    model = FlowFM(ModelConfig.from_preset("nano")).eval()
    r = generator_conditions(model, noise_like(3, model, 0), seed=0, p_uncond=0.5)
    tuples = trajectory_tuples(model, r, noise_like(3, model, 1), solver, steps=4)
    n = 3 * nfe(solver, 4)
    assert tuples["z_t"].shape == (n, 3, 300) and tuples["t"].shape == (n,) and tuples["r"].shape == (n, 64)
    times = np.unique(tuples["t"])
    np.testing.assert_allclose(times, np.unique(evaluation_times(solver, 4).numpy()))
    assert times.min() == 0.0 and times.max() < 1.0 + 1e-6
