import re

import pytest

from flowfm_edge.data.contract import DataError
from flowfm_edge.data.readers import FORMATS, convert

NAMES = ["capture24", "pamap2", "wisdm", "realworld", "opportunity", "adl", "devices", "sensor-logger"]


def test_format_table():
    assert list(FORMATS) == NAMES
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.rate_hz > 0 and fmt.units and fmt.description and fmt.pattern
        assert "method" in fmt.options and "raw_dir" not in fmt.options and "hop_s" not in fmt.options


def test_unknown_format_lists_names(tmp_path):
    with pytest.raises(DataError, match="unknown raw data format 'hapt'.*" + ", ".join(NAMES)):
        convert("hapt", tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_missing_and_empty_directory(name, tmp_path):
    with pytest.raises(DataError, match=f"{name}: raw directory .*nope does not exist"):
        convert(name, tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(DataError, match=f"{name}: no files matching .*{re.escape(FORMATS[name].pattern)}"):
        convert(name, tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="unknown option.*positon.*position='forearm'"):
        convert("realworld", tmp_path, positon="chest")
    with pytest.raises(DataError, match="hop_s"):
        convert("adl", tmp_path, hop_s=0)
    with pytest.raises(DataError, match="label policy 'mostly'"):
        convert("adl", tmp_path, label_policy="mostly")
