"""The Tensor object: creation, dtypes, numpy interop (zero-copy out, copied in), properties,
operators with numpy arrays and Python numbers, and the thread pool."""

from __future__ import annotations

import numpy as np
import pytest

import ferrograd as fg


def test_creation_dtypes_follow_the_contract():
    assert fg.tensor([1.0, 2.0]).dtype == "float32"  # Python numbers: float32, as Keras
    assert fg.tensor(np.arange(3)).dtype == "float32"  # integer arrays are accepted as floats
    assert fg.tensor(np.zeros(2, np.float64)).dtype == "float64"
    assert fg.tensor(np.zeros(2, np.float32), dtype="float64").dtype == "float64"
    assert fg.tensor(np.array([True, False])).numpy().tolist() == [1.0, 0.0]
    assert fg.tensor(3.5).shape == () and fg.tensor(3.5).item() == 3.5
    assert fg.tensor([[1, 2], [3, 4]], dtype=np.float64).dtype == "float64"


def test_properties():
    t = fg.tensor(np.zeros((2, 3, 4)))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and len(t) == 2
    assert t.T.shape == (4, 3, 2)
    assert t.transpose(1, 0, 2).shape == (3, 2, 4)
    assert t.reshape(6, 4).shape == (6, 4) and t.reshape((4, -1)).shape == (4, 6)


def test_numpy_out_is_a_read_only_view_without_copy():
    t = fg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    a = t.numpy()
    b = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    assert np.shares_memory(a, b)  # both view the tensor's buffer
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    c = np.array(t)  # np.array copies, and the copy is writable
    c[0, 0] = 100.0
    assert t.numpy()[0, 0] == 0.0


def test_numpy_in_is_copied_and_accepts_any_layout():
    source = np.arange(12, dtype=np.float64).reshape(3, 4)
    for view in (source.T, source[:, ::2], source[::-1], np.asfortranarray(source)):
        t = fg.tensor(view)
        np.testing.assert_array_equal(t.numpy(), view)
    t = fg.tensor(source)
    source[0, 0] = 99.0
    assert t.numpy()[0, 0] == 0.0  # fg.tensor copies, as torch.tensor


def test_transposed_tensor_exports_with_strides():
    t = fg.tensor(np.arange(6.0).reshape(2, 3)).T
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3).T)


def test_operators_with_numbers_and_numpy_arrays():
    t = fg.tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose((2.0 - t).numpy(), [1.0, 0.0, -2.0])
    np.testing.assert_allclose((1 / t).numpy(), [1.0, 0.5, 0.25])
    np.testing.assert_allclose((t**2).numpy(), [1.0, 4.0, 16.0])
    np.testing.assert_allclose((2.0**t).numpy(), [2.0, 4.0, 16.0])
    np.testing.assert_allclose((-t).numpy(), [-1.0, -2.0, -4.0])
    assert (t * 2).dtype == "float32"  # Python numbers keep the tensor's dtype
    arr = np.array([1.0, 1.0, 1.0])
    left, right = arr * t, t * arr
    assert isinstance(left, fg.Tensor) and isinstance(right, fg.Tensor)  # numpy defers to Tensor
    assert left.dtype == "float64"  # float32 with float64 promotes, as numpy
    m = np.eye(3, dtype=np.float32)
    assert isinstance(m @ t, fg.Tensor)
    np.testing.assert_allclose((t > 1.5).numpy(), [0.0, 1.0, 1.0])
    np.testing.assert_allclose((t * (t > 1.5)).numpy(), [0.0, 2.0, 4.0])


def test_scalar_conversions():
    t = fg.tensor([2.5])
    assert float(t) == 2.5 and bool(t)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(fg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="one element"):
        fg.tensor([1.0, 2.0]).item()
    assert fg.tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]


def test_repr_names_dtype_and_graph():
    x = fg.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x) and "float32" in repr(x)
    assert "grad_fn=multiply" in repr(x * x)
    assert repr(fg.Variable([1.0], name="w")).startswith("Variable(")


def test_iteration_and_hashing():
    t = fg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = [r.numpy().tolist() for r in t]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]
    assert len({t, t}) == 1


def test_thread_pool_can_be_resized():
    original = fg.get_num_threads()
    try:
        fg.set_num_threads(1)
        assert fg.get_num_threads() == 1
        a = np.random.default_rng(0).normal(size=(200, 150)).astype(np.float32)
        serial = (fg.tensor(a) @ fg.tensor(a.T)).numpy()
        fg.set_num_threads(2)
        parallel = (fg.tensor(a) @ fg.tensor(a.T)).numpy()
        np.testing.assert_allclose(serial, parallel, rtol=1e-5, atol=1e-4)
        with pytest.raises(ValueError, match="at least 1"):
            fg.set_num_threads(0)
    finally:
        fg.set_num_threads(original)


def test_ops_module_has_keras_names():
    for name in ["matmul", "relu", "softmax", "sum", "mean", "reshape", "concatenate", "one_hot", "logsumexp"]:
        assert callable(getattr(fg.ops, name))
    np.testing.assert_allclose(fg.ops.convert_to_numpy(fg.ops.ones((2,))), [1.0, 1.0])
    assert fg.ops.cast(fg.ops.zeros((2, 2)), "float64").dtype == "float64"


def test_type_stubs_cover_the_compiled_module():
    import ast
    from importlib.resources import files

    stub = files("ferrograd") / "_core.pyi"
    tree = ast.parse(stub.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    compiled = {name for name in dir(fg._core) if not name.startswith("__") and name != "_Buffer"}
    assert compiled - stubbed == set(), "functions without a stub"
    assert stubbed - compiled == set(), "stubs without a function"
