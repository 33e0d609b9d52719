"""Tests for ferrograd.datasets.mnist.load_data, on small fake mnist.npz files written here
with numpy (same keys, dtypes and layout as the standard file, fewer images)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from ferrograd.datasets import mnist


def fake_arrays(n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def write_npz(path, arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras home and working directory, so the user's real files are never seen."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return home


def test_loads_file_by_path(tmp_path, keras_home):
    arrays = fake_arrays()
    path = write_npz(tmp_path / "mnist.npz", arrays)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_train, arrays["y_train"])
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert x_train.dtype == np.uint8 and x_train.shape == (6, 28, 28)
    assert y_test.dtype == np.uint8 and y_test.shape == (4,)
    # A str path works as well as a Path.
    (x_again, _), _ = mnist.load_data(str(path))
    np.testing.assert_array_equal(x_again, x_train)


def test_relative_path_from_working_directory_then_keras_cache(keras_home):
    cached = fake_arrays(seed=1)
    (keras_home / "datasets").mkdir(parents=True)
    write_npz(keras_home / "datasets" / "mnist.npz", cached)
    # Default path: found in $KERAS_HOME/datasets.
    (x_train, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, cached["x_train"])
    # A file of that name in the working directory comes first.
    local = fake_arrays(seed=2)
    write_npz(Path("mnist.npz"), local)
    (x_train, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, local["x_train"])


def test_default_cache_is_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".keras" / "datasets").mkdir(parents=True)
    arrays = fake_arrays(seed=3)
    write_npz(tmp_path / ".keras" / "datasets" / "mnist.npz", arrays)
    (_, y_train), _ = mnist.load_data()
    np.testing.assert_array_equal(y_train, arrays["y_train"])


def test_missing_file_says_where_it_looked_and_where_to_get_it(keras_home):
    with pytest.raises(FileNotFoundError) as excinfo:
        mnist.load_data("mnist.npz")
    message = str(excinfo.value)
    assert f"  {os.path.join(os.getcwd(), 'mnist.npz')}\n" in message
    assert str(keras_home / "datasets" / "mnist.npz") in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in message


def test_missing_absolute_path_is_not_searched_elsewhere(tmp_path, keras_home):
    (keras_home / "datasets").mkdir(parents=True)
    write_npz(keras_home / "datasets" / "mnist.npz", fake_arrays())
    with pytest.raises(FileNotFoundError, match="not found"):
        mnist.load_data(tmp_path / "elsewhere" / "mnist.npz")


@pytest.mark.parametrize(
    ("key", "bad", "message"),
    [
        ("x_train", np.zeros((6, 28, 27), np.uint8), r"x_train must be a uint8 array of shape \(n, 28, 28\)"),
        ("x_test", np.zeros((4, 784), np.uint8), r"x_test must be a uint8 array of shape \(n, 28, 28\)"),
        ("x_train", np.zeros((6, 28, 28), np.float32), "got float32"),
        ("y_train", np.zeros((6, 1), np.uint8), r"y_train must be a uint8 array of shape \(n,\)"),
        ("y_test", np.zeros(4, np.int64), "got int64"),
        ("y_train", np.zeros(5, np.uint8), "x_train has 6 images but y_train has 5 labels"),
        ("y_test", np.full(4, 10, np.uint8), r"label 10, outside 0..9"),
    ],
)
def test_bad_arrays_are_rejected(tmp_path, keras_home, key, bad, message):
    arrays = fake_arrays()
    arrays[key] = bad
    path = write_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(ValueError, match=message):
        mnist.load_data(path)


def test_missing_key_is_rejected(tmp_path, keras_home):
    arrays = fake_arrays()
    del arrays["y_test"]
    path = write_npz(tmp_path / "partial.npz", arrays)
    with pytest.raises(ValueError, match="missing array\\(s\\) y_test"):
        mnist.load_data(path)


class _Exploit:
    """Unpickling this calls open(marker, "w"): the marker file appears if code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_array_is_refused(tmp_path, keras_home):
    marker = tmp_path / "code-ran"
    arrays = fake_arrays()
    arrays["y_train"] = np.array([_Exploit(marker)] * 6, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)  # savez pickles object arrays
    with pytest.raises(ValueError, match="object array stored with pickle; refused"):
        mnist.load_data(path)
    assert not marker.exists()


def test_plain_pickle_file_is_refused(tmp_path, keras_home):
    marker = tmp_path / "code-ran"
    path = tmp_path / "mnist.npz"
    path.write_bytes(pickle.dumps({"x_train": _Exploit(marker)}))
    with pytest.raises(ValueError, match="not an .npz archive"):
        mnist.load_data(path)
    assert not marker.exists()


def test_single_npy_and_garbage_are_refused(tmp_path, keras_home):
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        mnist.load_data(npy)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable .npz archive|not an .npz archive"):
        mnist.load_data(garbage)


def test_available_from_datasets_package():
    import ferrograd as fg

    assert fg.datasets.mnist.load_data is mnist.load_data
    assert "mnist" in fg.datasets.__all__
