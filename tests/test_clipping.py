"""Tests for fg.clip_by_global_norm and fg.clip_by_value: against their definitions (TF's
``tf.clip_by_global_norm`` / ``tf.clip_by_value``, written out independently here with numpy), the
non-finite rule, the kinds and dtypes returned, validation, and agreement with the optimizers'
``global_clipnorm`` / ``clipnorm`` / ``clipvalue``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg

DTYPES = [np.float64, np.float32]
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-6}


def reference_global_norm(arrays):
    """sqrt of the sum of squares, the plain way (fine for the moderate values used here)."""
    return math.sqrt(sum(float(np.sum(np.asarray(a, dtype=np.float64) ** 2)) for a in arrays))


def array_lists(dtype):
    elements = st.floats(-1e3, 1e3, allow_nan=False, width=32 if dtype == np.float32 else 64)
    one = hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), elements=elements)
    return st.lists(one, min_size=1, max_size=4)


# ----------------------------------------------------------------------------- clip_by_global_norm


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_norm_matches_its_definition(dtype):
    @settings(max_examples=60, deadline=None)
    @given(arrays=array_lists(dtype), max_norm=st.floats(1e-3, 1e4))
    def check(arrays, max_norm):
        clipped, norm = fg.clip_by_global_norm(arrays, max_norm)
        expected_norm = reference_global_norm(arrays)
        # abs: the plain reference loses values below ~1e-154, whose squares underflow (ferrograd's
        # scaled sum does not; test_global_norm_of_huge_and_tiny_float64_values_is_exact checks it)
        assert norm == pytest.approx(expected_norm, rel=1e-12, abs=1e-150)
        factor = max_norm / max(expected_norm, max_norm)
        rtol = TOLERANCE[dtype]
        for original, out in zip(arrays, clipped):
            assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == original.shape
            np.testing.assert_allclose(out, original.astype(np.float64) * factor, rtol=rtol, atol=1e-30)
        # the clipped gradients' global norm is within the limit (up to rounding) ...
        assert reference_global_norm(clipped) <= max_norm * (1 + 10 * rtol)
        # ... and gradients already within it are untouched, bit for bit.
        if expected_norm <= max_norm:
            for original, out in zip(arrays, clipped):
                np.testing.assert_array_equal(out, original)

    check()


def test_global_norm_worked_example_and_norm_before_clipping():
    # norms 5 and 12: global norm 13; clipped to 6.5 every gradient halves.
    clipped, norm = fg.clip_by_global_norm([np.array([3.0, 4.0]), np.array([12.0])], 6.5)
    assert norm == 13.0
    np.testing.assert_allclose(clipped[0], [1.5, 2.0], rtol=1e-15)
    np.testing.assert_allclose(clipped[1], [6.0], rtol=1e-15)
    # direction kept: the whole update is a positive multiple of the original
    assert reference_global_norm(clipped) == pytest.approx(6.5, rel=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_norm_returns_tensors_of_the_input_dtype(dtype):
    grads = [fg.tensor(np.array([[3.0, 4.0]]), dtype=dtype), fg.Variable(np.zeros(2), dtype=dtype, name="v")]
    clipped, norm = fg.clip_by_global_norm(grads, 1.0)
    assert isinstance(norm, float) and norm == pytest.approx(5.0)
    for out, original in zip(clipped, grads):
        assert isinstance(out, fg.Tensor) and not isinstance(out, fg.Variable)
        assert out.dtype == dtype and out.shape == original.shape
        assert not out.requires_grad  # values, no graph
    np.testing.assert_allclose(clipped[0].numpy(), [[0.6, 0.8]], rtol=1e-6)
    np.testing.assert_array_equal(clipped[1].numpy(), [0.0, 0.0])


def test_global_norm_passes_none_through_and_counts_it_for_nothing():
    clipped, norm = fg.clip_by_global_norm([None, np.array([6.0, 8.0]), None], 5.0)
    assert clipped[0] is None and clipped[2] is None
    assert norm == 10.0
    np.testing.assert_allclose(clipped[1], [3.0, 4.0])
    assert fg.clip_by_global_norm([None], 1.0) == ([None], 0.0)
    assert fg.clip_by_global_norm([], 1.0) == ([], 0.0)


def test_global_norm_of_huge_and_tiny_float64_values_is_exact():
    # squares of 1e200 overflow and of 1e-200 underflow: the norm must still be right and finite.
    clipped, norm = fg.clip_by_global_norm([np.array([1e200, 1e200])], 1.0)
    assert norm == pytest.approx(math.sqrt(2) * 1e200, rel=1e-14)
    np.testing.assert_allclose(clipped[0], [2**-0.5, 2**-0.5], rtol=1e-14)
    _, tiny = fg.clip_by_global_norm([np.array([3e-200]), np.array([4e-200])], 1.0)
    assert tiny == pytest.approx(5e-200, rel=1e-14)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_global_norm_makes_every_value_nan(bad):
    # TF's rule: an inf/NaN global norm turns every clipped value into NaN (the finite tensor too),
    # and the norm returned is that inf/NaN for the caller to detect.
    finite = fg.tensor(np.array([1.0, 2.0]), dtype="float32")
    clipped, norm = fg.clip_by_global_norm([np.array([bad, 0.5]), finite, None], 10.0)
    assert math.isnan(norm) if np.isnan(bad) else norm == math.inf
    assert np.isnan(clipped[0]).all()
    assert isinstance(clipped[1], fg.Tensor) and np.isnan(clipped[1].numpy()).all()
    assert clipped[2] is None


def test_nan_wins_over_inf_in_the_norm():
    _, norm = fg.clip_by_global_norm([np.array([np.inf]), np.array([np.nan])], 1.0)
    assert math.isnan(norm)
    _, norm = fg.clip_by_global_norm([np.array([np.nan]), np.array([np.inf])], 1.0)
    assert math.isnan(norm)


@pytest.mark.parametrize("max_norm", [0.0, -1.0, math.inf, math.nan])
def test_global_norm_rejects_bad_max_norm_values(max_norm):
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0"):
        fg.clip_by_global_norm([np.ones(2)], max_norm)


@pytest.mark.parametrize("max_norm", ["1.0", None, True, [1.0]])
def test_global_norm_rejects_non_numbers(max_norm):
    with pytest.raises(TypeError, match="max_norm must be a number"):
        fg.clip_by_global_norm([np.ones(2)], max_norm)


def test_global_norm_rejects_a_single_tensor_and_non_numeric_entries():
    with pytest.raises(TypeError, match="must be a list of tensors"):
        fg.clip_by_global_norm(fg.tensor(np.ones(2)), 1.0)
    with pytest.raises(TypeError, match="must be a list of tensors"):
        fg.clip_by_global_norm(np.ones(2), 1.0)
    with pytest.raises(TypeError, match="real numeric"):
        fg.clip_by_global_norm([np.array(["a", "b"])], 1.0)


# ----------------------------------------------------------------------------- agreement with optimizers


def _step(optimizer, grads, initial):
    variables = [fg.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(initial)]
    optimizer.apply_gradients(zip(grads, variables))
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [lambda **k: fg.optimizers.SGD(0.1, **k), lambda **k: fg.optimizers.Adam(0.1, **k)])
def test_global_clipnorm_step_equals_clip_then_unclipped_step(dtype, make):
    rng = np.random.default_rng(0)
    initial = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(4).astype(dtype)]
    grads = [rng.standard_normal((3, 2)).astype(dtype) * 5, rng.standard_normal(4).astype(dtype) * 5]
    c = 0.7
    assert reference_global_norm(grads) > c  # the clip is active
    by_optimizer = _step(make(global_clipnorm=c), grads, initial)
    clipped, _ = fg.clip_by_global_norm(grads, c)
    by_hand = _step(make(), clipped, initial)
    for a, b in zip(by_optimizer, by_hand):
        np.testing.assert_allclose(a, b, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_clipnorm_is_global_clipping_of_each_gradient_alone():
    rng = np.random.default_rng(1)
    initial = [rng.standard_normal(3), rng.standard_normal(5)]
    grads = [np.array([3.0, 4.0, 0.0]), rng.standard_normal(5) * 0.01]  # the first over, the second under
    by_optimizer = _step(fg.optimizers.SGD(0.1, clipnorm=1.0), grads, initial)
    by_hand = _step(fg.optimizers.SGD(0.1), [fg.clip_by_global_norm([g], 1.0)[0][0] for g in grads], initial)
    for a, b in zip(by_optimizer, by_hand):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_clipvalue_is_clip_by_value_symmetric():
    initial = [np.zeros(4)]
    grads = [np.array([-3.0, -0.2, 0.4, 9.0])]
    by_optimizer = _step(fg.optimizers.SGD(1.0, clipvalue=0.5), grads, initial)
    by_hand = _step(fg.optimizers.SGD(1.0), [fg.clip_by_value(grads[0], -0.5, 0.5)], initial)
    np.testing.assert_array_equal(by_optimizer[0], by_hand[0])
    np.testing.assert_array_equal(by_hand[0], [0.5, 0.2, -0.4, -0.5])


# ----------------------------------------------------------------------------- clip_by_value


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_value_matches_its_definition(dtype):
    width = 32 if dtype == np.float32 else 64

    @settings(max_examples=60, deadline=None)
    @given(
        array=hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), elements=st.floats(width=width)),
        bounds=st.tuples(st.floats(-1e6, 1e6, width=width), st.floats(-1e6, 1e6, width=width)).map(sorted),
    )
    def check(array, bounds):
        low, high = bounds
        out = fg.clip_by_value(array, low, high)
        assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == array.shape
        expected = np.where(array < low, low, np.where(array > high, high, array)).astype(dtype)
        np.testing.assert_array_equal(out, expected)  # NaN stays NaN: assert_array_equal matches NaNs
        assert np.array_equal(np.isnan(out), np.isnan(array))

    check()


def test_clip_by_value_on_tensors_lists_and_array_bounds():
    t = fg.tensor(np.array([[-2.0, 0.5], [3.0, np.nan]]), dtype="float32")
    out = fg.clip_by_value(t, -1.0, 1.0)
    assert isinstance(out, fg.Tensor) and out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), np.array([[-1.0, 0.5], [1.0, np.nan]], dtype=np.float32))

    both = fg.clip_by_value([t, None, np.array([5.0])], 0.0, 2.0)
    assert isinstance(both, list) and both[1] is None
    np.testing.assert_array_equal(both[2], [2.0])

    per_column = fg.clip_by_value(np.array([[5.0, 5.0], [-5.0, -5.0]]), np.array([-1.0, -2.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(per_column, [[1.0, 2.0], [-1.0, -2.0]])


def test_clip_by_value_validation():
    with pytest.raises(ValueError, match="clip_value_min must be <= clip_value_max"):
        fg.clip_by_value(np.ones(3), 1.0, -1.0)
    with pytest.raises(ValueError, match="must not be NaN"):
        fg.clip_by_value(np.ones(3), math.nan, 1.0)
    with pytest.raises(ValueError, match="without changing it"):
        fg.clip_by_value(np.ones(3), np.zeros((2, 3)), 1.0)  # would broadcast (3,) up to (2, 3)
    with pytest.raises(TypeError, match="must be a number or an array"):
        fg.clip_by_value(np.ones(3), "0", 1.0)
    with pytest.raises(TypeError, match="real numeric"):
        fg.clip_by_value(np.array(["a"]), 0.0, 1.0)
    with pytest.raises(TypeError, match="got None"):
        fg.clip_by_value(None, 0.0, 1.0)
    # equal bounds are allowed: everything becomes that value
    np.testing.assert_array_equal(fg.clip_by_value(np.array([-1.0, 3.0]), 2.0, 2.0), [2.0, 2.0])
