"""The target table drives option checks; bad options fail with messages that name the fix."""

import pytest

from flowfm_edge.bundle.targets import TARGETS, Target, exportable_targets, get_target, targets_help, targets_table


def test_table_rows():
    assert exportable_targets() == ["cpu", "jetson", "android"]
    assert set(TARGETS) == {"cpu", "jetson", "android"}
    cpu = TARGETS["cpu"]
    assert cpu.precisions == ("fp32", "int8", "int8-dynamic") and "onnxruntime" in cpu.backends
    assert "tensorrt" in TARGETS["jetson"].backends and "litert" in TARGETS["android"].backends
    for t in TARGETS.values():
        assert set(t.default_precisions) <= set(t.precisions)
        assert t.name in targets_help() and t.name in targets_table()


@pytest.mark.parametrize("kwargs, message", [
    (dict(precisions=["fp16"]), "--precision fp16 is not offered by target 'cpu'; choose from fp32, int8, int8-dynamic"),
    (dict(precisions=[]), "--precision (empty)"),
    (dict(solvers=["rk5"]), "--solver rk5: unknown solver; choose from euler"),
    (dict(steps=[0]), "--steps [0]"),
    (dict(calib_method="kl"), "--calib-method 'kl': choose from minmax, entropy, percentile"),
])
def test_bad_options(kwargs, message):
    args = dict(precisions=["fp32"], solvers=["euler"], steps=[4], calib_method="minmax") | kwargs
    with pytest.raises(ValueError) as err:
        get_target("cpu").check(**args)
    assert message in str(err.value)


def test_unknown_and_unexportable_targets():
    with pytest.raises(ValueError, match="unknown target 'phone'; choose from cpu, jetson, android"):
        get_target("phone")
    declared = Target("watch", "smartwatches", "tflite", ("fp32",), ("fp32",), ("litert",), exportable=False,
                      note="not implemented.")
    with pytest.raises(ValueError, match="target 'watch' is declared but cannot be exported yet: not implemented. "
                                         "Exportable targets: cpu, jetson, android"):
        declared.check(["fp32"], ["euler"], [4], "minmax")


def test_an_option_the_target_does_not_take_is_refused_naming_the_targets_that_do():
    from flowfm_edge.export.options import ExportOptions, check_options

    with pytest.raises(ValueError, match=r"--int8-io is not an option of target 'cpu'; targets that take it: android"):
        check_options(ExportOptions(target="cpu", int8_io=True), get_target("cpu"))
    with pytest.raises(ValueError, match=r"--batch-profile is not an option of target 'android'; .*: jetson"):
        check_options(ExportOptions(target="android", batch_profile=(1, 4, 8)), get_target("android"))
    with pytest.raises(ValueError, match=r"--fixed-batch .* target 'jetson'"):
        check_options(ExportOptions(target="jetson", fixed_batch=4), get_target("jetson"))
    check_options(ExportOptions(target="jetson", batch_profile=(1, 4, 8)), get_target("jetson"))  # its own option
    check_options(ExportOptions(target="android", int8_io=True, fixed_batch=4), get_target("android"))
    check_options(ExportOptions(target="cpu", steps=[4, 8], guidance=True), get_target("cpu"))  # every target's options
