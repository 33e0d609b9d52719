"""Pooling and spatial reshaping layers against numpy references written here.

Sources of the references (Keras 3, channels_last):
- keras/src/layers/pooling/base_pooling.py and keras/src/ops/nn.py (``max_pool``,
  ``average_pool``): windows of ``pool_size`` every ``strides`` (default ``pool_size``);
  ``padding="valid"`` keeps whole windows, output ``floor((n - pool) / stride) + 1``;
  ``padding="same"`` gives ``floor((n - 1) / stride) + 1`` outputs with the padding split as
  TensorFlow's (``total = max((out - 1) * stride + pool - n, 0)``, ``total // 2`` before), padded
  elements never win a max and are excluded from an average's divisor.
- keras/src/layers/pooling/base_global_pooling.py: max / mean over the spatial axes, ``keepdims``.
- keras/src/layers/reshaping/{zero_padding,cropping,up_sampling}{1d,2d}.py: zeros added, rows
  removed, and nearest-neighbour repetition (``np.repeat``) along the spatial axes.
- UpSampling2D(interpolation="bilinear") calls ``ops.image.resize(x, (h * sh, w * sw),
  interpolation="bilinear")`` with ``antialias=False``: ``jax.image.resize(method="bilinear")`` /
  TensorFlow's half-pixel-centre bilinear resize. Output pixel ``o`` of an axis scaled from ``n``
  to ``m`` samples the input at ``(o + 0.5) * n / m - 0.5``, clamped to ``[0, n - 1]``, mixing the
  two neighbouring pixels linearly (``ref_bilinear`` below, one output pixel at a time).
Gradients are compared with central differences (conftest.numeric_gradients) in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg
from conftest import assert_gradients_match
from ferrograd import layers

GRAD_SETTINGS = settings(max_examples=40, deadline=None)
FORWARD_SETTINGS = settings(max_examples=40, deadline=None)


# ----- numpy references (direct loops over the windows)


def same_pad_before(n, pool, stride):
    out = -(-n // stride)
    return max((out - 1) * stride + pool - n, 0) // 2


def ref_pool2d(x, pool, strides, padding, mode):
    """Direct loop over output positions of a (batch, h, w, c) array; each window is cut to the
    real input, so padding neither wins a max nor counts in a mean."""
    batch, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "valid":
        out_h, out_w = (h - ph) // sh + 1, (w - pw) // sw + 1
        top = left = 0
    else:
        out_h, out_w = -(-h // sh), -(-w // sw)
        top, left = same_pad_before(h, ph, sh), same_pad_before(w, pw, sw)
    out = np.zeros((batch, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * sh - top, j * sw - left
            rows = range(max(r0, 0), min(r0 + ph, h))
            cols = range(max(c0, 0), min(c0 + pw, w))
            window = np.stack([x[:, r, q, :] for r in rows for q in cols])  # (k, batch, c)
            out[:, i, j, :] = window.max(axis=0) if mode == "max" else window.sum(axis=0) / len(window)
    return out


def ref_pool1d(x, pool, stride, padding, mode):
    return ref_pool2d(x[:, None], (1, pool), (1, stride), padding, mode)[:, 0]


def keras_length(n, pool, stride, padding):
    if n is None:
        return None
    return (n - pool) // stride + 1 if padding == "valid" else (n - 1) // stride + 1


def distinct_values(shape, seed):
    """Values at least 0.1 apart, so that no max pooling window has a tie (finite differences
    with eps=1e-6 never reorder them)."""
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    return (rng.permutation(n).reshape(shape) * 0.1 - 0.05 * n).astype(np.float64)


def ref_bilinear(x, size):
    """Half-pixel-centre bilinear upsampling of a (batch, h, w, c) array by integer factors,
    computed for each output pixel from its source coordinate."""
    batch, h, w, c = x.shape
    out_h, out_w = h * size[0], w * size[1]

    def source(o, n, m):
        coordinate = min(max((o + 0.5) * n / m - 0.5, 0.0), n - 1)
        lower = math.floor(coordinate)
        return lower, min(lower + 1, n - 1), coordinate - lower

    out = np.zeros((batch, out_h, out_w, c))
    for i in range(out_h):
        r0, r1, fy = source(i, h, out_h)
        for j in range(out_w):
            c0, c1, fx = source(j, w, out_w)
            top = (1 - fx) * x[:, r0, c0] + fx * x[:, r0, c1]
            bottom = (1 - fx) * x[:, r1, c0] + fx * x[:, r1, c1]
            out[:, i, j] = (1 - fy) * top + fy * bottom
    return out


POOLINGS_2D = {"max": layers.MaxPooling2D, "average": layers.AveragePooling2D}
POOLINGS_1D = {"max": layers.MaxPooling1D, "average": layers.AveragePooling1D}


@st.composite
def pool_case_2d(draw, max_side=7):
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(st.sampled_from(["valid", "same"]))
    h = draw(st.integers(pool[0] if padding == "valid" else 1, max_side))
    w = draw(st.integers(pool[1] if padding == "valid" else 1, max_side))
    shape = (draw(st.integers(1, 3)), h, w, draw(st.integers(1, 3)))
    return pool, strides, padding, shape, draw(st.integers(0, 2**16))


# ----- MaxPooling2D / AveragePooling2D


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    "pool,strides,padding",
    [
        ((2, 2), None, "valid"),
        ((2, 2), None, "same"),
        ((3, 3), (2, 2), "same"),
        ((3, 2), (1, 2), "valid"),
        ((2, 3), (3, 1), "same"),
        ((1, 1), (2, 2), "valid"),
        ((4, 4), (1, 1), "same"),
    ],
)
@pytest.mark.parametrize("batch", [1, 4])
def test_pool2d_forward_matches_reference(mode, pool, strides, padding, batch):
    x = np.random.default_rng(batch).normal(size=(batch, 7, 6, 3))
    layer = POOLINGS_2D[mode](pool_size=pool, strides=strides, padding=padding, dtype="float64")
    out = layer(x).numpy()
    expected = ref_pool2d(x, pool, strides or pool, padding, mode)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@FORWARD_SETTINGS
@given(pool_case_2d())
def test_pool2d_forward_hypothesis(case):
    pool, strides, padding, shape, seed = case
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    for mode, cls in POOLINGS_2D.items():
        out = cls(pool, strides, padding)(x).numpy()
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, ref_pool2d(x, pool, strides or pool, padding, mode), rtol=1e-5, atol=1e-6)


def test_same_average_pooling_divides_by_the_real_elements():
    # Keras's documented rule: a 3x3 'same' window at a corner of a 3x3 input of ones averages
    # 4 real ones (not 9 values with zeros), so every output is exactly 1.
    x = np.ones((1, 3, 3, 1))
    out = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same", dtype="float64")(x).numpy()
    np.testing.assert_array_equal(out, np.ones((1, 3, 3, 1)))
    # The 2x2 pool over a 3x3 input: windows of 4, 2, 2 and 1 real elements.
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out = layers.AveragePooling2D(padding="same", dtype="float64")(x).numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8]])


def test_max_pooling_ignores_same_padding_for_negative_inputs():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = layers.MaxPooling2D(padding="same", dtype="float64")(x).numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[-1, -3], [-7, -9]])


@GRAD_SETTINGS
@given(pool_case_2d(max_side=5))
def test_pool2d_gradients(case):
    pool, strides, padding, shape, seed = case
    x = distinct_values(shape, seed)
    for cls in POOLINGS_2D.values():
        layer = cls(pool, strides, padding, dtype="float64")
        assert_gradients_match(layer, [x])


def test_large_batches_take_the_parallel_path_and_agree():
    x = np.random.default_rng(3).normal(size=(16, 32, 32, 8))
    for mode, cls in POOLINGS_2D.items():
        layer = cls((3, 3), strides=(2, 2), padding="same", dtype="float64")
        np.testing.assert_allclose(layer(x).numpy(), ref_pool2d(x, (3, 3), (2, 2), "same", mode), rtol=1e-12)
    # The gradient of sum(out) in the parallel path equals the per-sample one.
    xt = fg.tensor(x, requires_grad=True, dtype="float64")
    layers.MaxPooling2D(dtype="float64")(xt).sum().backward()
    one = fg.tensor(x[:1], requires_grad=True, dtype="float64")
    layers.MaxPooling2D(dtype="float64")(one).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy()[:1], one.grad.numpy())
    assert xt.grad.numpy().sum() == 16 * 16 * 16 * 8


# ----- 1-D pooling


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool,stride,padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid"), (4, 3, "same")])
def test_pool1d_forward_and_gradients(mode, pool, stride, padding):
    x = distinct_values((2, 7, 3), pool)
    layer = POOLINGS_1D[mode](pool_size=pool, strides=stride, padding=padding, dtype="float64")
    np.testing.assert_allclose(layer(x).numpy(), ref_pool1d(x, pool, stride or pool, padding, mode), rtol=1e-12)
    assert_gradients_match(layer, [x])


# ----- global pooling


GLOBALS = {
    (layers.GlobalAveragePooling1D, 1): np.mean,
    (layers.GlobalAveragePooling2D, 2): np.mean,
    (layers.GlobalMaxPooling1D, 1): np.max,
    (layers.GlobalMaxPooling2D, 2): np.max,
}


@pytest.mark.parametrize("cls,rank", list(GLOBALS))
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_forward_and_gradients(cls, rank, keepdims):
    shape = (3, 4, 5, 2)[: rank + 1] + (2,)
    x = distinct_values(shape, rank)
    layer = cls(keepdims=keepdims, dtype="float64")
    axes = tuple(range(1, rank + 1))
    expected = GLOBALS[(cls, rank)](x, axis=axes, keepdims=keepdims)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12)
    assert_gradients_match(layer, [x])
    inp = fg.Input(shape=(None,) * rank + (6,))
    assert layer(inp).shape == ((None,) + (1,) * rank + (6,) if keepdims else (None, 6))


# ----- padding, cropping, upsampling


@pytest.mark.parametrize(
    "layer,reference",
    [
        (layers.ZeroPadding1D(2, dtype="float64"), lambda x: np.pad(x, ((0, 0), (2, 2), (0, 0)))),
        (layers.ZeroPadding1D((0, 3), dtype="float64"), lambda x: np.pad(x, ((0, 0), (0, 3), (0, 0)))),
        (layers.ZeroPadding2D(dtype="float64"), lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
        (layers.ZeroPadding2D((2, 0), dtype="float64"), lambda x: np.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)))),
        (
            layers.ZeroPadding2D(((1, 0), (0, 2)), dtype="float64"),
            lambda x: np.pad(x, ((0, 0), (1, 0), (0, 2), (0, 0))),
        ),
        (layers.Cropping1D(dtype="float64"), lambda x: x[:, 1:-1]),
        (layers.Cropping1D((2, 0), dtype="float64"), lambda x: x[:, 2:]),
        (layers.Cropping2D(1, dtype="float64"), lambda x: x[:, 1:-1, 1:-1]),
        (layers.Cropping2D(((0, 1), (2, 1)), dtype="float64"), lambda x: x[:, :-1, 2:-1]),
        (layers.UpSampling1D(3, dtype="float64"), lambda x: np.repeat(x, 3, axis=1)),
        (layers.UpSampling2D(dtype="float64"), lambda x: np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)),
        (layers.UpSampling2D((1, 3), dtype="float64"), lambda x: np.repeat(x, 3, axis=2)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, layers.Layer) else "",
)
def test_spatial_reshaping_forward_and_gradients(layer, reference):
    rank = 1 if type(layer).__name__.endswith("1D") else 2
    x = np.random.default_rng(rank).normal(size=(2, 4, 5, 2)[: rank + 1] + (2,))
    np.testing.assert_array_equal(layer(x).numpy(), reference(x))
    assert_gradients_match(layer, [x])
    # symbolic shapes agree with the eager ones, and unknown axes stay unknown
    inp = fg.Input(shape=x.shape[1:])
    assert layer(inp).shape == (None,) + reference(x).shape[1:]
    unknown = layer(fg.Input(shape=(None,) * rank + (2,))).shape
    assert unknown == (None,) * (rank + 1) + (2,)


# ----- UpSampling2D(interpolation="bilinear")


def test_bilinear_upsampling_worked_examples():
    # 2x of [[1, 2], [3, 4]]: output row/column o samples (o + 0.5) / 2 - 0.5 = -0.25 (clamped to
    # 0), 0.25, 0.75, 1.25 (clamped to 1). Row 0 is [1, 1 + 0.25, 1 + 0.75, 2]; row 1 mixes rows 0
    # and 1 as 0.75 / 0.25: [1.5, 1.75, 2.25, 2.5]; rows 2 and 3 mirror them.
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    expected = [
        [1.0, 1.25, 1.75, 2.0],
        [1.5, 1.75, 2.25, 2.5],
        [2.5, 2.75, 3.25, 3.5],
        [3.0, 3.25, 3.75, 4.0],
    ]
    for dtype in ("float32", "float64"):
        out = layers.UpSampling2D(interpolation="bilinear", dtype=dtype)(x.astype(dtype)).numpy()
        assert out.dtype == dtype
        np.testing.assert_array_equal(out[0, :, :, 0], expected)
    # size (1, 3) of the row [0, 3]: columns sample (o + 0.5) / 3 - 0.5 = -1/3, 0, 1/3, 2/3, 1, 4/3
    # -> [0, 0, 1, 2, 3, 3]; a factor of 1 keeps the rows as they are.
    x = np.array([[0.0, 3.0], [6.0, 9.0]]).reshape(1, 2, 2, 1)
    out = layers.UpSampling2D((1, 3), interpolation="Bilinear", dtype="float64")(x).numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[0, 0, 1, 2, 3, 3], [6, 6, 7, 8, 9, 9]], atol=1e-12)
    # A single pixel stays constant.
    out = layers.UpSampling2D((2, 3), interpolation="bilinear")(np.full((1, 1, 1, 2), 5.0, "float32")).numpy()
    np.testing.assert_array_equal(out, np.full((1, 2, 3, 2), 5.0))


@st.composite
def upsampling_case(draw, max_side=5, max_batch=3):
    shape = (
        draw(st.integers(1, max_batch)),
        draw(st.integers(1, max_side)),
        draw(st.integers(1, max_side)),
        draw(st.integers(1, 3)),
    )
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return shape, size, draw(st.integers(0, 2**16))


@FORWARD_SETTINGS
@given(upsampling_case())
def test_bilinear_upsampling_matches_the_reference(case):
    shape, size, seed = case
    x = np.random.default_rng(seed).normal(size=shape)
    expected = ref_bilinear(x, size)
    out = layers.UpSampling2D(size, interpolation="bilinear", dtype="float64")(x).numpy()
    assert out.shape == (shape[0], shape[1] * size[0], shape[2] * size[1], shape[3])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out32 = layers.UpSampling2D(size, interpolation="bilinear")(x.astype(np.float32)).numpy()
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected, rtol=1e-5, atol=1e-5)


@GRAD_SETTINGS
@given(upsampling_case(max_side=4, max_batch=2))
def test_bilinear_upsampling_gradients(case):
    shape, size, seed = case
    x = np.random.default_rng(seed).normal(size=shape)
    assert_gradients_match(layers.UpSampling2D(size, interpolation="bilinear", dtype="float64"), [x])


def test_bilinear_upsampling_large_batch_takes_the_parallel_path():
    x = np.random.default_rng(5).normal(size=(12, 16, 12, 8))
    layer = layers.UpSampling2D((2, 3), interpolation="bilinear", dtype="float64")
    np.testing.assert_allclose(layer(x).numpy(), ref_bilinear(x, (2, 3)), rtol=1e-12, atol=1e-12)
    xt = fg.tensor(x, requires_grad=True, dtype="float64")
    layer(xt).sum().backward()
    # Each input pixel's weights over the output sum to the scale factors' product: 2 * 3.
    np.testing.assert_allclose(xt.grad.numpy(), np.full(x.shape, 6.0), rtol=1e-12)


def test_bilinear_upsampling_shapes_config_and_training():
    layer = layers.UpSampling2D((2, 3), interpolation="bilinear")
    assert layer(fg.Input((4, None, 2))).shape == (None, 8, None, 2)
    config = layer.get_config()
    assert config["interpolation"] == "bilinear" and config["size"] == (2, 3)
    assert layers.UpSampling2D.from_config(config).get_config() == config
    assert layers.UpSampling2D(interpolation="BILINEAR").interpolation == "bilinear"
    fg.utils.set_random_seed(0)
    model = fg.Sequential(
        [
            fg.Input((4, 4, 1)),
            layers.Conv2D(2, 3, padding="same"),
            layers.UpSampling2D(interpolation="bilinear"),
            layers.Conv2D(1, 3, padding="same"),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4, 4, 1)).astype(np.float32)
    y = np.stack([ref_bilinear(s[None], (2, 2))[0] for s in x]).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ----- symbolic shapes (Keras's formulas)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool,strides", [((2, 2), None), ((3, 2), (2, 3)), ((1, 3), (1, 1))])
def test_symbolic_output_shapes_follow_keras(padding, pool, strides):
    s = strides or pool
    for h, w in [(9, 8), (None, 5), (3, None)]:
        inp = fg.Input(shape=(h, w, 4))
        for cls in POOLINGS_2D.values():
            out = cls(pool, strides, padding)(inp)
            assert out.shape == (
                None,
                keras_length(h, pool[0], s[0], padding),
                keras_length(w, pool[1], s[1], padding),
                4,
            )
    inp = fg.Input(shape=(10, 3))
    assert layers.MaxPooling1D(pool[1], strides and strides[1], padding)(inp).shape == (
        None,
        keras_length(10, pool[1], s[1], padding),
        3,
    )


def test_pooling_in_a_model_trains():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 8, 2)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    model = fg.Sequential(
        [
            fg.Input(shape=(8, 8, 2)),
            layers.ZeroPadding2D(),
            layers.MaxPooling2D(),
            layers.AveragePooling2D(padding="same"),
            layers.UpSampling2D(),
            layers.Cropping2D(1),
            layers.GlobalAveragePooling2D(),
            layers.Dense(1),
        ]
    )
    assert model.predict(x, verbose=0).shape == (16, 1)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_configs_round_trip():
    for layer in [
        layers.MaxPooling2D((3, 2), strides=1, padding="SAME"),
        layers.AveragePooling1D(4),
        layers.GlobalMaxPooling2D(keepdims=True),
        layers.ZeroPadding2D(((1, 2), (3, 4))),
        layers.Cropping2D(2),
        layers.UpSampling2D(3),
    ]:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
    config = layers.MaxPooling2D((3, 2), strides=1, padding="SAME").get_config()
    assert (config["pool_size"], config["strides"], config["padding"]) == ((3, 2), (1, 1), "same")
    assert layers.AveragePooling2D().get_config()["strides"] == (2, 2)


# ----- bad input


def test_pool_larger_than_input_with_valid_padding_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(1, 2, 5, 1\)|\[3, 3\].*\(1, 2, 5, 1\)"):
        layers.MaxPooling2D((3, 3))(np.zeros((1, 2, 5, 1), np.float32))
    with pytest.raises(ValueError, match=r"\(None, 2, 5, 1\)"):
        layers.AveragePooling2D((3, 3))(fg.Input(shape=(2, 5, 1)))
    with pytest.raises(ValueError, match=r"\(1, 2, 1\)"):
        layers.MaxPooling1D(3)(np.zeros((1, 2, 1), np.float32))
    # 'same' padding accepts it, as Keras
    assert layers.MaxPooling2D((3, 3), padding="same")(np.zeros((1, 2, 5, 1), np.float32)).shape == (1, 1, 2, 1)


@pytest.mark.parametrize(
    "layer,shape",
    [
        (layers.MaxPooling2D(), (2, 4, 4)),
        (layers.AveragePooling1D(), (2, 4, 4, 1)),
        (layers.GlobalAveragePooling2D(), (2, 4, 4)),
        (layers.GlobalMaxPooling1D(), (4, 4)),
        (layers.ZeroPadding2D(), (2, 4)),
        (layers.Cropping2D(), (2, 4, 4, 1, 1)),
        (layers.UpSampling1D(), (2, 4, 4, 1)),
    ],
)
def test_wrong_rank_is_a_clear_error(layer, shape):
    with pytest.raises(ValueError, match=r"expects a [34]-D input.*got input shape"):
        layer(np.zeros(shape, np.float32))


def test_bad_arguments():
    with pytest.raises(ValueError, match="pool_size"):
        layers.MaxPooling2D((0, 2))
    with pytest.raises(ValueError, match="strides"):
        layers.AveragePooling2D(strides=(1, 2, 3))
    with pytest.raises(ValueError, match="padding"):
        layers.MaxPooling1D(padding="full")
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping2D(((0, -1), (0, 0)))
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping1D(-1)
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding2D(-1)
    with pytest.raises(ValueError, match="size"):
        layers.UpSampling2D((0, 1))
    with pytest.raises(NotImplementedError):
        layers.MaxPooling2D(data_format="channels_first")
    # Keras's other resize methods are not implemented; unknown names are invalid. Both name
    # the supported ones.
    for name in ("bicubic", "lanczos3", "Lanczos5"):
        with pytest.raises(NotImplementedError, match=r"interpolation='[a-zA-Z0-9]+'.*'nearest', 'bilinear'"):
            layers.UpSampling2D(interpolation=name)
    for name in ("area", "linear", "", None):
        with pytest.raises(ValueError, match=r"`interpolation`.*\('nearest', 'bilinear'\).*Received"):
            layers.UpSampling2D(interpolation=name)
    with pytest.raises(ValueError, match=r"`size` argument must be a tuple of 2 integers.*\(2, 2, 2\)"):
        layers.UpSampling2D((2, 2, 2), interpolation="bilinear")
    with pytest.raises(ValueError, match=r"expects a 4-D input.*\(2, 4, 4\)"):
        layers.UpSampling2D(interpolation="bilinear")(np.zeros((2, 4, 4), np.float32))


def test_cropping_everything_is_a_clear_error():
    with pytest.raises(ValueError, match=r"removes every element.*\(2, 3, 4, 1\)"):
        layers.Cropping2D(((2, 1), (0, 0)))(np.zeros((2, 3, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"\(None, 4, 3\)"):
        layers.Cropping1D((2, 2))(fg.Input(shape=(4, 3)))
