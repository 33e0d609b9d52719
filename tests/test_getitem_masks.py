"""Boolean masks in ``tensor[key]``, against numpy: a mask is the integer arrays of its True
coordinates (``mask.nonzero()``), mixed with slices, ints, ``None`` and ``...`` by numpy's rules
(the engine's ``ops/index_spec.rs``); a mask of the wrong shape is numpy's IndexError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg
from conftest import assert_gradients_match


def t64(a):
    return fg.tensor(np.asarray(a, dtype=np.float64), dtype="float64")


A = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize(
    "key",
    [
        np.array([True, False]),
        (slice(None), np.array([True, False, True])),
        (Ellipsis, np.array([False, True, True, False])),
        (slice(None), np.array([[True, False, True, False], [False] * 4, [False, False, False, True]])),
        (np.ones((2, 3), dtype=bool),),
        (1, np.array([True, False, True]), slice(1, None)),
        (np.array([True, True]), [2, 0], None),  # the mask's array and an index array broadcast
        [True, False],  # a list of bools is a mask too
        (slice(None), np.zeros(3, dtype=bool)),  # nothing selected
    ],
)
def test_masks_select_like_numpy(key):
    expected = A[key]
    got = t64(A)[key]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)
    assert_gradients_match(lambda x: x[key], [A])


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_random_mask_matches_numpy(data):
    mask = data.draw(hnp.arrays(bool, (2, 3)))
    np.testing.assert_array_equal(t64(A)[mask].numpy(), A[mask])


@pytest.mark.parametrize("key", [np.array([True, False, True]), (slice(None), np.array([True, False]))])
def test_a_mask_of_the_wrong_shape_is_an_index_error(key):
    with pytest.raises(IndexError):
        A[key]
    with pytest.raises(IndexError, match="boolean index did not match"):
        t64(A)[key]


def test_a_python_bool_is_refused_rather_than_read_as_0_or_1():
    with pytest.raises(TypeError, match="boolean indices are not supported"):
        t64(A)[True]
