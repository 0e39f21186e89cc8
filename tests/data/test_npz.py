"""The .npz window format and the SSL-Wearables directory layout (docs/design.md#data-contract)."""

import numpy as np
import pytest

from flowfm_edge.data import DataError, WindowSet, load_npz, load_ssl_dir, resample_windows, save_npz


def windows(n: int = 6, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(0, 0.1, (n, 3, 300)).astype(np.float32)
    X[:, 2] += 1.0
    return X


def test_round_trip_keeps_everything(tmp_path):
    ws = WindowSet(X=windows(), y=np.array([0, 1, 2, 0, 1, 2]), pid=np.array([1, 1, 2, 2, 3, 3]),
                   classes=["sit", "stand", "walk"])
    path = save_npz(tmp_path / "w.npz", ws)
    back = load_npz(path)
    np.testing.assert_array_equal(back.X, ws.X)
    assert back.X.dtype == np.float32
    assert back.y.tolist() == ws.y.tolist() and back.pid.tolist() == ws.pid.tolist()
    assert back.classes == ["sit", "stand", "walk"]
    assert back.source == str(path) and back.meta["dropped_nonfinite"] == 0


def test_save_writes_exactly_the_path_given(tmp_path):
    path = save_npz(tmp_path / "sub" / "windows.data", WindowSet(X=windows(2), y=None, pid=np.array([7, 8])))
    assert path.is_file() and not (tmp_path / "sub" / "windows.data.npz").exists()
    back = load_npz(path)
    assert back.y is None and back.classes is None and back.pid.tolist() == [7, 8]


def test_string_labels_become_codes_into_sorted_classes(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, X=windows(4), y=np.array(["walk", "sit", "walk", "lie"]), pid=np.array(["a", "a", "b", "b"]))
    ws = load_npz(path)
    assert ws.classes == ["lie", "sit", "walk"]
    assert ws.y.tolist() == [2, 1, 2, 0]
    assert ws.pid.tolist() == ["a", "a", "b", "b"]


def test_string_labels_follow_classes_stored_in_the_file(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, X=windows(3), y=np.array(["b", "a", "b"]), pid=np.zeros(3, int), classes=np.array(["b", "a"]))
    ws = load_npz(path)
    assert ws.classes == ["b", "a"] and ws.y.tolist() == [0, 1, 0]
    np.savez(path, X=windows(3), y=np.array(["b", "a", "c"]), pid=np.zeros(3, int), classes=np.array(["b", "a"]))
    with pytest.raises(DataError, match=r"label\(s\) \['c'\] not in field 'classes'"):
        load_npz(path)


def test_unlabelled_file_without_subjects_is_one_subject(tmp_path):
    path = tmp_path / "u.npz"
    np.savez(path, X=windows(3))
    ws = load_npz(path)
    assert ws.y is None and ws.pid.tolist() == [0, 0, 0] and "pid_absent" in ws.meta


# --- errors: each names the file, the field and the problem ------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.npz: file not found"):
        load_npz(tmp_path / "nope.npz")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.npz: empty file \(0 bytes\)"):
        load_npz(path)
    np.savez(path)
    with pytest.raises(DataError, match="empty archive"):
        load_npz(path)
    np.savez(path, X=np.zeros((0, 3, 300), np.float32), pid=np.zeros(0, int))
    with pytest.raises(DataError, match="field 'X' holds no windows"):
        load_npz(path)


def test_not_an_npz(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("time,x,y,z\n0,0,0,1\n")
    with pytest.raises(DataError, match=r"notes\.npz: not an \.npz archive"):
        load_npz(text)
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, windows(2))
    with pytest.raises(DataError, match=r"single\.npz: not an \.npz archive \(a single \.npy array\)"):
        load_npz(single)


def test_missing_x(tmp_path):
    path = tmp_path / "nox.npz"
    np.savez(path, data=windows(2), pid=np.zeros(2, int))
    with pytest.raises(DataError, match=r"nox\.npz: field 'X' is missing \(fields present: \['data', 'pid'\]\)"):
        load_npz(path)


def test_wrong_shape(tmp_path):
    path = tmp_path / "shape.npz"
    np.savez(path, X=np.zeros((4, 3, 200), np.float32), pid=np.zeros(4, int))
    with pytest.raises(DataError, match=r"shape\.npz: field 'X' has shape \(4, 3, 200\); expected \(N, 3, 300\)"):
        load_npz(path)
    np.savez(path, X=windows(4).transpose(0, 2, 1), pid=np.zeros(4, int))
    with pytest.raises(DataError, match="channels last.*transpose"):
        load_npz(path)
    np.savez(path, X=np.zeros((4, 3, 300), np.int16), pid=np.zeros(4, int))
    with pytest.raises(DataError, match="dtype int16"):
        load_npz(path)


def test_nan_is_refused_or_dropped_and_counted(tmp_path):
    X = windows(5)
    X[1, 0, 10] = np.nan
    X[3, 2, 0] = np.inf
    path = tmp_path / "nan.npz"
    np.savez(path, X=X, y=np.arange(5), pid=np.arange(5))
    expected = r"nan\.npz: field 'X' has 2 window\(s\) with NaN or inf \(first at index \[1, 3\]\).*drop_nan=True"
    with pytest.raises(DataError, match=expected):
        load_npz(path)
    ws = load_npz(path, drop_nan=True)
    assert len(ws) == 3 and ws.meta["dropped_nonfinite"] == 2
    assert ws.y.tolist() == [0, 2, 4] and ws.pid.tolist() == [0, 2, 4]  # labels stay aligned


def test_labels_without_subjects(tmp_path):
    path = tmp_path / "nopid.npz"
    np.savez(path, X=windows(3), y=np.array([0, 1, 0]))
    expected = r"nopid\.npz: labels without subjects: field 'y' is present but 'pid' is missing"
    with pytest.raises(DataError, match=expected):
        load_npz(path)


def test_length_mismatch(tmp_path):
    path = tmp_path / "len.npz"
    np.savez(path, X=windows(3), y=np.array([0, 1]), pid=np.zeros(3, int))
    with pytest.raises(DataError, match=r"len\.npz: field 'y' has shape \(2,\); expected \(3,\)"):
        load_npz(path)
    np.savez(path, X=windows(3), pid=np.zeros(4, int))
    with pytest.raises(DataError, match=r"field 'pid' has shape \(4,\); expected \(3,\)"):
        load_npz(path)


def test_object_arrays_and_fractional_labels_are_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, X=windows(2), y=np.array(["a", None], dtype=object), pid=np.zeros(2, int))
    with pytest.raises(DataError, match="field 'y' is an object array"):
        load_npz(path)
    np.savez(path, X=windows(2), y=np.array([0.5, 1.0]), pid=np.zeros(2, int))
    with pytest.raises(DataError, match="field 'y' holds non-integer numbers"):
        load_npz(path)


# --- SSL-Wearables processed layout ----------------------------------------------------------------


def ssl_dir(tmp_path, rate=50, n=4, nan_at=None):
    t = np.arange(10 * rate) / rate
    X = np.zeros((n, 10 * rate, 3))  # (N, T, 3) channels last
    X[:, :, 0] = np.sin(2 * np.pi * 1.8 * t)
    X[:, :, 2] = 1.0
    if nan_at is not None:
        X[nan_at, 7, 1] = np.nan
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", np.array(["walk", "sit"] * (n // 2)))
    np.save(tmp_path / "pid.npy", np.arange(n) // 2)
    return tmp_path, X


def test_ssl_dir_resamples_to_contract(tmp_path):
    path, X = ssl_dir(tmp_path)
    ws = load_ssl_dir(path, rate=50)
    assert ws.X.shape == (4, 3, 300) and ws.X.dtype == np.float32
    np.testing.assert_allclose(ws.X, resample_windows(X.transpose(0, 2, 1)), atol=1e-6)
    assert ws.classes == ["sit", "walk"] and ws.y.tolist() == [1, 0, 1, 0] and ws.pid.tolist() == [0, 0, 1, 1]
    assert ws.meta["rate_hz"] == 50 and ws.meta["native_len"] == 500


def test_ssl_dir_errors(tmp_path):
    path, _ = ssl_dir(tmp_path, nan_at=2)
    with pytest.raises(DataError, match=r"X\.npy: windows of 500 samples at 30 Hz last 16\.67 s.*check --rate"):
        load_ssl_dir(path, rate=30)
    with pytest.raises(DataError, match=r"field 'X' has 1 window\(s\) with NaN"):
        load_ssl_dir(path, rate=50)
    assert load_ssl_dir(path, rate=50, drop_nan=True).meta["dropped_nonfinite"] == 1
    (path / "pid.npy").unlink()
    with pytest.raises(DataError, match="labels without subjects"):
        load_ssl_dir(path, rate=50, drop_nan=True)
    (path / "X.npy").unlink()
    with pytest.raises(DataError, match=r"X\.npy: file not found"):
        load_ssl_dir(path, rate=50)


def test_one_per_class_spreads_across_the_classes_and_keeps_labels_aligned():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 5)
    X = rng.normal(0, 0.1, (30, 3, 300)).astype(np.float32) + y[:, None, None]  # each window carries its class
    ws = WindowSet(X=X, y=y, pid=np.arange(30) % 3, classes=list("abcdef"))
    pick = ws.one_per_class(4, seed=1)
    assert [pick.classes[c] for c in pick.y] == ["a", "c", "d", "f"]  # first, last and two between, in class order
    assert np.allclose(pick.X.mean(axis=(1, 2)), pick.y, atol=0.05)  # the windows are those of their labels
    assert len(ws.one_per_class(10).y) == 6  # never more than one per class
    unlabelled = WindowSet(X=X, y=None, pid=np.zeros(30, int)).one_per_class(4, seed=2)
    assert len(unlabelled) == 4 and len({tuple(x[0, :3]) for x in unlabelled.X}) == 4
