"""fg.layers convolutions against numpy references written here from Keras 3's definitions.

Sources of the references:
- keras/src/layers/convolutional/base_conv.py and keras/src/ops/nn.py (``conv``): channels_last,
  kernel ``(*kernel_size, in / groups, filters)``, bias ``(filters,)``; output channel ``f`` of
  group ``g = f // (filters / groups)`` sees input channels ``g * in/groups .. (g + 1) * in/groups``;
  ``y[n, o, f] = sum_{taps, c} x[n, o * stride + tap * dilation - pad_before, c] * w[tap, c, f]``.
- "same" padding (TensorFlow's rule, which Keras's backends follow):
  ``pad_total = max((ceil(in / stride) - 1) * stride + (k - 1) * dilation + 1 - in, 0)``,
  ``pad_before = pad_total // 2``; output ``ceil(in / stride)``; "valid": ``(in - span) // stride + 1``
  with ``span = (k - 1) * dilation + 1``; Conv1D "causal": ``(k - 1) * dilation`` zeros before.
- keras/src/layers/convolutional/base_conv_transpose.py and
  keras/src/backend/common/backend_utils.py (``compute_conv_transpose_output_shape``):
  kernel ``(*kernel_size, filters, in)``; output length without ``output_padding``
  ``in * stride + max(span - stride, 0)`` ("valid") or ``in * stride`` ("same"), with
  ``output_padding`` ``p < stride``: ``(in - 1) * stride + span + p`` ("valid") or
  ``(in - 1) * stride + span % 2 + p`` ("same"). Every input pixel scatters ``x * kernel`` onto
  ``o * stride + tap * dilation - crop``. The crop is ``span - 1 - left_pad`` with Keras's JAX
  rule (``_convert_conv_transpose_padding_args_from_keras_to_jax``; its torch backend crops to the
  same window): ``left_pad = span - 1`` for "valid", and for "same"
  ``min(ceil(pad_len / 2), span - 1)`` with ``pad_len = stride + span - 2`` (no ``output_padding``)
  or ``span + span % 2 - 2 + p``. Without ``output_padding`` that crop is TensorFlow's "same"
  padding of the output length (``conv2d_transpose``). ``ref_lax_conv_transpose`` computes the
  same thing JAX's way (the input dilated by the stride, padded by ``(left_pad, right_pad)``,
  correlated with the flipped kernel) as a check of the crop rule.
- keras/src/layers/convolutional/base_depthwise_conv.py: kernel ``(*kernel_size, in, multiplier)``,
  output channel ``c * multiplier + m``.
The reference below is a direct loop over output positions and kernel taps (no im2col); gradients
are compared with central differences computed here (weights perturbed through ``set_weights``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg
from ferrograd import layers

FORWARD_SETTINGS = settings(max_examples=60, deadline=None)
GRAD_SETTINGS = settings(max_examples=30, deadline=None)


# ----- numpy reference: direct loops


def same_pads(size, k, stride, dilation):
    total = max((math.ceil(size / stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pads_for(padding, size, k, stride, dilation):
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return (k - 1) * dilation, 0
    return same_pads(size, k, stride, dilation)


def ref_conv(x, kernel, bias=None, strides=None, padding="valid", dilation=None, groups=1):
    """N-d channels-last convolution by its definition: x (n, *spatial, c), kernel
    (*k, c / groups, filters)."""
    rank = x.ndim - 2
    strides = strides or (1,) * rank
    dilation = dilation or (1,) * rank
    ksize = kernel.shape[:rank]
    cg, filters = kernel.shape[rank], kernel.shape[rank + 1]
    fg_ = filters // groups
    pads = [pads_for(padding, x.shape[1 + a], ksize[a], strides[a], dilation[a]) for a in range(rank)]
    out_sizes = [
        (x.shape[1 + a] + sum(pads[a]) - ((ksize[a] - 1) * dilation[a] + 1)) // strides[a] + 1 for a in range(rank)
    ]
    out = np.zeros((x.shape[0], *out_sizes, filters))
    for n in range(x.shape[0]):
        for pos in itertools.product(*[range(s) for s in out_sizes]):
            for f in range(filters):
                g = f // fg_
                total = 0.0
                for tap in itertools.product(*[range(k) for k in ksize]):
                    idx = [pos[a] * strides[a] + tap[a] * dilation[a] - pads[a][0] for a in range(rank)]
                    if any(i < 0 or i >= x.shape[1 + a] for a, i in enumerate(idx)):
                        continue
                    for c in range(cg):
                        total += x[(n, *idx, g * cg + c)] * kernel[(*tap, c, f)]
                out[(n, *pos, f)] = total + (0.0 if bias is None else bias[f])
    return out


def ref_depthwise(x, kernel, bias=None, **kw):
    """Depthwise by its definition: channel c convolved with kernel[..., c, m] into c * mult + m."""
    rank = x.ndim - 2
    channels, mult = kernel.shape[rank], kernel.shape[rank + 1]
    outs = []
    for c in range(channels):
        one = ref_conv(x[..., c : c + 1], kernel[..., c : c + 1, :], **kw)
        outs.append(one)
    out = np.stack(outs, axis=-2).reshape(*outs[0].shape[:-1], channels * mult)
    return out if bias is None else out + bias


def keras_transpose_length(size, k, stride, dilation, padding, output_padding=None):
    """Keras's ``_get_output_shape_given_tf_padding``."""
    span = (k - 1) * dilation + 1
    if output_padding is None:
        return size * stride if padding == "same" else size * stride + max(span - stride, 0)
    return (size - 1) * stride + (span % 2 if padding == "same" else span) + output_padding


def keras_jax_pads(k, stride, dilation, padding, output_padding=None):
    """Keras's ``_convert_conv_transpose_padding_args_from_keras_to_jax``: (left_pad, right_pad)."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    pad_len = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, span - 1)
    return left, pad_len - left


def ref_conv_transpose(x, kernel, bias=None, strides=None, padding="valid", dilation=None, output_padding=None):
    """Transposed convolution by scattering: x (n, *spatial, c), kernel (*k, filters, c)."""
    rank = x.ndim - 2
    strides = strides or (1,) * rank
    dilation = dilation or (1,) * rank
    output_padding = output_padding or (None,) * rank
    ksize = kernel.shape[:rank]
    filters = kernel.shape[rank]
    out_sizes = [
        keras_transpose_length(x.shape[1 + a], ksize[a], strides[a], dilation[a], padding, output_padding[a])
        for a in range(rank)
    ]
    crop = [
        (ksize[a] - 1) * dilation[a] - keras_jax_pads(ksize[a], strides[a], dilation[a], padding, output_padding[a])[0]
        for a in range(rank)
    ]
    out = np.zeros((x.shape[0], *out_sizes, filters))
    for n in range(x.shape[0]):
        for pos in itertools.product(*[range(s) for s in x.shape[1 : 1 + rank]]):
            for tap in itertools.product(*[range(k) for k in ksize]):
                idx = [pos[a] * strides[a] + tap[a] * dilation[a] - crop[a] for a in range(rank)]
                if any(i < 0 or i >= out_sizes[a] for a, i in enumerate(idx)):
                    continue
                out[(n, *idx)] += kernel[tap] @ x[(n, *pos)]
    return out if bias is None else out + bias


def ref_lax_conv_transpose(x, kernel, strides, padding, dilation, output_padding):
    """JAX's ``conv_transpose(..., transpose_kernel=True)`` as Keras calls it: the input dilated by
    the stride (``stride - 1`` zeros between pixels), padded by Keras's ``(left_pad, right_pad)``,
    then correlated with the spatially flipped, dilated kernel."""
    rank = x.ndim - 2
    ksize = kernel.shape[:rank]
    dilated_shape = [(x.shape[1 + a] - 1) * strides[a] + 1 for a in range(rank)]
    dilated = np.zeros((x.shape[0], *dilated_shape, x.shape[-1]))
    dilated[(slice(None), *[slice(None, None, s) for s in strides])] = x
    pads = [keras_jax_pads(ksize[a], strides[a], dilation[a], padding, output_padding[a]) for a in range(rank)]
    padded = np.pad(dilated, [(0, 0), *pads, (0, 0)])
    flipped = kernel[tuple(slice(None, None, -1) for _ in range(rank))]
    spans = [(k - 1) * d + 1 for k, d in zip(ksize, dilation)]
    out_sizes = [padded.shape[1 + a] - spans[a] + 1 for a in range(rank)]
    out = np.zeros((x.shape[0], *out_sizes, kernel.shape[rank]))
    for pos in itertools.product(*[range(s) for s in out_sizes]):
        for tap in itertools.product(*[range(k) for k in ksize]):
            src = tuple(pos[a] + tap[a] * dilation[a] for a in range(rank))
            out[(slice(None), *pos)] += padded[(slice(None), *src)] @ flipped[tap].T
    return out


# ----- gradient helper


def layer_gradients(layer, x, eps=1e-6):
    """Analytic (tape) and central-difference gradients of sum(w * layer(x)) for input, kernel, bias."""
    x = np.asarray(x, dtype=np.float64)
    leaf = fg.tensor(x, requires_grad=True, dtype="float64")
    with fg.GradientTape() as tape:
        out = layer(leaf)
        weighting = np.random.default_rng(0).uniform(0.5, 1.5, size=out.shape)
        loss = (out * fg.tensor(weighting, dtype="float64")).sum()
    grads = tape.gradient(loss, [leaf, *layer.weights])
    original = layer.get_weights()
    analytic = [np.zeros(np.shape(r)) if g is None else g.numpy() for g, r in zip(grads, [x, *original])]

    def value(inp, weights):
        layer.set_weights(weights)
        with fg.no_grad():
            return float(np.sum(weighting * layer(fg.tensor(inp, dtype="float64")).numpy()))

    numeric = []
    for j, base in enumerate([x, *original]):
        g = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            vals = []
            for sign in (1, -1):
                arrays = [x.copy(), *[w.copy() for w in original]]
                arrays[j][idx] += sign * eps
                vals.append(value(arrays[0], arrays[1:]))
            g[idx] = (vals[0] - vals[1]) / (2 * eps)
        numeric.append(g)
    layer.set_weights(original)
    return analytic, numeric


def assert_layer_gradients(layer, x):
    analytic, numeric = layer_gradients(layer, x)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(a, n, atol=1e-6, rtol=1e-5, err_msg=f"gradient {i} of {layer.name}")


# ----- strategies


@st.composite
def conv_case(draw, rank, max_side=6):
    """A convolution setting and input shape whose kernel fits: (kwargs for the layer, input shape)."""
    groups = draw(st.sampled_from([1, 1, 2]))
    channels = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    kernel_size = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilated = draw(st.booleans())
    if dilated:
        strides, dilation = (1,) * rank, tuple(draw(st.integers(1, 2)) for _ in range(rank))
    else:
        strides, dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank)), (1,) * rank
    paddings = ["valid", "same", "causal"] if rank == 1 else ["valid", "same"]
    padding = draw(st.sampled_from(paddings))
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    spatial = tuple(draw(st.integers(span if padding == "valid" else 1, max(span, max_side))) for span in spans)
    batch = draw(st.integers(1, 3))
    kwargs = {
        "filters": filters,
        "kernel_size": kernel_size,
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "groups": groups,
    }
    return kwargs, (batch, *spatial, channels)


def make_layer(rank, kwargs, **extra):
    cls = layers.Conv1D if rank == 1 else layers.Conv2D
    return cls(**kwargs, **extra)


def random_weights(layer, input_shape, rng):
    layer.build(input_shape)
    weights = [rng.normal(size=w.shape) for w in layer.get_weights()]
    layer.set_weights(weights)
    return weights


# ----- forward values


@pytest.mark.parametrize("rank", [1, 2])
@FORWARD_SETTINGS
@given(data=st.data())
def test_conv_forward_matches_the_direct_loops(rank, data):
    kwargs, shape = data.draw(conv_case(rank))
    use_bias = data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer = make_layer(rank, kwargs, use_bias=use_bias, dtype="float64")
    weights = random_weights(layer, shape, rng)
    x = rng.normal(size=shape)
    expected = ref_conv(
        x,
        weights[0],
        weights[1] if use_bias else None,
        strides=kwargs["strides"],
        padding=kwargs["padding"],
        dilation=kwargs["dilation_rate"],
        groups=kwargs["groups"],
    )
    y = layer(x).numpy()
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    # Shapes for symbolic inputs agree with what the data gives (Keras's formulas).
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *expected.shape[1:])


def test_conv2d_float32_relu_and_larger_threaded_shapes():
    # Large enough to run the threaded and tiled kernels; float32 against the float64 reference.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 12, 11, 16)).astype(np.float32)
    layer = layers.Conv2D(24, (3, 2), padding="same", activation="relu", groups=2)
    weights = random_weights(layer, x.shape, rng)
    expected = np.maximum(ref_conv(x.astype(np.float64), weights[0], weights[1], padding="same", groups=2), 0)
    y = layer(x)
    assert y.dtype == "float32"
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_pointwise_conv_is_a_matmul_over_pixels():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 5, 3))
    layer = layers.Conv2D(6, 1, dtype="float64")
    kernel, bias = random_weights(layer, x.shape, rng)
    np.testing.assert_allclose(layer(x).numpy(), x @ kernel[0, 0] + bias, rtol=1e-12)
    assert_layer_gradients(layer, x[:1, :2, :2])


def test_conv2d_keras_layout_worked_example():
    # A 3x3 input and a 2x2 kernel of ones on channel 0, -1 on channel 1, bias 0.5: each output is
    # the sum of the window's channel-0 values minus its channel-1 values, plus 0.5.
    x = np.arange(18, dtype=np.float64).reshape(1, 3, 3, 2)
    layer = layers.Conv2D(1, 2, dtype="float64")
    layer.build(x.shape)
    kernel = np.zeros((2, 2, 2, 1))
    kernel[:, :, 0, 0], kernel[:, :, 1, 0] = 1.0, -1.0
    layer.set_weights([kernel, np.array([0.5])])
    # channel 0 minus channel 1 is -1 everywhere: 4 taps -> -4, + 0.5
    np.testing.assert_allclose(layer(x).numpy(), np.full((1, 2, 2, 1), -3.5))
    assert [w.shape for w in layer.weights] == [(2, 2, 2, 1), (1,)]


def test_conv1d_causal_only_sees_the_past():
    x = np.array([[[1.0], [2.0], [3.0], [4.0]]])
    layer = layers.Conv1D(1, 2, padding="causal", dilation_rate=2, use_bias=False, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([np.array([[[1.0]], [[10.0]]])])  # taps t - 2 and t
    np.testing.assert_allclose(layer(x).numpy()[0, :, 0], [10.0, 20.0, 31.0, 42.0])


@pytest.mark.parametrize("rank", [1, 2])
def test_depthwise_forward_matches_the_definition(rank):
    rng = np.random.default_rng(3)
    shape = (2, 7, 3) if rank == 1 else (2, 6, 5, 3)
    cls = layers.DepthwiseConv1D if rank == 1 else layers.DepthwiseConv2D
    layer = cls(3, strides=2, padding="same", depth_multiplier=2, dtype="float64")
    kernel, bias = random_weights(layer, shape, rng)
    assert kernel.shape == (3,) * rank + (3, 2)
    x = rng.normal(size=shape)
    expected = ref_depthwise(x, kernel, bias, strides=(2,) * rank, padding="same")
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-10)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *expected.shape[1:])
    assert_layer_gradients(layer, x[:1])


@pytest.mark.parametrize("rank", [1, 2])
def test_separable_conv_is_depthwise_then_pointwise(rank):
    rng = np.random.default_rng(4)
    shape = (2, 7, 2) if rank == 1 else (2, 6, 5, 2)
    cls = layers.SeparableConv1D if rank == 1 else layers.SeparableConv2D
    layer = cls(3, 2, padding="same", depth_multiplier=2, dilation_rate=2, dtype="float64")
    depthwise, pointwise, bias = random_weights(layer, shape, rng)
    assert [w.shape for w in layer.weights] == [(2,) * rank + (2, 2), (1,) * rank + (4, 3), (3,)]
    x = rng.normal(size=shape)
    spread = ref_depthwise(x, depthwise, padding="same", dilation=(2,) * rank)
    expected = ref_conv(spread, pointwise, bias)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-10)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *expected.shape[1:])
    assert_layer_gradients(layer, x[:1])


# ----- gradients


@pytest.mark.parametrize("rank", [1, 2])
@GRAD_SETTINGS
@given(data=st.data())
def test_conv_gradients_match_central_differences(rank, data):
    kwargs, shape = data.draw(conv_case(rank, max_side=5))
    shape = (min(shape[0], 2), *shape[1:])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer = make_layer(rank, kwargs, dtype="float64", activation=data.draw(st.sampled_from([None, "tanh"])))
    random_weights(layer, shape, rng)
    assert_layer_gradients(layer, rng.normal(size=shape))


# ----- transposed convolutions


@st.composite
def transpose_case(draw, rank):
    """(kwargs, input shape) of a transposed convolution, with or without ``output_padding``."""
    kernel_size = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    if draw(st.booleans()):
        strides, dilation = (1,) * rank, tuple(draw(st.integers(1, 2)) for _ in range(rank))
    else:
        strides, dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank)), (1,) * rank
    output_padding = draw(st.none() | st.tuples(*(st.integers(0, s - 1) for s in strides)))
    kwargs = {
        "filters": draw(st.integers(1, 3)),
        "kernel_size": kernel_size,
        "strides": strides,
        "padding": draw(st.sampled_from(["valid", "same"])),
        "dilation_rate": dilation,
        "output_padding": output_padding,
    }
    shape = (draw(st.integers(1, 3)), *(draw(st.integers(1, 4)) for _ in range(rank)), draw(st.integers(1, 3)))
    return kwargs, shape


def transpose_output_sizes(kwargs, shape):
    rank = len(kwargs["kernel_size"])
    output_padding = kwargs["output_padding"] or (None,) * rank
    return [
        keras_transpose_length(
            shape[1 + a],
            kwargs["kernel_size"][a],
            kwargs["strides"][a],
            kwargs["dilation_rate"][a],
            kwargs["padding"],
            output_padding[a],
        )
        for a in range(rank)
    ]


def transpose_layer(rank, kwargs, shape, **extra):
    """The layer for a drawn case, or None after checking the clear error Keras's formula
    implies: "same" with an even span, output_padding 0 and one input step gives length 0."""
    cls = layers.Conv1DTranspose if rank == 1 else layers.Conv2DTranspose
    layer = cls(**kwargs, **extra)
    if 0 in transpose_output_sizes(kwargs, shape):
        # The message names output_padding (one entry per axis: the empty axis's is 0, another's
        # may not be) and the input shape.
        message = r"output_padding \[[^\]]*\b0\b[^\]]*\].*empty input or output.*input shape \("
        with pytest.raises(ValueError, match=message):
            layer.build(shape)
        return None
    return layer


@pytest.mark.parametrize("rank", [1, 2])
@FORWARD_SETTINGS
@given(data=st.data())
def test_conv_transpose_forward_matches_the_scatter_definition(rank, data):
    kwargs, shape = data.draw(transpose_case(rank))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer = transpose_layer(rank, kwargs, shape, dtype="float64")
    if layer is None:
        return
    kernel, bias = random_weights(layer, shape, rng)
    assert kernel.shape == (*kwargs["kernel_size"], kwargs["filters"], shape[-1])
    x = rng.normal(size=shape)
    expected = ref_conv_transpose(
        x,
        kernel,
        bias,
        strides=kwargs["strides"],
        padding=kwargs["padding"],
        dilation=kwargs["dilation_rate"],
        output_padding=kwargs["output_padding"],
    )
    assert list(expected.shape[1:-1]) == transpose_output_sizes(kwargs, shape)
    y = layer(x).numpy()
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *expected.shape[1:])


@pytest.mark.parametrize("rank", [1, 2])
@FORWARD_SETTINGS
@given(data=st.data())
def test_scatter_reference_matches_jax_conv_transpose_definition(rank, data):
    """The crop rule of the scatter reference against JAX's formulation, which Keras's JAX backend
    calls (and its torch backend reproduces): no code under test here, only the two references."""
    kwargs, shape = data.draw(transpose_case(rank))
    if 0 in transpose_output_sizes(kwargs, shape):
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.normal(size=shape)
    kernel = rng.normal(size=(*kwargs["kernel_size"], kwargs["filters"], shape[-1]))
    output_padding = kwargs["output_padding"] or (None,) * rank
    args = (kwargs["strides"], kwargs["padding"], kwargs["dilation_rate"])
    np.testing.assert_allclose(
        ref_conv_transpose(x, kernel, None, *args, output_padding=output_padding),
        ref_lax_conv_transpose(x, kernel, *args, output_padding),
        rtol=1e-12,
        atol=1e-12,
    )


def test_output_padding_worked_example():
    # Conv1DTranspose, kernel taps [1, 10, 100], stride 2, input [1, 2]: the full scatter puts
    # 1 * taps at 0..2 and 2 * taps at 2..4: [1, 10, 102, 20, 200].
    x = np.array([1.0, 2.0]).reshape(1, 2, 1)
    kernel = np.array([1.0, 10.0, 100.0]).reshape(3, 1, 1)
    cases = [
        ("valid", None, [1, 10, 102, 20, 200]),  # (2 - 1) * 2 + 3
        ("valid", 1, [1, 10, 102, 20, 200, 0]),  # one more position, reached by no tap
        ("same", None, [1, 10, 102, 20]),  # 2 * 2; pad_len 3, left_pad 2, crop 0
        ("same", 0, [10, 102, 20]),  # (2 - 1) * 2 + 3 % 2; pad_len 2, left_pad 1, crop 1
        ("same", 1, [1, 10, 102, 20]),  # + 1; pad_len 3, left_pad 2, crop 0
    ]
    for padding, output_padding, expected in cases:
        layer = layers.Conv1DTranspose(
            1, 3, strides=2, padding=padding, output_padding=output_padding, use_bias=False, dtype="float64"
        )
        layer.build(x.shape)
        layer.set_weights([kernel])
        np.testing.assert_array_equal(layer(x).numpy()[0, :, 0], expected, err_msg=f"{padding} {output_padding}")
    # The bias reaches every position, including those no tap reaches.
    layer = layers.Conv2DTranspose(1, 1, strides=2, output_padding=1, dtype="float64")
    layer.build((1, 1, 1, 1))
    layer.set_weights([np.full((1, 1, 1, 1), 3.0), np.array([0.5])])
    np.testing.assert_array_equal(layer(np.ones((1, 1, 1, 1))).numpy()[0, :, :, 0], [[3.5, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("rank", [1, 2])
@GRAD_SETTINGS
@given(data=st.data())
def test_conv_transpose_gradients_match_central_differences(rank, data):
    kwargs, shape = data.draw(transpose_case(rank))
    shape = (min(shape[0], 2), *shape[1:])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer = transpose_layer(rank, kwargs, shape, dtype="float64")
    if layer is None:
        return
    random_weights(layer, shape, rng)
    assert_layer_gradients(layer, rng.normal(size=shape))


def test_conv_transpose_float32_large_batch_matches_the_reference():
    # Enough work to take the threaded path; output_padding on both axes.
    rng = np.random.default_rng(3)
    layer = layers.Conv2DTranspose(8, 3, strides=(2, 3), padding="same", output_padding=(1, 2))
    x = rng.normal(size=(16, 9, 7, 6)).astype(np.float32)
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    expected = ref_conv_transpose(
        x.astype(np.float64),
        kernel.astype(np.float64),
        bias,
        strides=(2, 3),
        padding="same",
        output_padding=(1, 2),
    )
    assert y.dtype == np.float32 and y.shape == (16, 18, 21, 8)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


# ----- shapes for symbolic inputs


@pytest.mark.parametrize(
    ("cls", "kwargs", "input_shape", "expected"),
    [
        (layers.Conv2D, {"filters": 4, "kernel_size": 3}, (28, 28, 1), (None, 26, 26, 4)),
        (layers.Conv2D, {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (7, 8, 2), (None, 4, 4, 4)),
        (layers.Conv2D, {"filters": 2, "kernel_size": (3, 1), "dilation_rate": 2}, (9, None, 3), (None, 5, None, 2)),
        (layers.Conv1D, {"filters": 5, "kernel_size": 4, "padding": "causal"}, (None, 3), (None, None, 5)),
        (layers.Conv1D, {"filters": 5, "kernel_size": 4, "strides": 3}, (10, 3), (None, 3, 5)),
        (layers.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 3}, (5, 5, 2), (None, 3, 3, 6)),
        (layers.Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2}, (4, None, 3), (None, 9, None, 2)),
        (
            layers.Conv2DTranspose,
            {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
            (4, 5, 3),
            (None, 8, 10, 2),
        ),
        (layers.Conv1DTranspose, {"filters": 2, "kernel_size": 2, "strides": 3}, (4, 1), (None, 12, 2)),
        # output_padding: (in - 1) * stride + span + p ("valid"), + span % 2 + p ("same")
        (
            layers.Conv2DTranspose,
            {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
            (4, 5, 3),
            (None, 10, 12, 2),
        ),
        (
            layers.Conv2DTranspose,
            {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": (0, 1)},
            (4, None, 3),
            (None, 7, None, 2),
        ),
        (
            layers.Conv1DTranspose,
            {"filters": 2, "kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 2},
            (5, 1),
            (None, 14, 2),
        ),
        (
            layers.Conv1DTranspose,
            {"filters": 1, "kernel_size": 3, "dilation_rate": 2, "output_padding": 0},
            (4, 1),
            (None, 8, 1),
        ),
    ],
)
def test_symbolic_output_shapes_follow_keras(cls, kwargs, input_shape, expected):
    x = fg.Input(input_shape)
    assert tuple(cls(**kwargs)(x).shape) == expected


def test_config_round_trips():
    layer = layers.Conv2D(3, 2, strides=(2, 1), padding="same", groups=1, activation="relu", name="c")
    config = layer.get_config()
    assert config["kernel_size"] == (2, 2) and config["strides"] == (2, 1) and config["padding"] == "same"
    clone = layers.Conv2D.from_config(config)
    assert clone.get_config() == config
    for layer in [
        layers.Conv2DTranspose(3, 3, strides=(2, 3), padding="same", output_padding=(1, 0), name="t"),
        layers.Conv1DTranspose(2, 4, strides=2, output_padding=1),
        layers.Conv2DTranspose(2, 2),
    ]:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        assert clone.output_padding == layer.output_padding
    assert layers.Conv2DTranspose(3, 3, strides=2, output_padding=1).get_config()["output_padding"] == (1, 1)
    assert layers.Conv1DTranspose(3, 3).get_config()["output_padding"] is None


def test_output_padding_in_a_model_summary_and_training(capsys):
    fg.utils.set_random_seed(0)
    model = fg.Sequential(
        [
            fg.Input((4, 5, 2)),
            layers.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=(0, 1), activation="relu"),
            layers.Conv2DTranspose(1, 2, strides=(1, 2), output_padding=(0, 1)),
        ]
    )
    # (4 - 1) * 2 + 1 + 0 = 7, (5 - 1) * 2 + 1 + 1 = 10; then 7 - 1 + 2 = 8, (10 - 1) * 2 + 2 + 1 = 21
    assert model.compute_output_shape((None, 4, 5, 2)) == (None, 8, 21, 1)
    model.summary()
    table = capsys.readouterr().out
    assert "(None, 7, 10, 3)" in table and "(None, 8, 21, 1)" in table
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4, 5, 2)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (8, 8, 21, 1)
    y = rng.normal(size=(8, 8, 21, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ----- training


def test_small_cnn_learns_the_digits():
    (x_train, y_train), (x_test, y_test) = fg.datasets.digits.load_data()
    x_train = x_train.reshape(-1, 8, 8, 1).astype("float32") / 16.0
    x_test = x_test.reshape(-1, 8, 8, 1).astype("float32") / 16.0
    fg.utils.set_random_seed(0)
    model = fg.Sequential(
        [
            fg.Input((8, 8, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=4, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.8  # chance is 0.1


# ----- bad input


def test_bad_inputs_raise_clear_errors():
    conv = layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"larger than the input.*\(None, 2, 5, 1\)"):
        conv(fg.Input((2, 5, 1)))
    with pytest.raises(ValueError, match=r"rank 4.*\(2, 5, 5\)"):
        layers.Conv2D(2, 3)(np.zeros((2, 5, 5), "float32"))
    conv(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"built for inputs with 3 channels.*\(1, 5, 5, 2\)"):
        conv(np.zeros((1, 5, 5, 2), "float32"))
    with pytest.raises(ValueError, match=r"multiple of groups \(2\).*\(None, 5, 5, 3\)"):
        layers.Conv2D(4, 3, groups=2).build((None, 5, 5, 3))
    with pytest.raises(ValueError, match="evenly divisible"):
        layers.Conv2D(3, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(3, 3, padding="causal")
    with pytest.raises(ValueError, match="dilation_rate > 1"):
        layers.Conv1D(3, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="filters"):
        layers.Conv1D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2D(2, (3, 3, 3))


def test_bad_output_padding_raises_clear_errors():
    with pytest.raises(
        ValueError, match=r"`output_padding` must be < `strides`.*output_padding=\(2, 2\).*strides=\(2, 2\)"
    ):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"output_padding=\(0, 1\).*strides=\(2, 1\)"):
        layers.Conv2DTranspose(2, 3, strides=(2, 1), output_padding=(0, 1))
    with pytest.raises(ValueError, match=r"output_padding=\(1,\), strides=\(1,\)"):
        layers.Conv1DTranspose(2, 3, output_padding=1)
    with pytest.raises(ValueError, match=r"`output_padding` argument must be a tuple of 2 integers.*\(1, 1, 1\)"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=(1, 1, 1))
    with pytest.raises(ValueError, match=r"`output_padding` argument must be a tuple of 1 integers"):
        layers.Conv1DTranspose(2, 3, strides=2, output_padding=(1, 1))
    with pytest.raises(ValueError, match=r"output_padding.*non-negative"):
        layers.Conv1DTranspose(2, 3, strides=2, output_padding=-1)
    with pytest.raises(ValueError, match=r"output_padding"):
        layers.Conv1DTranspose(2, 3, strides=2, output_padding="1")
    # "same", even kernel, output_padding 0, one input step: Keras's length (1 - 1) * 1 + 0 + 0 = 0
    with pytest.raises(ValueError, match=r"empty input or output along spatial axis 0.*\(None, 1, 3\)"):
        layers.Conv1DTranspose(2, 2, padding="same", output_padding=0)(fg.Input((1, 3)))
