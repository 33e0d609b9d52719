"""Autodiff behaviour: backward, accumulation, no_grad, detach, retain_graph, GradientTape,
fg.grad and fg.gradcheck (passing on correct gradients, failing with the worst element named)."""

from __future__ import annotations

import numpy as np
import pytest

import ferrograd as fg


def test_backward_accumulates_into_leaves_across_calls():
    x = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    # d/dx (x^2) + d/dx (3x) = 2x + 3
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])
    x.grad = None
    assert x.grad is None


def test_shared_subexpressions_sum_their_gradients():
    x = fg.tensor([0.5, -1.5], requires_grad=True, dtype="float64")
    y = x.tanh()
    z = (y * y + y).sum()  # dz/dx = (2y + 1)(1 - y^2)
    z.backward()
    t = np.tanh([0.5, -1.5])
    np.testing.assert_allclose(x.grad.numpy(), (2 * t + 1) * (1 - t**2), rtol=1e-12)


def test_non_scalar_backward_needs_a_gradient_of_the_output_shape():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(ValueError, match="scalar output"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(3,\)|\[3\]"):
        y.backward(np.ones(3))
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_on_a_constant_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fg.tensor([1.0]).sum().backward()


def test_second_backward_needs_retain_graph():
    x = fg.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0 + 2.0 + 2.0])


def test_no_grad_records_nothing_and_nests():
    x = fg.tensor([1.0], requires_grad=True)
    with fg.no_grad():
        with fg.no_grad():
            y = x * 2.0
        z = x * 3.0
        assert not fg.is_grad_enabled()
    assert fg.is_grad_enabled()
    assert not y.requires_grad and not z.requires_grad
    assert y.grad_fn is None

    @fg.no_grad()
    def infer(t):
        return t * 4.0

    assert not infer(x).requires_grad


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with fg.no_grad():
            raise KeyError("boom")
    assert fg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = fg.tensor([2.0], requires_grad=True)
    y = x * x.detach()  # gradient only through the first factor
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0])
    assert not x.detach().requires_grad


def test_graph_records_op_names():
    x = fg.tensor([[1.0, 2.0]], requires_grad=True)
    assert x.is_leaf and x.grad_fn is None
    y = x @ x.T
    assert y.grad_fn == "matmul" and not y.is_leaf


def test_variable_is_a_trainable_tensor_updated_in_place():
    v = fg.Variable(np.ones((2, 2)), name="kernel")
    assert isinstance(v, fg.Tensor)
    assert v.name == "kernel" and v.trainable and v.requires_grad
    (v * 3.0).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), np.full((2, 2), 3.0))
    snapshot = v.numpy()
    v.assign_sub(v.grad.numpy() * 0.1)
    np.testing.assert_allclose(v.numpy(), np.full((2, 2), 0.7))
    np.testing.assert_allclose(snapshot, np.ones((2, 2)))  # earlier views keep their values
    v.assign(np.zeros((2, 2)))
    np.testing.assert_allclose(v.numpy(), 0.0)
    with pytest.raises(ValueError, match=r"\[3\].*\[2, 2\]"):
        v.assign(np.zeros(3))
    v.trainable = False
    assert not v.requires_grad


def test_gradient_tape_matches_the_keras_idiom():
    w = fg.Variable(np.array([[1.0], [2.0]]), name="w")
    b = fg.Variable(np.array([0.5]), name="b")
    x = np.array([[1.0, 1.0], [2.0, -1.0]])
    with fg.GradientTape() as tape:
        loss = ((x @ w + b) ** 2).mean()
    grads = tape.gradient(loss, [w, b])
    pred = x @ np.array([[1.0], [2.0]]) + 0.5
    np.testing.assert_allclose(grads[0].numpy(), x.T @ (2 * pred) / 2)
    np.testing.assert_allclose(grads[1].numpy(), [np.sum(2 * pred) / 2])
    assert w.grad is None  # the tape returns gradients, it does not accumulate them
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(loss, [w])


def test_gradient_tape_watch_structures_and_unconnected_sources():
    x = fg.tensor([3.0])
    unused = fg.tensor([1.0], requires_grad=True)
    with fg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = (x * x).sum()
    assert tape.gradient(y, x).item() == pytest.approx(6.0)
    out = tape.gradient(y, {"x": x, "u": unused})
    assert out["u"] is None and out["x"].item() == pytest.approx(6.0)


def test_functional_grad():
    g = fg.grad(lambda a, b: (a * b).sum(), [np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    np.testing.assert_allclose(g[0].numpy(), [3.0, 4.0])
    np.testing.assert_allclose(g[1].numpy(), [1.0, 2.0])
    single = fg.grad(lambda a: (a**3).sum(), np.array([2.0]))
    np.testing.assert_allclose(single.numpy(), [12.0])


def test_gradcheck_passes_on_correct_gradients():
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2))]
    assert fg.gradcheck(lambda a, b: fg.ops.softmax(a @ b, axis=0), inputs)
    assert fg.gradcheck(lambda a: a.tanh().sum(), [rng.normal(size=5)])


def test_gradcheck_fails_on_a_wrong_gradient_and_names_the_worst_element():
    # b's contribution is detached, so its analytic gradient is 0 while the numeric one is a.
    def wrong(a, b):
        return (a * b.detach()).sum()

    with pytest.raises(fg.GradcheckError, match=r"input 1 at index \[1\]") as info:
        fg.gradcheck(wrong, [np.array([1.0, 5.0, 2.0]), np.array([1.0, 1.0, 1.0])])
    assert "analytic" in str(info.value) and "numeric" in str(info.value)


def test_gradcheck_propagates_errors_raised_by_the_function():
    def broken(a):
        raise ZeroDivisionError("inside the checked function")

    with pytest.raises(ZeroDivisionError):
        fg.gradcheck(broken, [np.ones(2)])


def test_deep_chains_backward_and_drop_without_recursion():
    x = fg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0
    z = x
    for _ in range(50000):
        z = z + 0.0
    del z  # freeing an unreleased 50,000-node graph must not overflow the stack
