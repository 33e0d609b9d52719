"""CTC loss and decoding against references written here, independently of the engine.

References:
- the definition of CTC (Graves et al., 2006, section 3): -log of the summed probability of every
  frame-level path that collapses (merge repeats, then drop blanks) to the labels, enumerated by
  brute force for tiny problems;
- the paper's forward recursion (eqs. 6-7) in plain probability space, for larger problems;
- Keras 3's semantics (keras/src/ops/nn.py ctc_loss/ctc_decode, keras/src/losses/losses.py
  ctc/CTC, keras/src/backend/{torch,numpy}/nn.py): a log-softmax over the logits' classes;
  `keras.losses.ctc` uses every frame and class 0 as the blank; greedy decoding returns
  (1, batch, max_time) ids padded with -1 and minus the sum of each frame's largest logit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrograd as fg

# ----- independent references


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _collapse(path, blank=0):
    out, previous = [], None
    for c in path:
        if c != previous and c != blank:
            out.append(c)
        previous = c
    return out


def brute_force_nll(logits, labels, blank=0):
    """-log P(labels | logits) by enumerating all num_classes**time frame paths."""
    time, classes = logits.shape
    probs = _softmax(logits)
    total = 0.0
    for path in itertools.product(range(classes), repeat=time):
        if _collapse(path, blank) == list(labels):
            total += np.prod(probs[np.arange(time), list(path)])
    return -np.log(total) if total > 0 else np.inf


def alpha_nll(logits, labels, blank=0):
    """-log P(labels | logits) by the forward recursion over blank-interleaved labels, in plain
    probabilities (no logs): adequate for the short sequences used here."""
    time = logits.shape[0]
    if time == 0:
        return 0.0 if len(labels) == 0 else np.inf
    probs = _softmax(logits)
    extended = [blank]
    for label in labels:
        extended += [label, blank]
    states = len(extended)
    alpha = np.zeros(states)
    alpha[0] = probs[0, blank]
    if states > 1:
        alpha[1] = probs[0, extended[1]]
    for t in range(1, time):
        previous = alpha.copy()
        for s in range(states):
            total = previous[s]
            if s >= 1:
                total += previous[s - 1]
            if s >= 2 and extended[s] != blank and extended[s] != extended[s - 2]:
                total += previous[s - 2]
            alpha[s] = total * probs[t, extended[s]]
    likelihood = alpha[-1] + (alpha[-2] if states > 1 else 0.0)
    return -np.log(likelihood) if likelihood > 0 else np.inf


def _padded(rows, width=None, fill=0):
    width = max([len(r) for r in rows] + [1]) if width is None else width
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _min_frames(labels):
    """Frames needed to emit `labels`: one per label plus a blank between equal neighbours."""
    return len(labels) + sum(a == b for a, b in zip(labels, labels[1:]))


# ----- the loss


def test_matches_brute_force_enumeration():
    rng = np.random.default_rng(0)
    cases = [
        (3, 2, []),
        (3, 2, [1]),
        (4, 2, [1, 1]),
        (3, 2, [1, 1, 1]),  # needs 5 frames: impossible
        (4, 3, [1, 2]),
        (5, 3, [2, 2, 1]),
        (5, 3, [1, 2, 1]),
        (4, 3, [2, 2]),
        (2, 3, [1, 2]),
    ]
    for time, classes, labels in cases:
        logits = rng.normal(size=(time, classes)) * 1.5
        target = _padded([labels])
        loss = fg.ops.ctc_loss(target, logits[None], [len(labels)], [time]).numpy()
        expected = brute_force_nll(logits, labels)
        if np.isinf(expected):
            assert loss[0] == np.inf, (labels, time)
        else:
            np.testing.assert_allclose(loss, [expected], rtol=1e-12, atol=1e-12)


def test_blank_index_other_than_zero_matches_brute_force():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 3))
    for labels in ([0, 1], [1, 1], [0]):
        loss = fg.ops.ctc_loss(_padded([labels]), logits[None], [len(labels)], [5], mask_index=2)
        np.testing.assert_allclose(loss.numpy(), [brute_force_nll(logits, labels, blank=2)], rtol=1e-12)


@st.composite
def ctc_problems(draw, max_batch=3, max_time=8, max_classes=5):
    batch = draw(st.integers(1, max_batch))
    time = draw(st.integers(1, max_time))
    classes = draw(st.integers(2, max_classes))
    frames = [draw(st.integers(0, time)) for _ in range(batch)]
    labels = [draw(st.lists(st.integers(1, classes - 1), max_size=time)) for _ in range(batch)]
    seed = draw(st.integers(0, 2**31 - 1))
    logits = np.random.default_rng(seed).uniform(-3, 3, size=(batch, time, classes))
    return logits, labels, frames


@given(ctc_problems())
@settings(max_examples=60, deadline=None)
def test_matches_probability_space_recursion(problem):
    logits, labels, frames = problem
    width = max(len(r) for r in labels) + 1
    # Entries past a sample's target_length are never read, whatever they hold.
    target = _padded(labels, width=width, fill=-5)
    loss = fg.ops.ctc_loss(target, logits, [len(r) for r in labels], frames).numpy()
    expected = [alpha_nll(logits[b, : frames[b]], labels[b]) for b in range(len(labels))]
    for b, (got, want) in enumerate(zip(loss, expected)):
        feasible = frames[b] >= _min_frames(labels[b])
        assert np.isfinite(want) == feasible
        if feasible:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        else:
            assert got == np.inf


@given(ctc_problems(max_time=6, max_classes=4))
@settings(max_examples=40, deadline=None)
def test_gradient_matches_finite_differences_of_the_reference(problem):
    logits, labels, frames = problem
    target = _padded(labels)
    lengths = [len(r) for r in labels]
    x = fg.tensor(logits, requires_grad=True, dtype="float64")
    weights = np.linspace(0.5, 1.5, len(labels))
    loss = fg.ops.ctc_loss(target, x, lengths, frames)
    (loss * fg.tensor(weights)).sum().backward()
    analytic = x.grad.numpy()
    assert np.all(np.isfinite(analytic))

    eps = 1e-6
    numeric = np.zeros_like(logits)
    for b in range(len(labels)):
        if frames[b] < _min_frames(labels[b]):
            continue  # infinite loss: the engine's documented gradient is 0
        for idx in np.ndindex(logits.shape[1:]):
            plus, minus = logits[b].copy(), logits[b].copy()
            plus[idx] += eps
            minus[idx] -= eps
            f_plus = alpha_nll(plus[: frames[b]], labels[b])
            f_minus = alpha_nll(minus[: frames[b]], labels[b])
            numeric[(b, *idx)] = weights[b] * (f_plus - f_minus) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def test_gradient_with_long_sequence_stays_finite_and_rows_sum_to_zero():
    # 200 frames: plain probabilities would underflow; the log-space recursion does not.
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 200, 6)) * 4
    labels = rng.integers(1, 6, size=(2, 40))
    x = fg.tensor(logits, requires_grad=True, dtype="float64")
    loss = fg.ops.ctc_loss(labels, x, [40, 25], [200, 150])
    assert np.all(np.isfinite(loss.numpy()))
    loss.sum().backward()
    grad = x.grad.numpy()
    assert np.all(np.isfinite(grad))
    # softmax minus a posterior over classes: each valid frame's gradient sums to 0.
    np.testing.assert_allclose(grad.sum(axis=-1)[0], 0.0, atol=1e-10)
    np.testing.assert_allclose(grad[1, :150].sum(axis=-1), 0.0, atol=1e-10)
    assert np.all(grad[1, 150:] == 0.0)


def test_large_batch_split_over_threads_matches_sample_by_sample():
    # Big enough for the batch to be split over the thread pool; one sample at a time stays serial.
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(12, 100, 7))
    labels = rng.integers(1, 7, size=(12, 20))
    lengths, frames = rng.integers(0, 21, size=12), rng.integers(50, 101, size=12)
    x = fg.tensor(logits, requires_grad=True, dtype="float64")
    batch_loss = fg.ops.ctc_loss(labels, x, lengths, frames)
    batch_loss.sum().backward()
    for b in range(12):
        xb = fg.tensor(logits[b : b + 1], requires_grad=True, dtype="float64")
        single = fg.ops.ctc_loss(labels[b : b + 1], xb, lengths[b : b + 1], frames[b : b + 1])
        single.sum().backward()
        np.testing.assert_allclose(batch_loss.numpy()[b], single.numpy()[0], rtol=1e-13)
        np.testing.assert_allclose(x.grad.numpy()[b], xb.grad.numpy()[0], atol=1e-13)


def test_impossible_alignment_gives_inf_loss_and_zero_gradient():
    x = fg.tensor(np.zeros((2, 2, 3)), requires_grad=True, dtype="float64")
    # sample 0: "1 1" needs 3 frames, has 2; sample 1 is fine.
    loss = fg.ops.ctc_loss([[1, 1], [1, 2]], x, [2, 2], [2, 2])
    values = loss.numpy()
    assert values[0] == np.inf and np.isfinite(values[1])
    loss.sum().backward()
    grad = x.grad.numpy()
    assert np.all(grad[0] == 0.0)
    assert np.all(np.isfinite(grad[1])) and np.any(grad[1] != 0.0)


def test_float32_logits_give_float32_losses_close_to_float64():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(3, 6, 4))
    target = [[1, 2, 3], [3, 3, 0], [2, 0, 0]]
    lengths, frames = [3, 2, 1], [6, 6, 4]
    loss32 = fg.ops.ctc_loss(target, logits.astype(np.float32), lengths, frames)
    loss64 = fg.ops.ctc_loss(target, logits, lengths, frames)
    assert loss32.dtype == "float32" and loss64.dtype == "float64"
    np.testing.assert_allclose(loss32.numpy(), loss64.numpy(), rtol=1e-5)


def test_keras_ctc_function_and_class():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 5, 4))
    # Rows may end in the blank 0 as padding; full rows are Keras's exact case.
    y_true = np.array([[1, 2, 3], [2, 2, 0], [3, 0, 0]])
    per_sample = fg.losses.ctc(y_true, logits).numpy()
    expected = [alpha_nll(logits[0], [1, 2, 3]), alpha_nll(logits[1], [2, 2]), alpha_nll(logits[2], [3])]
    np.testing.assert_allclose(per_sample, expected, rtol=1e-10)
    # whole-number floats are labels too (fit hands labels over as floats)
    np.testing.assert_allclose(fg.losses.ctc(y_true.astype(np.float32), logits).numpy(), expected, rtol=1e-10)
    loss = fg.losses.CTC()
    assert loss.name == "ctc" and loss.reduction == "sum_over_batch_size"
    np.testing.assert_allclose(loss(y_true, logits).item(), np.mean(expected), rtol=1e-10)
    np.testing.assert_allclose(
        fg.losses.CTC(reduction="sum")(y_true, logits, sample_weight=[1.0, 0.0, 2.0]).item(),
        expected[0] + 2 * expected[2],
        rtol=1e-10,
    )
    assert isinstance(fg.losses.get("CTC"), fg.losses.CTC)
    assert fg.losses.get("ctc") is fg.losses.ctc
    restored = fg.losses.deserialize(fg.losses.serialize(loss))
    assert isinstance(restored, fg.losses.CTC) and restored.get_config() == loss.get_config()


# ----- bad input


def test_bad_inputs_raise_clear_errors():
    logits = np.zeros((2, 4, 3))
    good = np.array([[1, 2], [2, 1]])
    with pytest.raises(ValueError, match=r"target must have shape \(batch_size, max_length\).*\[2\]"):
        fg.ops.ctc_loss([1, 2], logits, [1, 1], [4, 4])
    with pytest.raises(ValueError, match=r"output must have shape.*\[2, 12\]"):
        fg.ops.ctc_loss(good, logits.reshape(2, 12), [2, 2], [4, 4])
    with pytest.raises(ValueError, match="same batch size"):
        fg.ops.ctc_loss(good[:1], logits, [2], [4])
    with pytest.raises(ValueError, match=r"target_length\[1\]=3 is out of range"):
        fg.ops.ctc_loss(good, logits, [2, 3], [4, 4])
    with pytest.raises(ValueError, match=r"output_length\[0\]=-1 is out of range"):
        fg.ops.ctc_loss(good, logits, [2, 2], [-1, 4])
    with pytest.raises(ValueError, match=r"output_length\[1\]=5 is out of range"):
        fg.ops.ctc_loss(good, logits, [2, 2], [4, 5])
    with pytest.raises(ValueError, match=r"target_length must have shape \(2,\)"):
        fg.ops.ctc_loss(good, logits, [2, 2, 2], [4, 4])
    with pytest.raises(ValueError, match=r"target\[0, 1\]=3 is not a class"):
        fg.ops.ctc_loss([[1, 3], [1, 1]], logits, [2, 2], [4, 4])
    with pytest.raises(ValueError, match=r"target\[1, 0\]=-1 is not a class"):
        fg.ops.ctc_loss([[1, 2], [-1, 1]], logits, [2, 2], [4, 4])
    with pytest.raises(ValueError, match=r"target\[1, 1\]=0 is the blank"):
        fg.ops.ctc_loss([[1, 2], [1, 0]], logits, [2, 2], [4, 4])
    with pytest.raises(ValueError, match="mask_index must be a class index"):
        fg.ops.ctc_loss(good, logits, [2, 2], [4, 4], mask_index=3)
    with pytest.raises(TypeError, match="non-integral"):
        fg.ops.ctc_loss([[1.5, 2.0], [1.0, 1.0]], logits, [2, 2], [4, 4])
    with pytest.raises(TypeError, match="target_length"):
        fg.ops.ctc_loss(good, logits, [2.5, 2], [4, 4])
    with pytest.raises(ValueError, match=r"y_true.shape=\[2, 2, 1\]"):
        fg.losses.ctc(good[..., None], logits)
    with pytest.raises(ValueError, match=r"y_pred.shape=\[2, 12\]"):
        fg.losses.ctc(good, logits.reshape(2, 12))
    with pytest.raises(ValueError, match="may only pad the end"):
        fg.losses.ctc([[1, 0, 2], [1, 1, 1]], np.zeros((2, 6, 3)))


# ----- decoding


def _peaked(paths, classes, high=5.0):
    """Logits with `high` on each frame's class of `paths` and 0 elsewhere."""
    paths = np.asarray(paths)
    logits = np.zeros(paths.shape + (classes,))
    np.put_along_axis(logits, paths[..., None], high, axis=-1)
    return logits


def test_greedy_decode_merges_repeats_removes_blanks_and_respects_lengths():
    logits = _peaked([[1, 1, 0, 1, 2, 2, 0], [3, 0, 0, 3, 3, 1, 2], [0, 0, 0, 0, 0, 0, 0]], 4)
    decoded, scores = fg.ops.ctc_decode(logits, [7, 5, 7])
    assert decoded.dtype == np.int32 and decoded.shape == (1, 3, 7)
    np.testing.assert_array_equal(
        decoded[0],
        [[1, 1, 2, -1, -1, -1, -1], [3, 3, -1, -1, -1, -1, -1], [-1] * 7],
    )
    # Keras: minus the sum over valid frames of each frame's largest logit.
    np.testing.assert_allclose(scores.numpy(), [[-35.0], [-25.0], [-35.0]])
    assert scores.shape == (3, 1)
    unmerged, _ = fg.ops.ctc_decode(logits, [7, 5, 7], merge_repeated=False)
    np.testing.assert_array_equal(unmerged[0, 0], [1, 1, 1, 2, 2, -1, -1])
    blank3, _ = fg.ops.ctc_decode(logits, [7, 5, 7], mask_index=3)
    np.testing.assert_array_equal(blank3[0, 1], [0, -1, -1, -1, -1, -1, -1])  # frames 3 0 0 3 3
    last_class, _ = fg.ops.ctc_decode(logits, [7, 5, 7], mask_index=None)  # Keras's backends: the last class
    np.testing.assert_array_equal(last_class, blank3)


def test_beam_search_finds_the_most_probable_labelling():
    rng = np.random.default_rng(7)
    time, classes = 4, 3
    logits = rng.normal(size=(2, time, classes)) * 2
    decoded, scores = fg.ops.ctc_decode(logits, [4, 3], strategy="beam_search", beam_width=50, top_paths=3)
    assert decoded.shape == (3, 2, time) and scores.shape == (2, 3)
    for b, frames in enumerate([4, 3]):
        # every labelling that fits in `frames` frames, scored by the brute-force reference
        candidates = [
            list(seq)
            for n in range(frames + 1)
            for seq in itertools.product(range(1, classes), repeat=n)
            if _min_frames(list(seq)) <= frames
        ]
        log_probs = sorted((-brute_force_nll(logits[b, :frames], c), c) for c in candidates)[::-1]
        for rank in range(3):
            path = [int(v) for v in decoded[rank, b] if v >= 0]
            assert path == log_probs[rank][1]
            np.testing.assert_allclose(scores.numpy()[b, rank], log_probs[rank][0], rtol=1e-10)


def test_beam_search_over_a_large_batch_matches_sample_by_sample():
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(8, 30, 6)) * 2
    frames = rng.integers(10, 31, size=8)
    decoded, scores = fg.ops.ctc_decode(logits, frames, strategy="beam_search", beam_width=32, top_paths=2)
    for b in range(8):
        one, one_scores = fg.ops.ctc_decode(
            logits[b : b + 1], frames[b : b + 1], strategy="beam_search", beam_width=32, top_paths=2
        )
        np.testing.assert_array_equal(decoded[:, b], one[:, 0])
        np.testing.assert_allclose(scores.numpy()[b], one_scores.numpy()[0], rtol=1e-13)
    assert np.all(np.diff(scores.numpy(), axis=1) <= 0)  # best first


def test_decode_bad_arguments():
    logits = np.zeros((1, 3, 3))
    with pytest.raises(ValueError, match="Invalid strategy"):
        fg.ops.ctc_decode(logits, [3], strategy="best")
    with pytest.raises(ValueError, match="top_paths must be in"):
        fg.ops.ctc_decode(logits, [3], strategy="beam_search", beam_width=2, top_paths=3)
    with pytest.raises(ValueError, match="beam_width"):
        fg.ops.ctc_decode(logits, [3], strategy="beam_search", beam_width=-1)
    with pytest.raises(ValueError, match=r"sequence_lengths\[0\]=4 is out of range"):
        fg.ops.ctc_decode(logits, [4])
    with pytest.raises(ValueError, match=r"inputs must have shape"):
        fg.ops.ctc_decode(logits[0], [3])


# ----- end to end


def test_fit_learns_label_sequences_and_greedy_decode_recovers_them():
    """A per-frame model sees noisy one-hot frames of an unaligned rendering of the labels
    (each label held for 1-2 frames, blanks at random between); trained with CTC alone, its
    decoded output must give back the labels."""
    rng = np.random.default_rng(0)
    fg.utils.set_random_seed(0)
    classes, time, samples = 4, 8, 256
    x = np.zeros((samples, time, classes), dtype=np.float32)
    y = np.zeros((samples, 3), dtype=np.int64)
    for i in range(samples):
        labels = list(rng.integers(1, classes, size=rng.integers(1, 4)))
        frames = []
        for j, label in enumerate(labels):
            if j > 0 and (label == labels[j - 1] or rng.random() < 0.5):
                frames.append(0)
            frames += [label] * int(rng.integers(1, 3))
        frames += [0] * (time - len(frames))
        x[i, np.arange(time), frames] = 1.0
        y[i, : len(labels)] = labels
    x += rng.normal(scale=0.1, size=x.shape).astype(np.float32)

    model = fg.Sequential([fg.Input((time, classes)), fg.layers.Dense(16, activation="tanh"), fg.layers.Dense(classes)])
    model.compile(optimizer=fg.optimizers.Adam(0.05), loss=fg.losses.CTC())
    history = model.fit(x, y, batch_size=32, epochs=30, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.1 * losses[0], losses

    decoded, _ = fg.ops.ctc_decode(model.predict(x, verbose=0), np.full(samples, time))
    recovered = np.where(decoded[0, :, :3] < 0, 0, decoded[0, :, :3])
    assert np.mean(np.all(recovered == y, axis=1)) > 0.95
    # the string name reaches the same engine loss
    model.compile(optimizer="adam", loss="ctc")
    expected = fg.losses.CTC()(y, model.predict(x, verbose=0)).item()
    assert np.isclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-4)


def test_recurrent_model_learns_to_emit_label_sequences_from_a_code():
    """Each sample shows a GRU only a one-hot code at its first frame; it must emit that code's
    label sequence (repeats included) over the following frames, with CTC choosing where."""
    rng = np.random.default_rng(1)
    fg.utils.set_random_seed(1)
    sequences = [[1, 2, 3], [3, 3], [2], [1, 1, 2], [3, 1], [2, 3, 2]]
    codes, time, classes = len(sequences), 8, 4
    ids = rng.integers(0, codes, size=192)
    x = np.zeros((len(ids), time, codes), dtype=np.float32)
    x[np.arange(len(ids)), 0, ids] = 1.0
    y = _padded([sequences[k] for k in ids], width=3)

    model = fg.Sequential([fg.Input((time, codes)), fg.layers.GRU(24, return_sequences=True), fg.layers.Dense(classes)])
    model.compile(optimizer=fg.optimizers.Adam(0.02), loss=fg.losses.CTC())
    model.fit(x, y, batch_size=32, epochs=60, verbose=0)

    probe = np.zeros((codes, time, codes), dtype=np.float32)
    probe[np.arange(codes), 0, np.arange(codes)] = 1.0
    greedy, _ = fg.ops.ctc_decode(model.predict(probe, verbose=0), np.full(codes, time))
    beam, log_probs = fg.ops.ctc_decode(model.predict(probe, verbose=0), np.full(codes, time), strategy="beam_search")
    for k, sequence in enumerate(sequences):
        assert [int(c) for c in greedy[0, k] if c >= 0] == sequence
        assert [int(c) for c in beam[0, k] if c >= 0] == sequence
    assert np.all(log_probs.numpy() > np.log(0.9))
