"""Tests for the bundled UCI hand-written digits dataset.

Split rule under test (the keras.datasets ``test_split`` rule): the 1,797
samples are shuffled with ``np.random.default_rng(seed).permutation``, the
first ``int(1797 * (1 - test_split))`` go to the training set and the rest
to the test set. For ``test_split=0.2`` that is ``int(1437.6) = 1437``
training and 360 test samples.
"""

import math

import numpy as np
import pytest

from ferrograd.datasets import digits

N = 1797


def _rows(x):
    """Each image as a hashable tuple of its 64 pixels."""
    return {tuple(row) for row in x.reshape(len(x), -1).tolist()}


@pytest.fixture(scope="module")
def default_split():
    return digits.load_data()


def test_default_shapes_and_sizes(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    assert x_train.shape == (1437, 8, 8)
    assert y_train.shape == (1437,)
    assert x_test.shape == (360, 8, 8)
    assert y_test.shape == (360,)
    assert len(x_train) + len(x_test) == N == digits.NUM_SAMPLES


@pytest.mark.parametrize("test_split", [0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.9, 0.99])
def test_split_sizes_follow_rule(test_split):
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=test_split)
    n_train = int(N * (1 - test_split))
    assert len(x_train) == len(y_train) == n_train
    assert len(x_test) == len(y_test) == N - n_train
    assert x_test.shape[1:] == (8, 8)


def test_zero_test_split_gives_empty_test_set():
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0)
    assert x_train.shape == (N, 8, 8)
    assert y_train.shape == (N,)
    assert x_test.shape == (0, 8, 8)
    assert y_test.shape == (0,)
    assert x_test.dtype == np.uint8
    assert y_test.dtype == np.uint8


def test_dtypes(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8


def test_value_ranges(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train, y_test])
    assert x.min() == 0
    assert x.max() == 16
    assert set(np.unique(y).tolist()) == set(range(10))


def test_class_counts(default_split):
    (_, y_train), (_, y_test) = default_split
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_all_classes_in_train_and_test(default_split):
    (_, y_train), (_, y_test) = default_split
    assert set(y_train.tolist()) == set(range(10))
    assert set(y_test.tolist()) == set(range(10))


def test_same_seed_is_deterministic():
    (a_xtr, a_ytr), (a_xte, a_yte) = digits.load_data(seed=7)
    (b_xtr, b_ytr), (b_xte, b_yte) = digits.load_data(seed=7)
    np.testing.assert_array_equal(a_xtr, b_xtr)
    np.testing.assert_array_equal(a_ytr, b_ytr)
    np.testing.assert_array_equal(a_xte, b_xte)
    np.testing.assert_array_equal(a_yte, b_yte)


def test_default_seed_is_113(default_split):
    (x_train, _), (x_test, _) = default_split
    (x_train2, _), (x_test2, _) = digits.load_data(test_split=0.2, seed=113)
    np.testing.assert_array_equal(x_train, x_train2)
    np.testing.assert_array_equal(x_test, x_test2)


def test_different_seed_gives_different_split(default_split):
    (x_train, y_train), (x_test, _) = default_split
    (x_train2, y_train2), (x_test2, _) = digits.load_data(seed=114)
    assert not np.array_equal(x_train, x_train2)
    assert not np.array_equal(y_train, y_train2)
    assert _rows(x_test) != _rows(x_test2)


def test_images_stay_with_their_labels():
    # Shuffling must move each image together with its label: the same
    # image gets the same label whatever the seed.
    def pairs(seed):
        (x_train, y_train), (x_test, y_test) = digits.load_data(seed=seed)
        rows = np.concatenate([x_train, x_test]).reshape(N, -1).tolist()
        labels = np.concatenate([y_train, y_test]).tolist()
        return {tuple(rows[i]): labels[i] for i in range(N)}

    assert pairs(0) == pairs(1)


def test_train_and_test_do_not_overlap(default_split):
    (x_train, _), (x_test, _) = default_split
    train_rows, test_rows = _rows(x_train), _rows(x_test)
    # All 1,797 images are distinct, so comparing rows is a valid check that
    # the split is a partition: no image is in both sets and none is lost.
    assert len(train_rows) == len(x_train)
    assert len(test_rows) == len(x_test)
    assert train_rows.isdisjoint(test_rows)
    assert len(train_rows | test_rows) == N


def test_returned_arrays_are_independent_and_writable():
    (x_train, y_train), _ = digits.load_data()
    assert x_train.flags.writeable
    assert y_train.flags.writeable
    x_train[...] = 0
    y_train[...] = 0
    (x_train2, y_train2), _ = digits.load_data()
    assert x_train2.max() == 16
    assert set(y_train2.tolist()) == set(range(10))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1, 1.5, -1, math.nan, math.inf])
def test_bad_test_split_raises_value_error(bad):
    with pytest.raises(ValueError, match=r"test_split must be in \[0, 1\)"):
        digits.load_data(test_split=bad)


@pytest.mark.parametrize("bad", ["0.2", None, True])
def test_non_numeric_test_split_raises_type_error(bad):
    with pytest.raises(TypeError, match="test_split"):
        digits.load_data(test_split=bad)
