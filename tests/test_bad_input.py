"""Bad input gives a clear Python exception naming the problem and the shapes, never a panic,
an abort or a silent NaN; unusual but valid input (empty, NaN/inf, non-contiguous) gives the
right answer."""

from __future__ import annotations

import numpy as np
import pytest

import ferrograd as fg


def test_shape_mismatches_are_value_errors_naming_the_shapes():
    a, b = fg.tensor(np.zeros((2, 3))), fg.tensor(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*\[2, 3\].*\[4, 5\]"):
        a @ b
    with pytest.raises(ValueError, match=r"broadcast.*\[2, 3\].*\[4, 5\]"):
        a + b
    with pytest.raises(ValueError, match=r"reshape.*\[2, 3\].*\[4\]"):
        a.reshape(4)
    with pytest.raises(ValueError, match="concatenate"):
        fg.ops.concatenate([a, b], axis=0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        a.sum(axis=2)
    with pytest.raises(ValueError, match="not a permutation"):
        a.transpose(0, 0)
    with pytest.raises(ValueError, match="squeeze"):
        a.squeeze(0)
    with pytest.raises(ValueError, match="at least one dimension"):
        fg.tensor(1.0) @ fg.tensor(2.0)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="str"):
        fg.tensor("hello")
    with pytest.raises(TypeError, match="dtype"):
        fg.tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="complex"):
        fg.tensor(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="unsupported dtype"):
        fg.tensor([1.0], dtype="int8")
    with pytest.raises(TypeError):
        fg.tensor([1.0]) + "x"
    with pytest.raises(TypeError, match="indices must be integers"):
        fg.ops.take(fg.tensor([1.0, 2.0]), np.array([0.5]))
    with pytest.raises(TypeError):
        fg.ops.relu(None)


def test_ragged_lists_are_value_errors():
    with pytest.raises(ValueError, match="rectangular"):
        fg.tensor([[1.0, 2.0], [3.0]])


def test_index_errors():
    t = fg.tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="out of bounds"):
        t[5]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(ValueError, match="out of bounds"):
        fg.ops.take(t, [7], axis=1)
    with pytest.raises(ValueError, match="step cannot be zero"):
        t[::0]


def test_bad_argument_values():
    with pytest.raises(ValueError, match="min <= max"):
        fg.ops.clip(fg.tensor([1.0]), 2.0, 1.0)
    with pytest.raises(ValueError, match="mode"):
        fg.ops.pad(fg.tensor([1.0]), 1, mode="reflect")
    with pytest.raises(ValueError, match="x1 and x2"):
        fg.ops.where(fg.tensor([1.0]))


def test_empty_tensors():
    e = fg.tensor(np.zeros((0, 3)))
    assert e.shape == (0, 3)
    assert e.sum().item() == 0.0
    assert (e @ fg.tensor(np.ones((3, 2)))).shape == (0, 2)
    assert (fg.tensor(np.ones((2, 0))) @ fg.tensor(np.ones((0, 3)))).numpy().tolist() == [[0.0] * 3] * 2
    with pytest.raises(ValueError, match="empty"):
        e.max()
    with pytest.raises(ValueError, match="empty"):
        fg.ops.argmax(e, axis=0)


def test_nan_and_inf_propagate_like_numpy():
    x = fg.tensor(np.array([np.nan, 1.0, np.inf, -np.inf]), dtype="float64")
    np.testing.assert_array_equal(fg.ops.exp(x).numpy(), np.exp(x.numpy()))
    assert np.isnan(x.max().item())
    np.testing.assert_array_equal(fg.ops.relu(x).numpy(), [np.nan, 1.0, np.inf, 0.0])
    np.testing.assert_allclose(fg.ops.sigmoid(fg.tensor([-np.inf, np.inf])).numpy(), [0.0, 1.0])
    # log of negative numbers is NaN (numpy's answer), not an exception or a crash
    assert np.isnan(fg.ops.log(fg.tensor([-1.0])).item())


def test_gradient_type_and_shape_errors():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="does not match"):
        x.grad = np.zeros(3)
    with pytest.raises(TypeError, match="Tensor"):
        fg.GradientTape().gradient(x.sum(), [np.zeros(2)])
    with pytest.raises(TypeError, match="must return a ferrograd Tensor"):
        fg.gradcheck(lambda a: 1.0, [np.ones(2)])


def test_nan_is_never_hidden_by_activations_or_clamps():
    nan = fg.tensor([np.nan])
    for f in (fg.ops.relu, fg.ops.relu6, fg.ops.hard_sigmoid, fg.ops.leaky_relu, fg.ops.elu, fg.ops.sigmoid):
        assert np.isnan(f(nan).item()), f.__name__
    assert np.isnan(fg.ops.clip(nan, 0.0, 1.0).item())
    assert np.isnan(fg.ops.maximum(nan, fg.tensor([0.0])).item())
    assert np.isnan(fg.ops.minimum(fg.tensor([0.0]), nan).item())


def test_absurd_shapes_are_value_errors_not_aborts():
    with pytest.raises(ValueError, match="more elements than memory"):
        fg.ops.zeros((2**40, 2**40))
    with pytest.raises(ValueError, match="more elements than memory"):
        fg.ops.broadcast_to(fg.tensor([1.0]), (2**40, 2**40))
    with pytest.raises(ValueError):
        fg.tensor([1.0]).reshape(2**40, 2**40, 0)
