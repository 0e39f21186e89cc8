"""embed-files under careless input: same-named recordings, outputs of other recordings or bundles, damaged
outputs, NaN samples, uppercase .ZIP."""

import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from flowfm_edge.data.contract import DataError
from flowfm_edge.runtimes.cohort import embed_files, output_name

pq = pytest.importorskip("pyarrow.parquet", reason="needs the [cohort] extra (pyarrow): pip install 'flowfm-edge[cohort]'")

G = 9.80665
T0 = 1_700_000_000_000_000_000


def csv_text(seconds, rate=100, nan_at=None, amp=3.0):
    t = np.arange(int(seconds * rate)) / rate
    y = amp * np.sin(2 * np.pi * 1.5 * t)
    if nan_at is not None:
        y[int(nan_at * rate)] = np.nan
    lines = ["time,seconds_elapsed,z,y,x"] + [f"{T0 + int(round(s * 1e9))},{s:.4f},0.0,{v:.5f},{G:.5f}"
                                               for s, v in zip(t, y)]
    return "\n".join(lines) + "\n"


def recording(folder, seconds, **kw):
    folder.mkdir(parents=True)
    (folder / "TotalAcceleration.csv").write_text(csv_text(seconds, **kw))
    return folder


@pytest.fixture(scope="module")
def bundle(small_bundle):
    return small_bundle("nano-stream-bundle", ["fp32", "int8"], ["encoder", "classifier"])


def test_same_named_recordings_in_two_folders_are_refused_naming_both(bundle, tmp_path):
    a = recording(tmp_path / "siteA" / "P01", 21)
    b = recording(tmp_path / "siteB" / "P01", 31, amp=1.0)
    with pytest.raises(DataError, match=r"siteA/P01 and .*siteB/P01 are both participant 'P01'"):
        embed_files([a, b], bundle, tmp_path / "emb", precision="fp32")
    assert not (tmp_path / "emb").exists()
    for part in ((1, 2), (2, 2)):  # each array job sees the whole list and refuses too
        with pytest.raises(DataError, match="both participant 'P01'"):
            embed_files([a, b], bundle, tmp_path / "emb", part=part, precision="fp32")


def test_an_output_of_another_recording_is_refused_not_counted_done(bundle, tmp_path):
    a = recording(tmp_path / "siteA" / "P01", 21)
    b = recording(tmp_path / "siteB" / "P01", 31, amp=1.0)
    assert embed_files([a], bundle, tmp_path / "emb", precision="fp32")["written"] == 1
    before = (tmp_path / "emb" / output_name(a)).read_bytes()
    with pytest.raises(DataError, match=r"holds the embeddings of .*siteA/P01, not of .*siteB/P01"):
        embed_files([b], bundle, tmp_path / "emb", precision="fp32")
    assert (tmp_path / "emb" / output_name(a)).read_bytes() == before


def test_an_output_of_another_bundle_setting_is_refused(bundle, tmp_path):
    a = recording(tmp_path / "P01", 21)
    embed_files([a], bundle, tmp_path / "emb", precision="fp32")
    with pytest.raises(DataError, match="embedded with precision 'fp32'.*this run uses precision 'int8'"):
        embed_files([a], bundle, tmp_path / "emb", precision="int8")
    with pytest.raises(DataError, match="embedded with hop_s 10.0"):
        embed_files([a], bundle, tmp_path / "emb", precision="fp32", hop_s=5.0)
    assert embed_files([a], bundle, tmp_path / "emb", precision="fp32")["skipped"] == 1


@pytest.mark.parametrize("damage", [b"", b"PAR1garbage", "truncated"])
def test_a_damaged_output_is_embedded_again(bundle, tmp_path, damage):
    a = recording(tmp_path / "P01", 21)
    embed_files([a], bundle, tmp_path / "emb", precision="fp32")
    target = tmp_path / "emb" / output_name(a)
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2] if damage == "truncated" else damage)
    counts = embed_files([a], bundle, tmp_path / "emb", precision="fp32")
    assert counts["written"] == 1 and counts["replaced"] == 1 and counts["skipped"] == 0
    assert pq.read_table(target).num_rows == 2


def test_nan_windows_are_counted_and_window_numbers_kept(bundle, tmp_path):
    a = recording(tmp_path / "P01", 41, nan_at=15.0)  # windows at 0, 10, 20, 30 s; the one at 10 s holds the NaN
    counts = embed_files([a], bundle, tmp_path / "emb", precision="fp32")
    assert counts["windows"] == 3 and counts["dropped_nan"] == 1
    table = pq.read_table(tmp_path / "emb" / output_name(a))
    assert table.column("window").to_pylist() == [0, 2, 3]
    assert [v.value for v in table.column("start")] == [T0, T0 + 20 * 10**9, T0 + 30 * 10**9]


def test_uppercase_zip_recordings_are_embedded(bundle, tmp_path):
    path = tmp_path / "PHONE.ZIP"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("TotalAcceleration.csv", csv_text(21))
    counts = embed_files([path], bundle, tmp_path / "emb", precision="fp32")
    assert counts["written"] == 1 and counts["windows"] == 2
    assert pq.read_table(tmp_path / "emb" / output_name(path)).column("participant")[0].as_py() == "PHONE"


def test_the_command_prints_the_counts_and_refuses_in_one_line(bundle, tmp_path):
    from flowfm_edge.cli import app

    a = recording(tmp_path / "siteA" / "P01", 41, nan_at=15.0)
    b = recording(tmp_path / "siteB" / "P01", 21)
    runner = CliRunner()
    res = runner.invoke(app, ["embed-files", str(a), "--bundle", str(bundle), "--out", str(tmp_path / "emb"),
                              "--precision", "fp32"])
    assert res.exit_code == 0 and "1 written (3 windows, 1 dropped for NaN)" in " ".join(res.output.split())
    res = runner.invoke(app, ["embed-files", str(a), str(b), "--bundle", str(bundle), "--out", str(tmp_path / "emb")])
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and text.startswith("error:") and "both participant 'P01'" in text
