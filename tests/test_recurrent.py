"""fg.layers.Embedding, SimpleRNN, LSTM and GRU against numpy references written here.

Sources of the references (Keras 3, keras/src/layers/):
- core/embedding.py: ``embeddings[ids]`` with ``embeddings`` of shape ``(input_dim, output_dim)``,
  initializer ``"uniform"`` = ``RandomUniform(-0.05, 0.05)``.
- rnn/simple_rnn.py: ``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``.
- rnn/lstm.py (``LSTMCell``): ``z = x @ kernel + h_prev @ recurrent_kernel + bias`` split in the
  order i, f, c, o; ``i, f, o = sigmoid(.)``, ``c = f * c_prev + i * tanh(z_c)``,
  ``h = o * tanh(c)``; ``unit_forget_bias`` makes the f-block of the bias ones.
- rnn/gru.py (``GRUCell``, ``reset_after=True``): bias ``(2, 3u)``, ``x @ kernel + bias[0]`` and
  ``h_prev @ recurrent_kernel + bias[1]`` split in the order z, r, h; ``z, r = sigmoid(x_* + m_*)``,
  ``hh = tanh(x_h + r * m_h)``, ``h = z * h_prev + (1 - z) * hh``.
- rnn/rnn.py: ``go_backwards`` processes the sequence reversed and returns the outputs in
  processing order; ``return_state`` appends the final states (LSTM: h, c).
Gradients are compared with central differences of these numpy references (never with the
engine's own gradcheck).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg
from ferrograd import layers

RNG = np.random.default_rng(11)


# ----- numpy references (Keras's equations)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _steps(steps, go_backwards):
    return range(steps - 1, -1, -1) if go_backwards else range(steps)


def ref_simple_rnn(x, weights, states=None, go_backwards=False):
    kernel, recurrent, bias = weights
    h = np.zeros((x.shape[0], recurrent.shape[0])) if states is None else states[0]
    outputs = []
    for t in _steps(x.shape[1], go_backwards):
        h = np.tanh(x[:, t] @ kernel + bias + h @ recurrent)
        outputs.append(h)
    return np.stack(outputs, axis=1), [h]


def ref_lstm(x, weights, states=None, go_backwards=False):
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    h, c = (np.zeros((x.shape[0], units)),) * 2 if states is None else states
    outputs = []
    for t in _steps(x.shape[1], go_backwards):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), [h, c]


def ref_gru(x, weights, states=None, go_backwards=False):
    kernel, recurrent, bias = weights
    h = np.zeros((x.shape[0], recurrent.shape[0])) if states is None else states[0]
    outputs = []
    for t in _steps(x.shape[1], go_backwards):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + bias[0], 3, axis=-1)
        m_z, m_r, m_h = np.split(h @ recurrent + bias[1], 3, axis=-1)
        z = sigmoid(x_z + m_z)
        r = sigmoid(x_r + m_r)
        hh = np.tanh(x_h + r * m_h)
        h = z * h + (1 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1), [h]


CASES = {
    "SimpleRNN": (layers.SimpleRNN, ref_simple_rnn, 1, 1),
    "LSTM": (layers.LSTM, ref_lstm, 4, 2),
    "GRU": (layers.GRU, ref_gru, 3, 1),
}


def random_weights(name, features, units, rng=RNG, scale=0.5):
    _, _, gates, _ = CASES[name]
    bias_shape = (2, 3 * units) if name == "GRU" else (gates * units,)
    return [
        rng.normal(0, scale, (features, gates * units)),
        rng.normal(0, scale, (units, gates * units)),
        rng.normal(0, scale, bias_shape),
    ]


def make_layer(name, units, dtype="float64", **kwargs):
    cls = CASES[name][0]
    return cls(units, dtype=dtype, **kwargs)


# ----- Embedding


def test_embedding_looks_up_rows_and_scatters_gradients():
    layer = layers.Embedding(5, 3, dtype="float64")
    layer.build((None, 4))
    table = RNG.normal(size=(5, 3))
    layer.set_weights([table])
    ids = np.array([[1, 4, 1, 0], [3, 3, 3, 2]])
    np.testing.assert_allclose(layer(ids).numpy(), table[ids])
    weights = RNG.normal(size=(2, 4, 3))
    with fg.GradientTape() as tape:
        loss = (layer(ids.astype(np.float64)) * fg.tensor(weights)).sum()
    (grad,) = tape.gradient(loss, layer.trainable_weights)
    expected = np.zeros_like(table)
    np.add.at(expected, ids, weights)  # repeated ids accumulate
    np.testing.assert_allclose(grad.numpy(), expected, atol=1e-12)


def test_embedding_defaults_follow_keras():
    layer = layers.Embedding(1000, 8)
    out = layer(np.array([[0, 999]]))
    assert out.shape == (1, 2, 8)
    (table,) = layer.get_weights()
    assert table.shape == (1000, 8) and table.dtype == np.float32
    assert np.abs(table).max() <= 0.05 and table.std() > 0.02
    config = layer.get_config()
    assert config["input_dim"] == 1000 and config["output_dim"] == 8 and config["mask_zero"] is False
    clone = layers.Embedding.from_config(config)
    assert clone.input_dim == 1000 and clone.embeddings_initializer.get_config()["minval"] == -0.05


@pytest.mark.parametrize(
    "ids, message",
    [([[-1, 0]], "negative"), ([[0.5, 1]], "whole number"), ([[5, 1]], "out of range"), ([[np.nan, 1]], "whole")],
)
def test_embedding_rejects_bad_ids(ids, message):
    layer = layers.Embedding(5, 2)
    with pytest.raises(ValueError, match=message):
        layer(np.array(ids, dtype=np.float64))


def test_embedding_mask_zero_and_bad_sizes():
    layer = layers.Embedding(4, 2, mask_zero=True)
    np.testing.assert_array_equal(layer.compute_mask(np.array([[0, 3, 0]])), [[False, True, False]])
    with pytest.raises(ValueError, match="input_dim"):
        layers.Embedding(0, 2)


# ----- forward values


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_forward_matches_the_textbook_equations(name, go_backwards, with_state):
    _, reference, _, n_states = CASES[name]
    batch, steps, features, units = 3, 5, 4, 6
    x = RNG.normal(size=(batch, steps, features))
    weights = random_weights(name, features, units)
    states = [RNG.normal(size=(batch, units)) for _ in range(n_states)] if with_state else None
    layer = make_layer(name, units, return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer.build((None, steps, features))
    layer.set_weights(weights)
    out = layer(x, initial_state=states) if with_state else layer(x)
    expected_seq, expected_states = reference(x, weights, states, go_backwards)
    assert len(out) == 1 + n_states
    np.testing.assert_allclose(out[0].numpy(), expected_seq, atol=1e-12)
    for got, want in zip(out[1:], expected_states):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    # return_sequences=False: the last processed step only.
    last = make_layer(name, units, go_backwards=go_backwards)
    last.build((None, steps, features))
    last.set_weights(weights)
    last_out = last(x, initial_state=states) if with_state else last(x)
    np.testing.assert_allclose(last_out.numpy(), expected_seq[:, -1], atol=1e-12)


def test_float32_layers_agree_with_float64_reference():
    x = RNG.normal(size=(2, 7, 3)).astype(np.float32)
    weights = random_weights("LSTM", 3, 5)
    layer = layers.LSTM(5)
    layer.build((None, 7, 3))
    layer.set_weights([w.astype(np.float32) for w in weights])
    out = layer(x)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), ref_lstm(x.astype(np.float64), weights)[0][:, -1], atol=1e-5)


# ----- weights: Keras's layouts and initializers


def test_weight_layouts_and_initializers_follow_keras():
    lstm = layers.LSTM(3)
    lstm.build((None, 4, 2))
    kernel, recurrent, bias = lstm.get_weights()
    assert (kernel.shape, recurrent.shape, bias.shape) == ((2, 12), (3, 12), (12,))
    # unit_forget_bias: the f block (second of i, f, c, o) starts at one, the rest at zero.
    np.testing.assert_array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    # orthogonal recurrent kernel: (3, 12) has orthonormal rows.
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)
    assert [w.name for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    gru = layers.GRU(3)
    gru.build((None, 4, 2))
    assert [w.shape for w in gru.get_weights()] == [(2, 9), (3, 9), (2, 9)]
    assert gru.count_params() == 2 * 9 + 3 * 9 + 2 * 9
    rnn = layers.SimpleRNN(3, use_bias=False)
    rnn.build((None, 4, 2))
    assert [w.shape for w in rnn.get_weights()] == [(2, 3), (3, 3)]
    no_forget = layers.LSTM(2, unit_forget_bias=False)
    no_forget.build((None, 1, 1))
    np.testing.assert_array_equal(no_forget.get_weights()[2], np.zeros(8))


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trips(name):
    layer = make_layer(name, 4, return_sequences=True, go_backwards=True, dropout=0.25)
    config = layer.get_config()
    assert config["units"] == 4 and config["return_sequences"] and config["go_backwards"]
    assert config["dropout"] == 0.25
    clone = type(layer).from_config(config)
    assert clone.get_config() == config | {"name": clone.name}


# ----- symbolic shapes, bad input


def test_symbolic_shapes_in_a_functional_model():
    inputs = fg.Input(shape=(7, 3))
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(inputs)
    assert seq.shape == (None, 7, 4) and h.shape == (None, 4) and c.shape == (None, 4)
    out = layers.GRU(2)(seq)
    assert out.shape == (None, 2)
    model = fg.Model(inputs, [out, c])
    predictions = model.predict(np.zeros((5, 7, 3), np.float32), verbose=0)
    assert [p.shape for p in predictions] == [(5, 2), (5, 4)]


def test_bad_inputs_raise_clear_errors():
    layer = layers.LSTM(2)
    with pytest.raises(ValueError, match="batch, time"):
        layer(np.zeros((2, 3), np.float32))
    layer = layers.LSTM(2)
    layer(np.zeros((1, 3, 4), np.float32))
    with pytest.raises(ValueError, match="4"):
        layer(np.zeros((1, 3, 5), np.float32))
    with pytest.raises(ValueError, match="initial state"):
        layer(np.zeros((1, 3, 4), np.float32), initial_state=[np.zeros((1, 2), np.float32)])
    with pytest.raises(ValueError, match=r"\(batch, units\)|\[1, 2\]"):
        layer(np.zeros((1, 3, 4), np.float32), initial_state=[np.zeros((1, 3), np.float32)] * 2)
    with pytest.raises(ValueError, match="activation"):
        layers.GRU(2, activation="softmax")
    with pytest.raises(ValueError, match="units"):
        layers.SimpleRNN(0)


# ----- gradients: central differences of the numpy references, float64


def _numeric_gradient(f, arrays, index, eps=1e-6):
    base = arrays[index]
    grad = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[index][idx] += eps
        minus[index][idx] -= eps
        grad[idx] = (f(plus) - f(minus)) / (2 * eps)
    return grad


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(CASES)),
    batch=st.integers(1, 3),
    steps=st.integers(1, 6),
    features=st.integers(1, 3),
    units=st.integers(1, 3),
    go_backwards=st.booleans(),
    with_state=st.booleans(),
    return_sequences=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gradients_match_central_differences(
    name, batch, steps, features, units, go_backwards, with_state, return_sequences, seed
):
    rng = np.random.default_rng(seed)
    _, reference, _, n_states = CASES[name]
    x = rng.normal(size=(batch, steps, features))
    weights = random_weights(name, features, units, rng)
    states = [rng.normal(size=(batch, units)) for _ in range(n_states)] if with_state else []
    out_shape = (batch, steps, units) if return_sequences else (batch, units)
    out_weights = rng.uniform(0.5, 1.5, size=out_shape)

    def ref_loss(arrays):
        x_, w_, s_ = arrays[0], arrays[1:4], arrays[4:]
        seq, _ = reference(x_, w_, s_ or None, go_backwards)
        return float(np.sum(out_weights * (seq if return_sequences else seq[:, -1])))

    layer = make_layer(name, units, return_sequences=return_sequences, go_backwards=go_backwards)
    layer.build((None, steps, features))
    layer.set_weights(weights)
    x_var = fg.Variable(x)
    state_vars = [fg.Variable(s) for s in states]
    with fg.GradientTape() as tape:
        out = layer(x_var, initial_state=state_vars) if with_state else layer(x_var)
        loss = (out * fg.tensor(out_weights)).sum()
    analytic = tape.gradient(loss, [x_var, *layer.trainable_weights, *state_vars])
    arrays = [x, *weights, *states]
    for index, got in enumerate(analytic):
        expected = _numeric_gradient(ref_loss, arrays, index)
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-6, rtol=1e-5)


# ----- batches large enough to be split across threads


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_batch_split_across_threads_matches_reference_and_per_sample_gradients(name, go_backwards):
    # With 2 threads the time loop runs each half of this batch on its own thread (the op splits
    # the batch when the work is large enough); a batch of one never splits. Forward values must
    # match the numpy reference, and the weight gradients must be the sum of the per-sample ones.
    previous = fg.get_num_threads()
    fg.set_num_threads(2)
    try:
        rng = np.random.default_rng(5)
        batch, steps, features, units = 24, 8, 5, 48
        _, reference, _, n_states = CASES[name]
        x = rng.normal(size=(batch, steps, features))
        weights = random_weights(name, features, units, rng, scale=0.2)
        states = [rng.normal(size=(batch, units)) for _ in range(n_states)]
        layer = make_layer(name, units, return_sequences=True, go_backwards=go_backwards)
        layer.build((None, steps, features))
        layer.set_weights(weights)
        out_weights = rng.uniform(0.5, 1.5, size=(batch, steps, units))

        def gradients(rows):
            x_var = fg.Variable(x[rows])
            state_vars = [fg.Variable(s[rows]) for s in states]
            with fg.GradientTape() as tape:
                out = layer(x_var, initial_state=state_vars)
                loss = (out * fg.tensor(out_weights[rows])).sum()
            grads = tape.gradient(loss, [x_var, *layer.trainable_weights, *state_vars])
            return out.numpy(), [g.numpy() for g in grads]

        out, whole = gradients(slice(None))
        expected, _ = reference(x, weights, states, go_backwards)
        np.testing.assert_allclose(out, expected, atol=1e-10)
        singles = [gradients(slice(b, b + 1))[1] for b in range(batch)]
        np.testing.assert_allclose(whole[0], np.concatenate([s[0] for s in singles]), atol=1e-12)
        for index in range(1, 4):
            np.testing.assert_allclose(whole[index], sum(s[index] for s in singles), atol=1e-10)
        for index in range(4, len(whole)):
            np.testing.assert_allclose(whole[index], np.concatenate([s[index] for s in singles]), atol=1e-12)

        # float32 runs the vectorized sigmoid/tanh approximations; they stay within 1e-5.
        layer32 = make_layer(name, units, dtype="float32", return_sequences=True, go_backwards=go_backwards)
        layer32.build((None, steps, features))
        layer32.set_weights([w.astype(np.float32) for w in weights])
        out32 = layer32(x.astype(np.float32), initial_state=[s.astype(np.float32) for s in states])
        np.testing.assert_allclose(out32.numpy(), expected, atol=2e-5)
    finally:
        fg.set_num_threads(previous)


# ----- long unrolls: backpropagation through time must not recurse


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("steps", [100, 1000])
def test_long_unroll_backward_runs_without_stack_overflow(name, steps):
    layer = make_layer(name, 8, dtype="float32")
    x = fg.Variable(RNG.normal(size=(4, steps, 3)).astype(np.float32))
    result = {}

    def run():
        with fg.GradientTape() as tape:
            loss = layer(x).sum()
        result["grads"] = tape.gradient(loss, [x, *layer.trainable_weights])

    # A thread with a small stack (256 KiB): a recursive backward over the steps would overflow.
    previous = threading.stack_size(256 * 1024)
    try:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(previous)
    grads = result["grads"]
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert np.abs(grads[0].numpy()[:, -1]).sum() > 0


# ----- dropout


def test_dropout_applies_only_in_training():
    layer = layers.GRU(4, dropout=0.5, seed=3)
    x = np.ones((8, 5, 6), np.float32)
    inference = layer(x).numpy()
    np.testing.assert_array_equal(inference, layer(x, training=False).numpy())
    assert not np.allclose(layer(x, training=True).numpy(), inference)
    # With recurrent dropout too (Keras 3's implementation=1: one input mask per gate).
    both = layers.LSTM(4, dropout=0.5, recurrent_dropout=0.3, seed=3)
    np.testing.assert_array_equal(both(x).numpy(), both(x, training=False).numpy())
    assert not np.allclose(both(x, training=True).numpy(), both(x).numpy())


# ----- learning


def test_embedding_lstm_learns_the_sign_of_a_sum():
    fg.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    values = rng.integers(-3, 4, size=(1600, 8))
    values = values[values.sum(axis=1) != 0]
    ids = values + 4  # tokens 1..7
    labels = (values.sum(axis=1) > 0).astype(np.float32)
    train, test = slice(0, 1200), slice(1200, None)
    model = fg.Sequential([fg.Input(shape=(8,)), layers.Embedding(8, 8), layers.LSTM(16), layers.Dense(1, "sigmoid")])
    model.compile(optimizer=fg.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(ids[train], labels[train], batch_size=32, epochs=12, verbose=0)
    _, accuracy = model.evaluate(ids[test], labels[test], verbose=0)
    assert accuracy > 0.85, accuracy


# ----- wrappers


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_merges_forward_and_time_ordered_backward(merge_mode):
    x = RNG.normal(size=(2, 5, 3))
    layer = layers.Bidirectional(layers.GRU(4, return_sequences=True, dtype="float64"), merge_mode=merge_mode)
    layer.build((None, 5, 3))
    forward, backward = random_weights("GRU", 3, 4), random_weights("GRU", 3, 4)
    layer.set_weights(forward + backward)
    f = ref_gru(x, forward)[0]
    b = ref_gru(x, backward, go_backwards=True)[0][:, ::-1]  # Keras reverses it into time order
    expected = {"concat": np.concatenate([f, b], -1), "sum": f + b, "mul": f * b, "ave": (f + b) / 2}[merge_mode]
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-12)
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"] * 2
    assert layer.forward_layer.name.startswith("forward_") and layer.backward_layer.go_backwards


def test_bidirectional_states_shapes_and_config():
    inputs = fg.Input(shape=(6, 2))
    out = layers.Bidirectional(layers.LSTM(3, return_state=True))(inputs)
    assert [o.shape for o in out] == [(None, 6)] + [(None, 3)] * 4
    layer = layers.Bidirectional(layers.SimpleRNN(2), merge_mode="sum")
    clone = layers.Bidirectional.from_config(layer.get_config())
    assert clone.merge_mode == "sum" and clone.forward_layer.units == 2
    with pytest.raises(ValueError, match="merge mode"):
        layers.Bidirectional(layers.GRU(2), merge_mode="max")


def test_time_distributed_applies_the_layer_to_every_step():
    x = RNG.normal(size=(2, 4, 3))
    dense = layers.Dense(5, dtype="float64")
    layer = layers.TimeDistributed(dense)
    out = layer(x)
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(out.numpy(), x @ kernel + bias, atol=1e-12)
    assert len(layer.trainable_weights) == 2
    with pytest.raises(ValueError, match="rank >= 3"):
        layers.TimeDistributed(layers.Dense(2))(np.zeros((2, 3), np.float32))


def test_bidirectional_gru_with_time_distributed_head_trains():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 6, 2)).astype(np.float32)
    y = np.cumsum(x[..., :1], axis=1)  # running sum: needs the past, per step
    model = fg.Sequential(
        [
            fg.Input(shape=(6, 2)),
            layers.Bidirectional(layers.GRU(8, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(1)),
        ]
    )
    model.compile(optimizer=fg.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
