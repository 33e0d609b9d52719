"""The 5,000 MNIST images shipped with the package: what the file holds and how load_data splits
it (a seeded shuffle of a class-sorted file, then train/test)."""

import hashlib
from importlib.resources import files

import numpy as np
import pytest

from ferrograd.datasets import mnist_5k

SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def test_the_shipped_file_is_the_documented_one():
    data = (files("ferrograd.datasets") / "data" / "mnist_5k.csv.gz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256


def test_load_data_returns_keras_shapes_and_dtypes():
    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    # 500 images a class, all of them in one of the two sets.
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert counts.tolist() == [500] * 10
    # Real images, not blank or noise: ink covers a fifth of the pixels or so, and the centre of
    # the average digit is darker than its border (MNIST digits are centred in 20x20 boxes).
    ink = (x_train > 0).mean()
    assert 0.1 < ink < 0.3
    mean_image = x_train.mean(axis=0)
    assert mean_image[10:18, 10:18].mean() > 10 * mean_image[:3].mean()


def test_the_shuffle_mixes_classes_and_depends_on_the_seed():
    (_, y_a), _ = mnist_5k.load_data(seed=1)
    (_, y_b), _ = mnist_5k.load_data(seed=1)
    (_, y_c), _ = mnist_5k.load_data(seed=2)
    assert np.array_equal(y_a, y_b)
    assert not np.array_equal(y_a, y_c)
    # Keras's validation_split takes the last 10%: every class must be there, about equally.
    tail = np.bincount(y_a[-400:], minlength=10)
    assert tail.min() > 20


def test_load_data_hands_out_fresh_writable_copies():
    (x, y), _ = mnist_5k.load_data()
    x[0, 0, 0] = 255
    y[0] = 9
    (x2, y2), _ = mnist_5k.load_data()
    assert x2.flags.writeable and x2[0, 0, 0] == 0


@pytest.mark.parametrize("test_split", [0.0, 0.5, 0.9])
def test_split_sizes(test_split):
    (x_train, _), (x_test, _) = mnist_5k.load_data(test_split=test_split)
    assert len(x_train) == int(5000 * (1 - test_split)) and len(x_train) + len(x_test) == 5000


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan")])
def test_bad_split_is_a_value_error(bad):
    with pytest.raises(ValueError, match="test_split"):
        mnist_5k.load_data(test_split=bad)


def test_non_number_split_is_a_type_error():
    with pytest.raises(TypeError, match="test_split"):
        mnist_5k.load_data(test_split="0.2")
