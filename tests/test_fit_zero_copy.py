"""``fit``/``evaluate``/``predict`` read C-contiguous float arrays in place (as ``torch.from_numpy``)
instead of copying them into the engine: the results are exactly those of the copying path, every
other layout and dtype still trains the same, and a 200 MB training array costs no 200 MB more."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import _core, layers


def _data(n: int = 96, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    labels = np.argmax(x @ rng.normal(size=(d, 3)), axis=1).astype("int64")
    return x, labels


def _model(d: int = 6) -> fg.Sequential:
    """A small classifier with the same initial weights on every call."""
    fg.utils.set_random_seed(7)
    model = fg.Sequential([layers.Input((d,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.compile(
        optimizer=fg.optimizers.Adam(0.01),
        loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _fit(x, y, **kwargs) -> tuple[dict, list[np.ndarray]]:
    model = _model(np.shape(x)[1])
    fg.utils.set_random_seed(3)  # the shuffle order
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, **kwargs)
    return history.history, model.get_weights()


def _assert_same(a: tuple[dict, list[np.ndarray]], b: tuple[dict, list[np.ndarray]]) -> None:
    assert a[0] == b[0]
    for wa, wb in zip(a[1], b[1]):
        np.testing.assert_array_equal(wa, wb)


def _engine_epochs(make_column, sample_weight: np.ndarray | None = None) -> tuple[list, list[np.ndarray]]:
    """Three shuffled epochs through ``_core`` directly, with the arrays given as ``make_column``
    makes them: numpy arrays (read in place) or engine tensors (copied when converted)."""
    x, labels = _data()
    y = labels.astype("float32")
    model = _model()
    model._compile_engine([y])
    columns = [make_column(x)], [make_column(y)]
    sw = None if sample_weight is None else make_column(sample_weight)
    dataset = _core.Dataset(*columns, sw)
    logs = [model._core().fit_epoch(dataset, 16, True, seed, None)[0] for seed in (11, 12, 13)]
    return logs, model.get_weights()


def test_arrays_read_in_place_train_exactly_as_engine_tensors():
    in_place = _engine_epochs(lambda a: a)
    copied = _engine_epochs(fg.ops.convert_to_tensor)
    _assert_same(in_place, copied)
    assert in_place[0][-1]["loss"] < in_place[0][0]["loss"]


def test_sample_weights_read_in_place_train_exactly_as_engine_tensors():
    weights = np.linspace(0.1, 3.0, 96).astype("float32")
    in_place = _engine_epochs(lambda a: a, weights)
    copied = _engine_epochs(fg.ops.convert_to_tensor, weights)
    _assert_same(in_place, copied)
    unweighted = _engine_epochs(lambda a: a)
    assert in_place[0][0]["loss"] != pytest.approx(unweighted[0][0]["loss"], rel=1e-4)


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda x: np.asfortranarray(x), id="fortran-order"),
        pytest.param(lambda x: np.repeat(x, 2, axis=1)[:, ::2], id="strided-view"),
        pytest.param(lambda x: x.astype("float64"), id="float64"),
        pytest.param(lambda x: x.astype(">f4"), id="big-endian"),
        pytest.param(lambda x: x.tolist(), id="nested-list"),
        pytest.param(fg.ops.convert_to_tensor, id="tensor"),
    ],
)
def test_every_layout_and_dtype_trains_like_a_contiguous_float32_array(layout):
    x, y = _data()
    _assert_same(_fit(layout(x), y), _fit(x, y))


def test_integer_inputs_train_like_the_same_values_as_floats():
    x, y = _data()
    whole = np.round(x * 4).astype("int32")
    _assert_same(_fit(whole, y), _fit(whole.astype("float32"), y))


def test_float64_model_reads_float64_arrays_and_casts_float32_ones():
    x, labels = _data()

    def run(inputs):
        fg.utils.set_random_seed(7)
        model = fg.Sequential([layers.Input((6,), dtype="float64"), layers.Dense(3, dtype="float64")])
        model.compile("sgd", fg.losses.SparseCategoricalCrossentropy(from_logits=True))
        fg.utils.set_random_seed(3)
        return model.fit(inputs, labels, epochs=2, batch_size=16, verbose=0).history, model.get_weights()

    _assert_same(run(x.astype("float64")), run(x))


def test_sample_weight_validation_data_and_split_from_arrays_in_place():
    x, y = _data()
    w = np.linspace(0.5, 2.0, 96).astype("float32")
    reference = _fit(x, y, sample_weight=np.asfortranarray(w[:, None])[:, 0].astype("float64"))
    _assert_same(_fit(x, y, sample_weight=w), reference)

    split = _fit(x, y, validation_split=0.25)
    explicit = _fit(x[:72], y[:72], validation_data=(x[72:].copy(), y[72:]))
    _assert_same(split, explicit)
    assert "val_loss" in split[0] and len(split[0]["val_loss"]) == 3


def test_evaluate_predict_and_batch_methods_agree_across_paths():
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(np.asfortranarray(x), batch_size=10, verbose=0)
    np.testing.assert_array_equal(model.predict(x, batch_size=10, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(x, batch_size=500, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(x[:0], verbose=0), expected[:0])
    assert model.evaluate(x, y, batch_size=10, verbose=0) == model.evaluate(
        x.astype("float64"), y, batch_size=10, verbose=0
    )
    before = model.get_weights()
    assert model.test_on_batch(x[:16], y[:16]) == model.test_on_batch(np.asfortranarray(x[:16]), y[:16])
    model.train_on_batch(x[:16], y[:16])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    report = fg.diagnostics.gradient_report(model, x[:32], y[:32])
    assert np.isfinite(report.loss)


def test_an_array_read_in_place_cannot_be_resized_under_the_engine():
    x, labels = _data()
    dataset = _core.Dataset([x], [labels.astype("float32")])
    with pytest.raises(ValueError, match="reference"):
        x.resize((10, 6))
    del dataset
    x.resize((10, 6))
    assert x.shape == (10, 6)


def test_nan_is_found_in_any_chunk_of_a_large_array():
    x = np.zeros((1_100_000 // 11, 11), dtype="float32")
    assert fg.models.data.all_finite(x)
    x[-1, -1] = np.inf
    assert not fg.models.data.all_finite(x)
    model = fg.Sequential([layers.Input((11,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"x \(shape \(100000, 11\)\) contains 1 NaN or infinite"):
        model.fit(x, np.zeros(len(x)), verbose=0)


_RSS_SCRIPT = textwrap.dedent(
    """
    import resource
    import numpy as np
    import ferrograd as fg

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    model = fg.Sequential([fg.Input((784,)), fg.layers.Dense(4), fg.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.ones((512, 784), "float32"), np.zeros(512), batch_size=256, verbose=0)  # warm up
    x = np.full((65536, 784), 0.5, dtype="float32")  # 205 MB
    y = np.zeros((len(x), 1), dtype="float32")
    start = peak_mb()
    model.fit(x, y, batch_size=1024, epochs=1, validation_split=0.125, verbose=0)
    model.evaluate(x, y, batch_size=4096, verbose=0)
    model.predict(x, batch_size=4096, verbose=0)
    print(peak_mb() - start, x.nbytes / 2**20)
    """
)


def test_fit_evaluate_and_predict_do_not_copy_the_training_array():
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    growth, size = map(float, out.stdout.split())
    # A copy of x (or a boolean array of its size, 51 MB) would show; the batches, the small model
    # and predict's 0.25 MB output stay far below a quarter of x.
    assert growth < size / 4, f"peak RSS grew by {growth:.0f} MB for a {size:.0f} MB array"
