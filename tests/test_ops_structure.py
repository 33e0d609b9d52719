"""Reductions, matmul, shape and indexing ops and the softmax family: forward values against
numpy and gradients against central finite differences in float64 (tests/conftest.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ferrograd as fg
from conftest import arrays, assert_gradients_match, broadcastable_pair, shapes

SETTINGS = settings(max_examples=20, deadline=None)


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad, dtype="float64")


def assert_same(actual, expected, rtol=1e-10, atol=1e-12):
    """A ferrograd result equals a numpy one: Tensor, shape, dtype and values."""
    assert isinstance(actual, fg.Tensor), type(actual)
    got = actual.numpy()
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@st.composite
def distinct_arrays(draw, shape):
    """float64 arrays whose values are pairwise at least 0.1 apart: no ties for max/min/argmax,
    no kink of max/min within a finite-difference step, and a nonzero std over 2+ elements."""
    n = int(np.prod(shape, dtype=np.int64))
    ranks = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = draw(hnp.arrays(np.float64, n, elements=st.floats(-0.2, 0.2)))
    return ((ranks - n / 2) * 0.5 + jitter).reshape(shape)


@st.composite
def axes_for(draw, ndim, allow_empty=True):
    """numpy `axis` arguments for an ndim-dimensional array: None, an int or a tuple of distinct
    axes, each possibly negative."""
    kinds = ["none"] if ndim == 0 else ["none", "int", "tuple"]
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=0 if allow_empty else 1, max_size=ndim))
    return tuple(a - ndim if draw(st.booleans()) else a for a in picked)


# ----- reductions


def np_logsumexp(a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    # summing over the kept size-1 axes only drops them when keepdims is False
    return np.sum(out, axis=axis, keepdims=keepdims)


REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "var": np.var,
    "std": np.std,
    "logsumexp": np_logsumexp,
}


@st.composite
def reduction_cases(draw, name):
    if name == "std":
        # every reduced axis has 2+ distinct values, so std > 0 and sqrt is differentiable
        shape = draw(shapes(min_dims=1, min_side=2))
        a = draw(distinct_arrays(shape))
        axis = draw(axes_for(len(shape), allow_empty=False))
    else:
        shape = draw(shapes())
        a = draw(distinct_arrays(shape) if name in ("max", "min") else arrays(shape))
        axis = draw(axes_for(len(shape)))
    return a, axis, draw(st.booleans())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(data=st.data())
def test_reduction_forward_matches_numpy(name, data):
    a, axis, keepdims = data.draw(reduction_cases(name))
    expected = REDUCTIONS[name](a, axis=axis, keepdims=keepdims)
    assert_same(getattr(fg.ops, name)(t64(a), axis=axis, keepdims=keepdims), expected)
    if name != "logsumexp":
        assert_same(getattr(t64(a), name)(axis=axis, keepdims=keepdims), expected)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(data=st.data())
def test_reduction_gradient(name, data):
    a, axis, keepdims = data.draw(reduction_cases(name))
    op = getattr(fg.ops, name)
    assert_gradients_match(lambda x: op(x, axis=axis, keepdims=keepdims), [a])


def test_max_min_gradient_goes_to_the_extreme_only():
    a = np.array([[0.5, 2.0, -1.0], [3.0, -2.0, 1.0]])
    x = t64(a, requires_grad=True)
    (fg.ops.max(x, axis=1).sum() + fg.ops.min(x, axis=0).sum()).backward()
    # row maxima 2.0 and 3.0; column minima 0.5, -2.0 and -1.0
    expected = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@st.composite
def arg_cases(draw):
    shape = draw(shapes())
    a = draw(distinct_arrays(shape))
    axis = None if len(shape) == 0 or draw(st.booleans()) else draw(st.integers(-len(shape), len(shape) - 1))
    return a, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@SETTINGS
@given(case=arg_cases())
def test_argmax_argmin_match_numpy(name, case):
    a, axis, keepdims = case
    expected = getattr(np, name)(a, axis=axis, keepdims=keepdims)
    x = t64(a, requires_grad=True)
    for got in (getattr(fg.ops, name)(x, axis=axis, keepdims=keepdims), getattr(x, name)(axis=axis, keepdims=keepdims)):
        assert isinstance(got, np.ndarray)
        assert got.dtype == np.int64
        assert got.shape == np.shape(expected)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@SETTINGS
@given(a=hnp.arrays(np.float64, shapes(min_dims=1), elements=st.integers(0, 2).map(float)), data=st.data())
def test_argmax_argmin_ties_pick_the_first_as_numpy(name, a, data):
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1))
    np.testing.assert_array_equal(getattr(fg.ops, name)(t64(a), axis=axis), getattr(np, name)(a, axis=axis))


@pytest.mark.parametrize("axis", [2, -3, (0, 0), (0, -2)])
def test_reduction_bad_axis_is_a_value_error(axis):
    with pytest.raises(ValueError):
        fg.ops.sum(t64(np.ones((2, 3))), axis=axis)


# ----- matmul


@st.composite
def matmul_operands(draw):
    # numpy's own matmul signature "(n?,k),(k,m?)->(n?,m?)": 1-D operands and broadcast batch axes
    a_shape, b_shape = draw(
        hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3)
    ).input_shapes
    return draw(arrays(a_shape)), draw(arrays(b_shape))


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4, 2)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
    ((1, 3, 2), (4, 2, 3)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
def test_matmul_shapes_forward_and_gradient(a_shape, b_shape):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    expected = np.matmul(a, b)
    assert_same(fg.ops.matmul(t64(a), t64(b)), expected)
    assert_same(t64(a) @ t64(b), expected)
    assert_same(t64(a).matmul(b), expected)
    assert_gradients_match(lambda x, y: x @ y, [a, b])
    assert_gradients_match(fg.ops.matmul, [a, b])


@SETTINGS
@given(operands=matmul_operands())
def test_matmul_matches_numpy(operands):
    a, b = operands
    expected = np.matmul(a, b)
    assert_same(fg.ops.matmul(t64(a), t64(b)), expected)
    assert_same(t64(a) @ t64(b), expected)
    # numpy operands on either side stay tensor ops
    assert_same(t64(a) @ b, expected)
    assert_same(a @ t64(b), expected)


@SETTINGS
@given(operands=matmul_operands())
def test_matmul_gradient(operands):
    assert_gradients_match(lambda x, y: x @ y, list(operands))


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((2, 3), (4, 2)), ((3,), (4, 2)), ((2, 3), (4,)), ((3,), (4,)), ((2, 2, 3), (5, 4, 2))],
)
def test_matmul_mismatched_inner_dims_is_a_value_error(a_shape, b_shape):
    def text(shape):
        return re.escape("[" + ", ".join(map(str, shape)) + "]")

    pattern = f"{text(a_shape)}.*{text(b_shape)}"
    a, b = t64(np.ones(a_shape)), t64(np.ones(b_shape))
    with pytest.raises(ValueError, match=pattern):
        fg.ops.matmul(a, b)
    with pytest.raises(ValueError, match=pattern):
        a @ b


@pytest.fixture
def two_threads():
    before = fg.get_num_threads()
    fg.set_num_threads(2)
    yield
    fg.set_num_threads(before)


@pytest.mark.parametrize(("a_shape", "b_shape"), [((300, 200), (200, 100)), ((4, 100, 120), (4, 120, 90))])
def test_matmul_float32_large_matches_numpy(two_threads, a_shape, b_shape):
    """Big enough for the multithreaded GEMM (one parallel GEMM, or one batch per thread)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    got = fg.ops.matmul(fg.tensor(a), fg.tensor(b)).numpy()
    assert got.dtype == np.float32
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    # entries are sums of 100-200 products of N(0, 1) values (~10); the atol covers those near 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# ----- shapes


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def reshape_cases(draw):
    shape = draw(shapes())
    remaining = int(np.prod(shape, dtype=np.int64))
    target = []
    for _ in range(draw(st.integers(0, 3))):
        d = draw(st.sampled_from(divisors(remaining)))
        target.append(d)
        remaining //= d
    target.append(remaining)
    target = list(draw(st.permutations(target)))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return draw(arrays(shape)), tuple(target)


@SETTINGS
@given(case=reshape_cases())
def test_reshape(case):
    a, target = case
    expected = np.reshape(a, target)
    assert_same(fg.ops.reshape(t64(a), target), expected)
    assert_same(t64(a).reshape(target), expected)
    assert_same(t64(a).reshape(*target), expected)
    # a transposed (non-contiguous) input is read in logical row-major order
    assert_same(fg.ops.reshape(fg.ops.transpose(t64(a)), target), np.reshape(a.T, target))
    assert_gradients_match(lambda x: fg.ops.reshape(x, target), [a])
    assert_gradients_match(lambda x: x.T.reshape(target), [a])


def test_reshape_bad_sizes_are_value_errors():
    x = t64(np.ones((2, 3)))
    for target in [(4, -1), (-1, -1), (5,), (2, -2)]:
        with pytest.raises(ValueError):
            x.reshape(target)


@st.composite
def transpose_cases(draw):
    shape = draw(shapes())
    ndim = len(shape)
    axes = None
    if ndim and draw(st.booleans()):
        axes = tuple(a - ndim if draw(st.booleans()) else a for a in draw(st.permutations(range(ndim))))
    return draw(arrays(shape)), axes


@SETTINGS
@given(case=transpose_cases())
def test_transpose(case):
    a, axes = case
    expected = np.transpose(a, axes)
    assert_same(fg.ops.transpose(t64(a), axes), expected)
    assert_same(t64(a).transpose(*(axes or ())), expected)
    if axes is None:
        assert_same(t64(a).T, expected)
    assert_gradients_match(lambda x: fg.ops.transpose(x, axes), [a])


def test_transpose_not_a_permutation_is_a_value_error():
    with pytest.raises(ValueError):
        fg.ops.transpose(t64(np.ones((2, 3))), (0, 0))
    with pytest.raises(ValueError):
        fg.ops.transpose(t64(np.ones((2, 3))), (0,))


@SETTINGS
@given(a=arrays(shapes()), data=st.data())
def test_expand_dims(a, data):
    axis = data.draw(st.integers(-a.ndim - 1, a.ndim))
    expected = np.expand_dims(a, axis)
    assert_same(fg.ops.expand_dims(t64(a), axis), expected)
    assert_same(t64(a).expand_dims(axis), expected)
    assert_gradients_match(lambda x: fg.ops.expand_dims(x, axis), [a])


@st.composite
def squeeze_cases(draw):
    shape = draw(shapes(max_dims=4, max_side=3).map(lambda s: tuple(d if d > 2 else 1 for d in s)))
    ones = [i for i, d in enumerate(shape) if d == 1]
    choice = draw(st.sampled_from(["none", "int", "tuple"] if ones else ["none"]))
    if choice == "none":
        axis = None
    elif choice == "int":
        axis = draw(st.sampled_from(ones))
        axis = axis - len(shape) if draw(st.booleans()) else axis
    else:
        picked = draw(st.lists(st.sampled_from(ones), unique=True, min_size=1))
        axis = tuple(i - len(shape) if draw(st.booleans()) else i for i in picked)
    return draw(arrays(shape)), axis


@SETTINGS
@given(case=squeeze_cases())
def test_squeeze(case):
    a, axis = case
    expected = np.squeeze(a, axis)
    assert_same(fg.ops.squeeze(t64(a), axis), expected)
    assert_same(t64(a).squeeze(axis), expected)
    assert_gradients_match(lambda x: fg.ops.squeeze(x, axis), [a])


def test_squeeze_of_a_longer_axis_is_a_value_error():
    with pytest.raises(ValueError):
        fg.ops.squeeze(t64(np.ones((1, 3))), 1)


@SETTINGS
@given(pair=broadcastable_pair(), data=st.data())
def test_broadcast_to(pair, data):
    source, other = pair
    target = np.broadcast_shapes(source, other)
    a = data.draw(arrays(source))
    assert_same(fg.ops.broadcast_to(t64(a), target), np.broadcast_to(a, target))
    assert_gradients_match(lambda x: fg.ops.broadcast_to(x, target), [a])


def test_broadcast_to_incompatible_shape_is_a_value_error():
    with pytest.raises(ValueError):
        fg.ops.broadcast_to(t64(np.ones((2, 3))), (3, 3))


@SETTINGS
@given(a=arrays(shapes()))
def test_ravel_and_flatten(a):
    assert_same(fg.ops.ravel(t64(a)), np.ravel(a))
    assert_same(t64(a).flatten(), a.flatten())
    assert_same(fg.ops.ravel(t64(a).T), np.ravel(a.T))
    assert_gradients_match(fg.ops.ravel, [a])
    assert_gradients_match(lambda x: x.T.flatten(), [a])


# ----- indexing


@st.composite
def index_cases(draw):
    """An array and a numpy key mixing ints, slices (any step), '...', None and integer
    lists/arrays (all broadcastable together)."""
    shape = draw(shapes(min_dims=1))
    length = draw(st.integers(1, 3))
    items = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "array", "full", "slice", "array"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-n - 2, n + 2)
            step = st.sampled_from([None, 1, 2, 3, -1, -2, -3])
            items.append(slice(draw(bound), draw(bound), draw(step)))
        elif kind == "full":
            items.append(slice(None))
        else:
            values = draw(st.lists(st.integers(-n, n - 1), min_size=length, max_size=length))
            form = draw(st.sampled_from(["list", "array", "column"]))
            items.append(
                values if form == "list" else np.array(values) if form == "array" else np.array(values)[:, None]
            )
    # one item per axis so far; numpy also takes missing trailing axes whole, and '...' stands
    # for the axes it replaces (only with all axes present do the later items keep their axes)
    shorten = draw(st.sampled_from(["no", "no", "truncate", "ellipsis"]))
    if shorten == "truncate":
        items = items[: draw(st.integers(0, len(items)))]
    elif shorten == "ellipsis":
        i = draw(st.integers(0, len(items)))
        items[i : draw(st.integers(i, len(items)))] = [Ellipsis]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        items.insert(draw(st.integers(0, len(items))), None)
    key = items[0] if len(items) == 1 and draw(st.booleans()) else tuple(items)
    return draw(arrays(shape)), key


@SETTINGS
@given(case=index_cases())
def test_getitem_matches_numpy(case):
    a, key = case
    expected = a[key]
    got = t64(a)[key]
    assert_same(got, expected, rtol=0, atol=0)


@SETTINGS
@given(case=index_cases())
def test_getitem_gradient(case):
    a, key = case
    assert_gradients_match(lambda x: x[key], [a])


@pytest.mark.parametrize(
    "key",
    [
        (1, slice(None), [0, 2]),  # an int and an array separated by a slice: broadcast axes first
        ([1, 0], [0, 2]),  # two arrays index pointwise, not as an outer product
        (slice(None), [0, 1], [[2], [3]]),
        ([0, 0, 1], slice(None, None, -1), -1),
        (slice(None, None, -1), slice(3, 0, -2), slice(-1, None, -3)),  # negative steps
        (slice(None, -3, -1), slice(None), slice(1, None, 2)),  # an empty reversed range
        (Ellipsis, None, [[3], [-4]], None),
    ],
)
def test_getitem_advanced_indexing_follows_numpy(key):
    a = np.arange(24.0).reshape(2, 3, 4)
    assert_same(t64(a)[key], a[key], rtol=0, atol=0)
    assert_gradients_match(lambda x: x[key], [a])


def test_getitem_repeated_indices_accumulate_gradient():
    x = t64(np.arange(6.0).reshape(3, 2), requires_grad=True)
    x[[2, 0, 2, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])


@pytest.mark.parametrize(
    "key", [3, -4, (0, 4), (slice(None), -5), (Ellipsis, 4), (None, 3), (0, 0, 0), [0, 3], (slice(None), [-5])]
)
def test_getitem_out_of_range_is_an_index_error(key):
    with pytest.raises(IndexError):
        np.ones((3, 4))[key]
    with pytest.raises(IndexError):
        t64(np.ones((3, 4)))[key]


# ----- take, concatenate, stack, pad, one_hot


@st.composite
def take_cases(draw):
    shape = draw(shapes(min_dims=1))
    axis = None if draw(st.booleans()) else draw(st.integers(-len(shape), len(shape) - 1))
    n = int(np.prod(shape)) if axis is None else shape[axis]
    index_shape = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-n, n - 1)))
    return draw(arrays(shape)), indices, axis


@SETTINGS
@given(case=take_cases())
def test_take(case):
    a, indices, axis = case
    assert_same(fg.ops.take(t64(a), indices, axis=axis), np.take(a, indices, axis=axis), rtol=0, atol=0)
    assert_same(fg.ops.take(t64(a), indices.tolist(), axis=axis), np.take(a, indices, axis=axis), rtol=0, atol=0)
    assert_gradients_match(lambda x: fg.ops.take(x, indices, axis=axis), [a])


def test_take_repeated_indices_accumulate_gradient():
    x = t64(np.arange(12.0).reshape(3, 4), requires_grad=True)
    fg.ops.take(x, [3, 3, 0, 3], axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([1.0, 0.0, 0.0, 3.0], (3, 1)))


def test_take_out_of_range_is_an_error():
    with pytest.raises(ValueError):
        fg.ops.take(t64(np.ones((2, 3))), [3], axis=1)


@st.composite
def concatenate_cases(draw):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part_shape = list(shape)
        part_shape[axis] = draw(st.integers(1, 3))
        parts.append(draw(arrays(tuple(part_shape))))
    return parts, axis


@SETTINGS
@given(case=concatenate_cases())
def test_concatenate(case):
    parts, axis = case
    assert_same(fg.ops.concatenate([t64(p) for p in parts], axis=axis), np.concatenate(parts, axis=axis))
    assert_gradients_match(lambda *xs: fg.ops.concatenate(list(xs), axis=axis), parts)


def test_concatenate_mismatched_shapes_is_a_value_error():
    with pytest.raises(ValueError):
        fg.ops.concatenate([t64(np.ones((1, 2))), t64(np.ones((2, 3)))], axis=0)


@st.composite
def stack_cases(draw):
    shape = draw(shapes())
    parts = [draw(arrays(shape)) for _ in range(draw(st.integers(1, 3)))]
    return parts, draw(st.integers(-len(shape) - 1, len(shape)))


@SETTINGS
@given(case=stack_cases())
def test_stack(case):
    parts, axis = case
    assert_same(fg.ops.stack([t64(p) for p in parts], axis=axis), np.stack(parts, axis=axis))
    assert_gradients_match(lambda *xs: fg.ops.stack(xs, axis=axis), parts)


@st.composite
def pad_cases(draw):
    shape = draw(shapes(min_dims=1))
    width = st.integers(0, 2)
    form = draw(st.sampled_from(["int", "pair", "per_axis", "one_pair_list"]))
    if form == "int":
        pad_width = draw(width)
    elif form == "pair":
        pad_width = (draw(width), draw(width))
    elif form == "per_axis":
        pad_width = tuple((draw(width), draw(width)) for _ in shape)
    else:
        pad_width = ((draw(width), draw(width)),)
    constant = draw(st.none() | st.floats(-2, 2))
    return draw(arrays(shape)), pad_width, constant


@SETTINGS
@given(case=pad_cases())
def test_pad(case):
    a, pad_width, constant = case
    expected = np.pad(a, pad_width, mode="constant", constant_values=0.0 if constant is None else constant)
    kwargs = {} if constant is None else {"constant_values": constant}
    assert_same(fg.ops.pad(t64(a), pad_width, **kwargs), expected, rtol=0, atol=0)
    assert_gradients_match(lambda x: fg.ops.pad(x, pad_width, **kwargs), [a])


def test_pad_other_modes_are_a_value_error():
    with pytest.raises(ValueError):
        fg.ops.pad(t64(np.ones(3)), 1, mode="reflect")


@SETTINGS
@given(
    labels=hnp.arrays(np.int64, shapes(min_dims=0, max_dims=2), elements=st.integers(-2, 5)),
    num_classes=st.integers(1, 4),
    axis=st.sampled_from([-1, 0]),
)
def test_one_hot(labels, num_classes, axis):
    # out-of-range labels (negative or >= num_classes) give an all-zero row, as Keras
    expected = (labels[..., None] == np.arange(num_classes)).astype(np.float32)
    if axis == 0:
        expected = np.moveaxis(expected, -1, 0)
    got = fg.ops.one_hot(labels, num_classes, axis=axis)
    assert isinstance(got, fg.Tensor)
    assert got.dtype == "float32"
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(fg.ops.one_hot(labels.tolist(), num_classes, axis=axis).numpy(), expected)


def test_one_hot_explicit_values():
    got = fg.ops.one_hot([0, 2, 3, -1], 3, dtype="float64")
    assert got.dtype == "float64"
    np.testing.assert_array_equal(got.numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(fg.ops.one_hot([[1, 0]], 2, axis=0).numpy(), [[[0, 1]], [[1, 0]]])


# ----- softmax family


def np_softmax(a, axis):
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(a, axis):
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@st.composite
def softmax_cases(draw, low=-3.0, high=3.0):
    shape = draw(shapes(min_dims=1))
    return draw(arrays(shape, low, high)), draw(st.integers(-len(shape), len(shape) - 1))


@SETTINGS
@given(case=softmax_cases())
def test_softmax_and_log_softmax_match_numpy(case):
    a, axis = case
    assert_same(fg.ops.softmax(t64(a), axis=axis), np_softmax(a, axis))
    assert_same(t64(a).softmax(axis), np_softmax(a, axis))
    assert_same(fg.ops.log_softmax(t64(a), axis=axis), np_log_softmax(a, axis))
    assert_same(t64(a).log_softmax(axis), np_log_softmax(a, axis))
    if axis == -1:
        assert_same(fg.ops.softmax(t64(a)), np_softmax(a, -1))
        assert_same(fg.ops.log_softmax(t64(a)), np_log_softmax(a, -1))


@SETTINGS
@given(case=softmax_cases())
def test_softmax_family_gradients(case):
    a, axis = case
    assert_gradients_match(lambda x: fg.ops.softmax(x, axis=axis), [a])
    assert_gradients_match(lambda x: fg.ops.log_softmax(x, axis=axis), [a])
    assert_gradients_match(lambda x: fg.ops.logsumexp(x, axis=axis), [a])


@SETTINGS
@given(case=softmax_cases(), sign=st.sampled_from([1.0, -1.0]))
def test_softmax_family_stable_for_inputs_near_1000(case, sign):
    """Shifting by ±1000 (exp overflows / underflows) changes nothing but logsumexp's offset."""
    a, axis = case
    big = a + sign * 1000.0
    assert_same(fg.ops.softmax(t64(big), axis=axis), np_softmax(a, axis), atol=1e-12)
    assert_same(fg.ops.log_softmax(t64(big), axis=axis), np_log_softmax(a, axis), rtol=1e-9, atol=1e-9)
    assert_same(
        fg.ops.logsumexp(t64(big), axis=axis), np_logsumexp(a, axis=axis) + sign * 1000.0, rtol=1e-12, atol=1e-9
    )
    # the gradients are shift-invariant too, and finite
    for op in (fg.ops.softmax, fg.ops.log_softmax, fg.ops.logsumexp):
        grads = []
        for values in (a, big):
            x = t64(values, requires_grad=True)
            out = op(x, axis=axis)
            (out * t64(np.linspace(0.5, 1.5, out.size).reshape(out.shape))).sum().backward()
            grads.append(x.grad.numpy())
        assert np.all(np.isfinite(grads[1]))
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6, atol=1e-9)


def test_softmax_float32_large_inputs_are_finite():
    x = fg.tensor(np.array([1000.0, 1001.0, 1002.0], dtype=np.float32))
    expected = np_softmax(np.array([0.0, 1.0, 2.0]), -1)
    np.testing.assert_allclose(fg.ops.softmax(x).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(fg.ops.log_softmax(x).numpy(), np.log(expected), rtol=1e-5)
    np.testing.assert_allclose(fg.ops.logsumexp(x).numpy(), 1002.0 + np.log(np.sum(np.exp([-2.0, -1.0, 0.0]))))
