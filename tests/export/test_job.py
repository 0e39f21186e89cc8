"""What an export is asked for (the command's options) and what each model family brings to it (its kit)."""

import pytest

from flowfm_edge.bundle.targets import TARGETS
from flowfm_edge.export.diffusion import TWIN
from flowfm_edge.export.exporter import MODEL_KITS
from flowfm_edge.export.flowfm import FLOWFM
from flowfm_edge.export.options import ExportOptions, command_options
from flowfm_edge.export.validation import Limits

PARAMS = {"run": "runs/x", "out": "bundle", "target": "cpu", "precision": None, "steps": "8", "solver": "euler",
          "graphs": None, "calib": None, "calib_method": "minmax", "calib_size": 128, "guidance": False,
          "max_f1_drop": 0.01, "max_traj_error": 0.1, "max_rel_error": 0.1, "batch_profile": None, "int8_io": False,
          "fixed_batch": 1, "threads": None, "seed": 0, "force": False}


def test_the_command_options_are_the_export_options():
    assert command_options(PARAMS) == ExportOptions(precisions=["fp32", "int8"])
    opts = command_options({**PARAMS, "target": "jetson", "steps": "4, 8,16", "solver": "euler,heun",
                            "graphs": "encoder,sampler", "batch_profile": "1,4,32", "max_rel_error": 0.2, "seed": 3})
    assert opts.precisions == list(TARGETS["jetson"].default_precisions) and opts.steps == [4, 8, 16]
    assert opts.solvers == ["euler", "heun"] and opts.graphs == ["encoder", "sampler"]
    assert opts.batch_profile == (1, 4, 32) and opts.limits == Limits(max_rel_error=0.2) and opts.seed == 3
    with pytest.raises(ValueError, match="unknown target 'tpu'; choose from cpu, jetson, android"):
        command_options({**PARAMS, "target": "tpu"})
    with pytest.raises(ValueError, match="--batch-profile '8,4,2': need 1 <= MIN <= OPT <= MAX"):
        command_options({**PARAMS, "batch_profile": "8,4,2"})


def test_each_objective_has_its_kit_and_the_twin_refuses_what_it_cannot_export():
    assert MODEL_KITS == {"flow": FLOWFM, "diffusion": TWIN}
    opts = ExportOptions(solvers=["euler", "rk4"], steps=[4, 8])
    assert FLOWFM.schedules(opts) == [("euler", 4), ("euler", 8), ("rk4", 4), ("rk4", 8)]
    assert TWIN.schedules(opts) == [("ddim", 4), ("ddim", 8)]
    TWIN.check(TARGETS["cpu"], opts)
    with pytest.raises(ValueError, match="the diffusion twin exports to the cpu target only"):
        TWIN.check(TARGETS["jetson"], opts)
    with pytest.raises(ValueError, match="fused DDIM samplers of the diffusion twin take no guidance weight"):
        TWIN.check(TARGETS["cpu"], ExportOptions(guidance=True))
