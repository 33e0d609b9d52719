"""Masks through recurrent layers, ``recurrent_dropout`` and ``GRU(reset_after=False)``, against
numpy references written here.

Sources of the references (Keras 3, keras/src/):
- backend/numpy/rnn.py (``rnn`` with ``unroll=False``): the sequence and the mask are reversed
  together for ``go_backwards``; at a masked step every state keeps its previous value and the
  output is the previous output ``states[0]`` (the carried h), or zeros with
  ``zero_output_for_mask``; outputs stay in processing order.
- layers/rnn/rnn.py: ``compute_mask`` passes the mask on with ``return_sequences`` only.
- layers/rnn/bidirectional.py: forces ``zero_output_for_mask = return_sequences`` on both layers.
- layers/rnn/{simple_rnn,lstm,gru}.py and dropout_rnn_cell.py: ``recurrent_dropout > 0`` makes
  LSTM and GRU use ``implementation=1``, which draws one mask per gate (``dropout_mask_count``
  4 and 3), each of shape ``(batch, units)`` and kept for every step of the call; gate ``k``
  reads ``h_prev * mask_k`` in its recurrent product; the GRU's ``z * h_prev`` term reads the
  undropped state. SimpleRNN draws one mask. Masks are ``dropout(ones, rate)``: 0 or
  ``1 / (1 - rate)``.
- gru.py with ``reset_after=False``: bias ``(3 * units,)`` on the input side only,
  ``hh = tanh(x_h + (r * h_prev) @ U_h)``.
- layers/core/embedding.py: ``compute_mask`` is ``inputs != 0`` with ``mask_zero``;
  layers/core/masking.py: ``any(inputs != mask_value, axis=-1)``, masked steps zeroed;
  layers/pooling/global_average_pooling1d.py: the mean over the unmasked steps.
- layers/layer.py: a layer without ``supports_masking`` ends the mask; Dense, Dropout and the
  activation layers support it and pass it on.
Gradients are compared with central differences of these references in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg
from ferrograd import layers

RNG = np.random.default_rng(23)
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3, "GRU_before": 3}
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1, "GRU_before": 1}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ----- numpy references


def cell_step(name, x_t, states, weights, rec_masks=None, in_masks=None):
    """One step of Keras's cell; ``rec_masks`` ``(batch, gates, units)`` and ``in_masks``
    ``(batch, gates, features)`` (implementation 1's per-gate input dropout) or None."""
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    h = states[0]
    gates = GATES[name]
    dropped = [h if rec_masks is None else h * rec_masks[:, k] for k in range(gates)]
    block = lambda m, k: m[:, k * units : (k + 1) * units]  # noqa: E731
    inputs = [x_t if in_masks is None else x_t * in_masks[:, k] for k in range(gates)]
    projected = np.concatenate([inputs[k] @ block(kernel, k) for k in range(gates)], axis=-1)
    if name == "SimpleRNN":
        return [np.tanh(projected + bias + dropped[0] @ recurrent)]
    if name == "LSTM":
        z = projected + bias
        i, f, g, o = (block(z, k) + dropped[k] @ block(recurrent, k) for k in range(4))
        c = sigmoid(f) * states[1] + sigmoid(i) * np.tanh(g)
        return [sigmoid(o) * np.tanh(c), c]
    if name == "GRU":
        x_z, x_r, x_h = np.split(projected + bias[0], 3, axis=-1)
        m_z, m_r, m_h = (dropped[k] @ block(recurrent, k) + bias[1][k * units : (k + 1) * units] for k in range(3))
        z, r = sigmoid(x_z + m_z), sigmoid(x_r + m_r)
        hh = np.tanh(x_h + r * m_h)
        return [z * h + (1 - z) * hh]
    # GRU, reset_after=False
    x_z, x_r, x_h = np.split(projected + bias, 3, axis=-1)
    z = sigmoid(x_z + dropped[0] @ block(recurrent, 0))
    r = sigmoid(x_r + dropped[1] @ block(recurrent, 1))
    hh = np.tanh(x_h + (r * dropped[2]) @ block(recurrent, 2))
    return [z * h + (1 - z) * hh]


def ref_rnn(
    name, x, weights, mask=None, states=None, go_backwards=False, rec_masks=None, zero_output=False, in_masks=None
):
    """Keras's ``backend.rnn``: outputs in processing order, final states."""
    batch, steps, _ = x.shape
    units = weights[1].shape[0]
    states = [np.zeros((batch, units)) for _ in range(STATES[name])] if states is None else list(states)
    outputs = []
    for t in range(steps - 1, -1, -1) if go_backwards else range(steps):
        new = cell_step(name, x[:, t], states, weights, rec_masks, in_masks)
        out = new[0]
        if mask is not None:
            keep = mask[:, t].astype(bool)[:, None]
            out = np.where(keep, out, 0.0 if zero_output else states[0])
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
        states = new
        outputs.append(out)
    return np.stack(outputs, axis=1), states


def random_weights(name, features, units, rng=RNG, scale=0.6):
    gates = GATES[name]
    bias_shape = (2, 3 * units) if name == "GRU" else (gates * units,)
    return [
        rng.normal(0, scale, (features, gates * units)),
        rng.normal(0, scale, (units, gates * units)),
        rng.normal(0, scale, bias_shape),
    ]


def make_layer(name, units, dtype="float64", **kwargs):
    if name == "GRU_before":
        return layers.GRU(units, reset_after=False, dtype=dtype, **kwargs)
    return getattr(layers, name)(units, dtype=dtype, **kwargs)


def built(name, units, features, weights, **kwargs):
    layer = make_layer(name, units, **kwargs)
    layer.build((None, None, features))
    layer.set_weights(weights)
    return layer


def numeric_gradient(f, arrays, index, eps=1e-6):
    base = arrays[index]
    grad = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[index][idx] += eps
        minus[index][idx] -= eps
        grad[idx] = (f(plus) - f(minus)) / (2 * eps)
    return grad


# ----- GRU(reset_after=False)


def test_gru_reset_before_layout_config_and_forward():
    layer = layers.GRU(3, reset_after=False, dtype="float64")
    layer.build((None, 4, 2))
    assert [w.shape for w in layer.get_weights()] == [(2, 9), (3, 9), (9,)]
    assert layer.count_params() == 2 * 9 + 3 * 9 + 9
    config = layer.get_config()
    assert config["reset_after"] is False
    assert layers.GRU.from_config(config).get_config() == config | {"name": config["name"]}
    x = RNG.normal(size=(2, 4, 2))
    weights = random_weights("GRU_before", 2, 3)
    layer.set_weights(weights)
    np.testing.assert_allclose(layer(x).numpy(), ref_rnn("GRU_before", x, weights)[0][:, -1], atol=1e-12)
    # The two forms differ: reset_after=True with the same kernels and a zero recurrent bias.
    after = built("GRU", 3, 2, [weights[0], weights[1], np.stack([weights[2], np.zeros(9)])])
    assert not np.allclose(after(x).numpy(), layer(x).numpy())


# ----- forward values and gradients with masks


def mask_patterns(batch, steps):
    """Masks with an all-masked row, zeros in the middle, leading and trailing padding."""
    return st.lists(st.booleans(), min_size=batch * steps, max_size=batch * steps).map(
        lambda bits: np.array(bits, dtype=bool).reshape(batch, steps)
    )


@st.composite
def masked_cases(draw):
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 5))
    mask = draw(mask_patterns(batch, steps))
    if draw(st.booleans()):
        mask[draw(st.integers(0, batch - 1))] = False  # a row masked throughout
    if steps >= 3 and draw(st.booleans()):
        mask[0] = True
        mask[0, steps // 2] = False  # a hole in the middle
    return batch, steps, mask


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(GATES)),
    case=masked_cases(),
    features=st.integers(1, 2),
    units=st.integers(1, 2),
    go_backwards=st.booleans(),
    return_sequences=st.booleans(),
    with_state=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_masked_forward_and_gradients_match_the_reference(
    name, case, features, units, go_backwards, return_sequences, with_state, seed
):
    batch, steps, mask = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, steps, features))
    weights = random_weights(name, features, units, rng)
    states = [rng.normal(size=(batch, units)) for _ in range(STATES[name])] if with_state else []
    layer = built(
        name, units, features, weights, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards
    )
    out_shape = (batch, steps, units) if return_sequences else (batch, units)
    out_weights = rng.uniform(0.5, 1.5, size=out_shape)
    state_weights = [rng.uniform(0.5, 1.5, size=(batch, units)) for _ in range(STATES[name])]

    def ref_loss(arrays):
        x_, w_, s_ = arrays[0], arrays[1:4], arrays[4:]
        seq, final = ref_rnn(name, x_, w_, mask, s_ or None, go_backwards)
        out = seq if return_sequences else seq[:, -1]
        return float(np.sum(out_weights * out) + sum(np.sum(w * s) for w, s in zip(state_weights, final)))

    expected_seq, expected_states = ref_rnn(name, x, weights, mask, states or None, go_backwards)
    x_var = fg.Variable(x)
    state_vars = [fg.Variable(s) for s in states]
    with fg.GradientTape() as tape:
        out = layer(x_var, initial_state=state_vars or None, mask=mask)
        loss = (out[0] * fg.tensor(out_weights)).sum()
        for w, s in zip(state_weights, out[1:]):
            loss = loss + (s * fg.tensor(w)).sum()
    np.testing.assert_allclose(out[0].numpy(), expected_seq if return_sequences else expected_seq[:, -1], atol=1e-12)
    for got, want in zip(out[1:], expected_states):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    analytic = tape.gradient(loss, [x_var, *layer.trainable_weights, *state_vars])
    arrays = [x, *weights, *states]
    for index, got in enumerate(analytic):
        np.testing.assert_allclose(got.numpy(), numeric_gradient(ref_loss, arrays, index), atol=1e-6, rtol=1e-5)


def test_masked_steps_get_no_input_gradient_and_padding_is_inert():
    x = RNG.normal(size=(2, 5, 3))
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=bool)
    layer = built("LSTM", 4, 3, random_weights("LSTM", 3, 4))
    x_var = fg.Variable(x)
    with fg.GradientTape() as tape:
        loss = layer(x_var, mask=mask).sum()
    (grad,) = tape.gradient(loss, [x_var])
    assert np.all(grad.numpy()[~mask] == 0) and np.abs(grad.numpy()[mask]).min() > 0
    # Whatever sits at the masked steps changes nothing.
    noisy = x.copy()
    noisy[~mask] = 1e3
    np.testing.assert_array_equal(layer(noisy, mask=mask).numpy(), layer(x, mask=mask).numpy())
    np.testing.assert_array_equal(layer(x, mask=mask).numpy()[1], 0.0)  # all masked: h0 = 0


def test_zero_output_for_mask_zeroes_the_masked_outputs_only():
    x = RNG.normal(size=(3, 4, 2))
    mask = np.array([[1, 0, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    weights = random_weights("GRU", 2, 3)
    layer = built("GRU", 3, 2, weights, return_sequences=True, return_state=True, zero_output_for_mask=True)
    seq, h = layer(x, mask=mask)
    expected_seq, (expected_h,) = ref_rnn("GRU", x, weights, mask, zero_output=True)
    np.testing.assert_allclose(seq.numpy(), expected_seq, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), expected_h, atol=1e-12)
    assert layer.get_config()["zero_output_for_mask"] is True


# ----- recurrent dropout


def reconstruct_masks(name, x, weights, states, outputs, rate, units):
    """The per-sample, per-gate masks that reproduce ``outputs`` (every step) under the
    reference, searched over all 0 / 1/(1-rate) patterns; None for a sample no pattern fits."""
    gates = GATES[name]
    scale = 1.0 / (1.0 - rate)
    batch = x.shape[0]
    found = [None] * batch
    for bits in itertools.product([0.0, scale], repeat=gates * units):
        candidate = np.broadcast_to(np.array(bits).reshape(1, gates, units), (batch, gates, units))
        seq, _ = ref_rnn(name, x, weights, states=states, rec_masks=candidate)
        fits = np.all(np.abs(seq - outputs) < 1e-9, axis=(1, 2))
        for b in np.flatnonzero(fits):
            if found[b] is None:
                found[b] = candidate[b]
    return found


@pytest.mark.parametrize(("name", "units"), [("SimpleRNN", 3), ("LSTM", 1), ("GRU", 2), ("GRU_before", 2)])
def test_recurrent_dropout_masks_are_per_sample_per_gate_and_constant_over_time(name, units):
    rate, batch, steps, features = 0.3, 200, 6, 2
    rng = np.random.default_rng(7)
    x = rng.normal(size=(batch, steps, features))
    weights = random_weights(name, features, units, rng, scale=0.9)
    states = [rng.normal(size=(batch, units)) for _ in range(STATES[name])]
    layer = built(name, units, features, weights, return_sequences=True, recurrent_dropout=rate, seed=5)
    out = layer(x, initial_state=states, training=True).numpy()
    found = reconstruct_masks(name, x, weights, states, out, rate, units)
    # Every sample's whole sequence is the reference with one fixed set of masks: the masks
    # do not change over time, and each gate block has its own.
    assert all(m is not None for m in found)
    masks = np.stack(found)
    dropped = np.mean(masks == 0)
    n = masks.size
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / n), dropped
    if GATES[name] > 1:
        assert not all(np.array_equal(masks[:, 0], masks[:, k]) for k in range(1, GATES[name]))
    # A new call draws new masks.
    again = layer(x, initial_state=states, training=True).numpy()
    assert not np.allclose(again, out)


@pytest.mark.parametrize("name", sorted(GATES))
def test_recurrent_dropout_is_off_at_inference_and_rate_zero_is_identity(name):
    x = RNG.normal(size=(4, 5, 2))
    weights = random_weights(name, 2, 3)
    plain = built(name, 3, 2, weights, return_sequences=True)
    dropped = built(name, 3, 2, weights, return_sequences=True, recurrent_dropout=0.5, seed=1)
    expected = ref_rnn(name, x, weights)[0]
    np.testing.assert_allclose(dropped(x).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(dropped(x, training=False).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(plain(x, training=True).numpy(), expected, atol=1e-12)
    zero = built(name, 3, 2, weights, return_sequences=True, recurrent_dropout=0.0)
    np.testing.assert_array_equal(zero(x, training=True).numpy(), plain(x).numpy())
    assert not np.allclose(dropped(x, training=True).numpy(), expected)


@pytest.mark.parametrize(("name", "units"), [("SimpleRNN", 2), ("LSTM", 1), ("GRU", 1), ("GRU_before", 1)])
def test_recurrent_dropout_gradients_match_the_reference_with_the_drawn_masks(name, units):
    # One training call: reconstruct the masks it drew, then check every gradient against
    # central differences of the reference run with those masks.
    rate, batch, steps, features = 0.4, 6, 4, 2
    rng = np.random.default_rng(3)
    x = rng.normal(size=(batch, steps, features))
    weights = random_weights(name, features, units, rng, scale=0.9)
    states = [rng.normal(size=(batch, units)) for _ in range(STATES[name])]
    mask = np.ones((batch, steps), dtype=bool)
    mask[1, 2] = mask[2, 0] = False
    layer = built(name, units, features, weights, return_sequences=True, recurrent_dropout=rate, seed=11)
    x_var = fg.Variable(x)
    state_vars = [fg.Variable(s) for s in states]
    out_weights = rng.uniform(0.5, 1.5, size=(batch, steps, units))
    with fg.GradientTape() as tape:
        out = layer(x_var, initial_state=state_vars, mask=mask, training=True)
        loss = (out * fg.tensor(out_weights)).sum()
    analytic = tape.gradient(loss, [x_var, *layer.trainable_weights, *state_vars])

    def masked_ref(x_, w_, s_, rec, rows=slice(None)):
        return ref_rnn(name, x_, w_, mask[rows], s_, rec_masks=rec)[0]

    scale = 1.0 / (1.0 - rate)
    rec_masks = np.zeros((batch, GATES[name], units))
    for b in range(batch):
        sample_states = [s[b : b + 1] for s in states]
        fits = []
        for bits in itertools.product([0.0, scale], repeat=GATES[name] * units):
            candidate = np.array(bits).reshape(1, GATES[name], units)
            reproduced = masked_ref(x[b : b + 1], weights, sample_states, candidate, slice(b, b + 1))
            if np.allclose(reproduced, out.numpy()[b : b + 1], atol=1e-10):
                fits.append(candidate[0])
        assert fits, f"no recurrent dropout masks reproduce sample {b}"
        rec_masks[b] = fits[0]

    def ref_loss(arrays):
        return float(np.sum(out_weights * masked_ref(arrays[0], arrays[1:4], arrays[4:], rec_masks)))

    arrays = [x, *weights, *states]
    for index, got in enumerate(analytic):
        np.testing.assert_allclose(got.numpy(), numeric_gradient(ref_loss, arrays, index), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_input_dropout_uses_one_mask_per_gate_with_recurrent_dropout(name):
    # Keras 3 runs implementation=1 when recurrent_dropout > 0: each gate block then reads the
    # input through its own dropout mask too. One feature and one unit: search all masks.
    rate, batch, steps = 0.5, 120, 5
    rng = np.random.default_rng(9)
    gates = GATES[name]
    x = rng.normal(size=(batch, steps, 1))
    weights = random_weights(name, 1, 1, rng, scale=1.0)
    states = [rng.normal(size=(batch, 1)) for _ in range(STATES[name])]
    layer = built(name, 1, 1, weights, return_sequences=True, dropout=rate, recurrent_dropout=rate, seed=4)
    out = layer(x, initial_state=states, training=True).numpy()
    found_in = np.full((batch, gates), np.nan)
    for bits in itertools.product([0.0, 2.0], repeat=2 * gates):
        in_masks = np.broadcast_to(np.array(bits[:gates]).reshape(1, gates, 1), (batch, gates, 1))
        rec_masks = np.broadcast_to(np.array(bits[gates:]).reshape(1, gates, 1), (batch, gates, 1))
        seq, _ = ref_rnn(name, x, weights, states=states, rec_masks=rec_masks, in_masks=in_masks)
        fits = np.all(np.abs(seq - out) < 1e-9, axis=(1, 2)) & np.isnan(found_in[:, 0])
        found_in[fits] = np.array(bits[:gates])
    assert not np.isnan(found_in).any()
    assert abs(np.mean(found_in == 0) - rate) < 4 * np.sqrt(rate * (1 - rate) / found_in.size)
    assert any(not np.array_equal(found_in[:, 0], found_in[:, k]) for k in range(1, gates))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.2", True])
def test_recurrent_dropout_outside_zero_one_is_a_value_error(bad):
    with pytest.raises(ValueError, match="recurrent_dropout must be a float in \\[0, 1\\)"):
        layers.LSTM(2, recurrent_dropout=bad)


def test_recurrent_dropout_round_trips_in_the_config():
    layer = layers.GRU(3, recurrent_dropout=0.25, dropout=0.1, reset_after=False)
    config = layer.get_config()
    assert config["recurrent_dropout"] == 0.25 and config["reset_after"] is False
    clone = layers.GRU.from_config(config)
    assert clone.recurrent_dropout == 0.25 and clone.reset_after is False


# ----- masks in models (the engine's graph)


def embedding_lstm_reference(ids, table, weights):
    return ref_rnn("LSTM", table[ids], weights, mask=ids != 0)


def test_sequential_embedding_mask_zero_reaches_the_lstm():
    ids = np.array([[3, 1, 4, 0, 0], [0, 0, 2, 7, 1], [5, 0, 6, 0, 2], [0, 0, 0, 0, 0]])
    embedding = layers.Embedding(8, 3, mask_zero=True, dtype="float64")
    lstm = layers.LSTM(4, dtype="float64")
    model = fg.Sequential([fg.Input(shape=(5,)), embedding, lstm, layers.Dense(2, dtype="float64")])
    table = RNG.normal(size=(8, 3))
    weights = random_weights("LSTM", 3, 4)
    embedding.set_weights([table])
    lstm.set_weights(weights)
    kernel, bias = model.layers[-1].get_weights()
    _, (h, _) = embedding_lstm_reference(ids, table, weights)
    np.testing.assert_allclose(model.predict(ids, verbose=0), h @ kernel + bias, atol=1e-12)
    # The same sequences without their padding give the same outputs, one by one.
    for row, sample in zip(model.predict(ids, verbose=0), ids):
        real = sample[sample != 0][None, :]
        if real.size:
            unpadded = fg.Sequential([fg.Input(shape=(None,)), embedding, lstm, model.layers[-1]])
            np.testing.assert_allclose(unpadded.predict(real, verbose=0)[0], row, atol=1e-12)


def test_functional_masks_with_states_bidirectional_and_pass_through_layers():
    ids = np.array([[3, 1, 0, 4, 0, 0], [0, 2, 2, 7, 1, 5], [0, 0, 0, 0, 0, 0]])
    inputs = fg.Input(shape=(6,))
    embedded = layers.Embedding(8, 3, mask_zero=True, dtype="float64")(inputs)
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True, go_backwards=True, dtype="float64")(embedded)
    projected = layers.Dense(3, activation="tanh", dtype="float64")(seq)  # passes the mask on
    both = layers.Bidirectional(layers.GRU(2, return_sequences=True, dtype="float64"))(projected)
    pooled = layers.GlobalAveragePooling1D()(both)  # the mean over the unmasked steps
    model = fg.Model(inputs, [seq, h, c, both, pooled])
    table = RNG.normal(size=(8, 3))
    lstm_w = random_weights("LSTM", 3, 4)
    dense_k, dense_b = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    gru_f, gru_b = random_weights("GRU", 3, 2), random_weights("GRU", 3, 2)
    model.set_weights([table, *lstm_w, dense_k, dense_b, *gru_f, *gru_b])

    mask = ids != 0
    x = table[ids]
    expected_seq, (expected_h, expected_c) = ref_rnn("LSTM", x, lstm_w, mask, go_backwards=True)
    # Keras passes the mask on unchanged (not reversed) with go_backwards.
    dense_out = np.tanh(expected_seq @ dense_k + dense_b)
    forward = ref_rnn("GRU", dense_out, gru_f, mask, zero_output=True)[0]
    backward = ref_rnn("GRU", dense_out, gru_b, mask, go_backwards=True, zero_output=True)[0][:, ::-1]
    expected_both = np.concatenate([forward, backward], axis=-1)
    with np.errstate(invalid="ignore"):
        expected_pooled = (expected_both * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    got = model.predict(ids, verbose=0)
    for g, e in zip(got, [expected_seq, expected_h, expected_c, expected_both, expected_pooled]):
        np.testing.assert_allclose(g, e, atol=1e-12)
    assert np.isnan(got[-1][2]).all()  # every step masked: 0 / 0, as Keras


def test_layers_without_mask_support_end_the_mask():
    ids = np.array([[3, 1, 0, 0], [2, 0, 4, 5]])
    table = RNG.normal(size=(6, 2))
    weights = random_weights("SimpleRNN", 4, 3)
    inputs = fg.Input(shape=(4,))
    embedded = layers.Embedding(6, 2, mask_zero=True, dtype="float64")(inputs)
    conv = layers.Conv1D(4, 1, use_bias=False, dtype="float64")(embedded)  # no masking support
    out = layers.SimpleRNN(3, return_sequences=True, dtype="float64")(conv)
    flat = layers.Dense(2, dtype="float64")(layers.Flatten()(out))
    model = fg.Model(inputs, [out, flat])
    conv_kernel = RNG.normal(size=(1, 2, 4))
    model.set_weights([table, conv_kernel, *weights, RNG.normal(size=(12, 2)), np.zeros(2)])
    seq, _ = model.predict(ids, verbose=0)
    # The RNN saw no mask: every step runs.
    np.testing.assert_allclose(seq, ref_rnn("SimpleRNN", table[ids] @ conv_kernel[0], weights)[0], atol=1e-12)


def test_masking_layer_masks_steps_equal_to_mask_value():
    x = RNG.normal(size=(3, 5, 2))
    x[0, 3:] = -1.0
    x[1, :2] = -1.0
    x[2, 2, 0] = -1.0  # one feature equal to the value: the step still counts
    weights = random_weights("GRU_before", 2, 3)
    masking = layers.Masking(mask_value=-1.0, dtype="float64")
    np.testing.assert_array_equal(masking.compute_mask(x), np.any(x != -1.0, axis=-1))
    model = fg.Sequential(
        [fg.Input(shape=(5, 2), dtype="float64"), masking, make_layer("GRU_before", 3, return_sequences=True)]
    )
    model.layers[-1].set_weights(weights)
    mask = np.any(x != -1.0, axis=-1)
    expected = ref_rnn("GRU_before", x * mask[..., None], weights, mask)[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-12)
    assert masking.get_config()["mask_value"] == -1.0
    np.testing.assert_allclose(masking(x).numpy(), x * mask[..., None])


def test_embedding_lstm_trains_with_fit_and_padding_changes_nothing():
    # Sequences of 4 real tokens padded to 7 (some before, some after): training on the padded
    # batch gives the weights that training on the unpadded one gives, and the loss of the
    # padded sequences equals the loss of the same sequences unpadded.
    rng = np.random.default_rng(2)
    real = rng.integers(1, 9, size=(96, 4))
    labels = (real.sum(axis=1) > 18).astype(np.float64)[:, None]
    padded = np.zeros((96, 7), dtype=np.int64)
    for i, row in enumerate(real):
        start = i % 4
        padded[i, start : start + 4] = row

    def new_model():
        model = fg.Sequential(
            [
                fg.Input(shape=(None,)),
                layers.Embedding(9, 4, mask_zero=True, dtype="float64"),
                layers.LSTM(6, dtype="float64"),
                layers.Dense(1, activation="sigmoid", dtype="float64"),
            ]
        )
        model.compile(optimizer=fg.optimizers.Adam(0.02), loss="binary_crossentropy")
        return model

    on_padded, on_real = new_model(), new_model()
    on_real.set_weights(on_padded.get_weights())
    history = on_padded.fit(padded, labels, batch_size=16, epochs=6, shuffle=False, verbose=0)
    on_real.fit(real, labels, batch_size=16, epochs=6, shuffle=False, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    for a, b in zip(on_padded.get_weights(), on_real.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(
        on_padded.evaluate(padded, labels, verbose=0), on_padded.evaluate(real, labels, verbose=0), rtol=1e-12
    )


# ----- bad input


def test_mask_of_the_wrong_shape_is_a_value_error_naming_the_shapes():
    layer = layers.LSTM(2)
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 4\) does not fit inputs of shape \(2, 5, 3\)"):
        layer(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"\(batch, time\) = \(2, 5\)"):
        layer(x, mask=np.ones((2, 5, 1), bool))
    bi = layers.Bidirectional(layers.GRU(2, return_sequences=True))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 5\)"):
        bi(x, mask=np.ones((3, 5), bool))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\)"):
        layers.GlobalAveragePooling1D()(x, mask=np.ones((2, 3), bool))
