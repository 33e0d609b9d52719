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


# ----- the messages a first-time user meets (issue 16, item 10)


def _classifier():
    model = fg.Sequential([fg.Input((4,)), fg.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_arguments_of_the_wrong_kind_are_named():
    x = np.random.default_rng(0).random((20, 4)).astype("float32")
    y = np.arange(20) % 3
    with pytest.raises(TypeError, match=r"validation_split must be a float.*'0\.1'"):
        _classifier().fit(x, y, validation_split="0.1", verbose=0)
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        _classifier().fit(x, y, validation_split=1.5, verbose=0)
    for call in ("fit", "evaluate"):
        with pytest.raises(TypeError, match=r"batch_size must be a positive integer, got 2\.5"):
            getattr(_classifier(), call)(x, y, batch_size=2.5, verbose=0)
    with pytest.raises(TypeError, match=r"batch_size must be a positive integer, got 2\.5"):
        _classifier().predict(x, batch_size=2.5, verbose=0)


def test_negative_counts_and_seeds_are_value_errors():
    with pytest.raises(ValueError, match="set_num_threads: n must be at least 1, got -1"):
        fg.set_num_threads(-1)
    with pytest.raises(TypeError, match="set_num_threads"):
        fg.set_num_threads(2.0)
    with pytest.raises(ValueError, match="one_hot: num_classes must be a positive int, got -1"):
        fg.ops.one_hot(np.array([1, 2]), -1)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        fg.utils.set_random_seed(-1)


def test_an_unknown_metric_name_fails_at_compile():
    model = fg.Sequential([fg.Input((4,)), fg.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="acc_z"):
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc_z"])
    with pytest.raises(ValueError, match="acc_z"):
        model.compile("adam", "sparse_categorical_crossentropy", metrics={"dense": ["acc_z"]})
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc", "ce", "mae"])


def test_data_mistakes_get_a_hint():
    rng = np.random.default_rng(0)
    y = np.arange(20) % 3
    with pytest.raises(ValueError, match=r"\(20, 2, 2\).*reshape the data to \(20, 4\).*Flatten"):
        _classifier().fit(rng.random((20, 2, 2)).astype("float32"), y, verbose=0)
    with pytest.raises(TypeError, match=r"strings.*integer class ids"):
        _classifier().fit(rng.random((20, 4)).astype("float32"), np.array(["a", "b"] * 10), verbose=0)
    with pytest.raises(ValueError, match=r"one-hot.*categorical_crossentropy"):
        _classifier().fit(rng.random((20, 4)).astype("float32"), np.eye(3)[y], verbose=0)
