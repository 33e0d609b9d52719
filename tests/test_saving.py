"""Whole-model saving: ``model.save`` / ``fg.load_model`` round trips for every layer and for
Sequential, functional (residual, several inputs and outputs, shared and nested layers) and
custom-layer models; identical training continuation (optimizer state restored); the engine's
native loader (``ferrograd::saving::load_model``, reached here through
``fg._core.load_model_native`` and through the Rust example programs) giving Python's
predictions for the same file. Damaged and hostile files are in test_saving_robustness.py."""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import layers
from test_serialization import LAYER_CASES

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(11)

# Layers whose case in test_serialization takes one input of a known shape.
SINGLE_INPUT = sorted(
    name
    for name, (_, shape) in LAYER_CASES.items()
    if name not in ("Layer", "InputLayer")
    and isinstance(shape, tuple)
    and all(isinstance(d, (int, type(None))) for d in shape)
)
MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


def _inputs_for(layer, shape):
    size = (6, *shape[1:])
    if isinstance(layer, layers.Embedding):
        return RNG.integers(0, layer.input_dim, size=size).astype("float32")
    return RNG.normal(size=size).astype("float32")


def _native_predict(path, xs):
    model = fg._core.load_model_native(str(path))
    return [np.asarray(t) for t in model.predict(list(xs), 32)]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("name", SINGLE_INPUT)
def test_every_layer_round_trips_through_a_model_file(name, tmp_path):
    make, shape = LAYER_CASES[name]
    layer = make()
    inp = layers.Input(shape[1:])
    model = fg.Model(inp, layer(inp))
    x = _inputs_for(layer, shape)
    expected = _as_list(model.predict(x, verbose=0))
    path = tmp_path / f"{name}.safetensors"
    model.save(path)

    loaded = fg.load_model(path)
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    for got, want in zip(_as_list(loaded.predict(x, verbose=0)), expected):
        np.testing.assert_array_equal(got, want)
    # The engine's own loader reads the same file without Python's layer classes.
    for got, want in zip(_native_predict(path, [x]), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# Layers that draw random numbers in training (Dropout, recurrent dropout): the state of their
# generators is not saved, so only their predictions round-trip exactly, not their training.
RANDOM_IN_TRAINING = {"Dropout", "LSTM"}


@pytest.mark.parametrize("name", sorted(set(SINGLE_INPUT) - RANDOM_IN_TRAINING))
def test_every_layer_continues_training_exactly_after_load(name, tmp_path):
    make, shape = LAYER_CASES[name]
    layer = make()
    inp = layers.Input(shape[1:])
    outputs = _as_list(layer(inp))
    model = fg.Model(inp, outputs)
    x = _inputs_for(layer, (None, *shape[1:]))
    x = np.concatenate([x, _inputs_for(layer, (None, *shape[1:]))])
    ys = [RNG.normal(size=np.shape(p)).astype("float32") for p in _as_list(model.predict(x, verbose=0))]
    ys = ys[0] if len(ys) == 1 else ys
    model.compile(optimizer=fg.optimizers.Adam(1e-2), loss="mse" if len(outputs) == 1 else ["mse"] * len(outputs))
    model.fit(x, ys, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / f"{name}.safetensors"
    model.save(path)
    loaded = fg.load_model(path)
    assert loaded.optimizer.iterations == model.optimizer.iterations
    a = model.fit(x, ys, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    b = loaded.fit(x, ys, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    assert a == b
    for wa, wb in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("name", MERGES)
def test_merge_layers_round_trip(name, tmp_path):
    a, b = layers.Input((3,)), layers.Input((3,))
    out = getattr(layers, name)()([layers.Dense(3)(a), b])
    model = fg.Model([a, b], out)
    xs = [RNG.normal(size=(5, 3)).astype("float32") for _ in range(2)]
    path = tmp_path / "merge.safetensors"
    model.save(path)
    expected = model.predict(xs, verbose=0)
    np.testing.assert_array_equal(fg.load_model(path).predict(xs, verbose=0), expected)
    np.testing.assert_allclose(_native_predict(path, xs)[0], expected, rtol=1e-6, atol=1e-6)


def _residual_model():
    inp = layers.Input((8,), name="features")
    h = layers.Dense(16, activation="relu")(inp)
    h = layers.BatchNormalization()(h)
    skip = layers.Dense(16)(inp)
    h = layers.Add()([h, skip])
    out = layers.Dense(3)(h)
    model = fg.Model(inp, out, name="residual")
    model.compile(
        optimizer=fg.optimizers.Adam(1e-2),
        loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _classes(n=96):
    x = RNG.normal(size=(n, 8)).astype("float32")
    y = (np.argmax(x[:, :3], axis=1)).astype("int64")
    return x, y


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: fg.optimizers.Adam(1e-2),
        lambda: fg.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda: fg.optimizers.RMSprop(1e-3),
        lambda: fg.optimizers.Nadam(1e-3),
    ],
)
def test_training_continues_exactly_after_load(make_optimizer, tmp_path):
    x, y = _classes()
    model = _residual_model()
    model.compile(optimizer=make_optimizer(), loss=model.loss, metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "residual.safetensors"
    model.save(path)
    loaded = fg.load_model(path)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 12
    assert type(loaded.optimizer) is type(model.optimizer)
    # Same data order, same starting point, same optimizer state: the same next epoch.
    a = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    b = loaded.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    assert a == b
    for wa, wb in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_without_the_optimizer_training_restarts_the_optimizer(tmp_path):
    x, y = _classes()
    model = _residual_model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "no_opt.safetensors"
    model.save(path, include_optimizer=False)
    loaded = fg.load_model(path)
    assert loaded.optimizer.iterations == 0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert "optimizer_state" not in fg._core.read_model_metadata(str(path))
    uncompiled = fg.load_model(path, compile=False)
    assert not uncompiled.compiled


def test_several_inputs_and_outputs_shared_and_nested_layers(tmp_path):
    a, b = layers.Input((4,), name="a"), layers.Input((4,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    merged = layers.Concatenate()([shared(a), shared(b)])
    head = fg.Sequential([layers.Input((10,)), layers.Dense(6, activation="relu"), layers.Dense(2)], name="head")
    out1 = head(merged)
    out2 = layers.Dense(1, name="score")(merged)
    model = fg.Model([a, b], [out1, out2])
    model.compile(optimizer="adam", loss=["mse", "mae"], loss_weights=[1.0, 0.5])
    xs = [RNG.normal(size=(8, 4)).astype("float32") for _ in range(2)]
    ys = [RNG.normal(size=(8, 2)).astype("float32"), RNG.normal(size=(8, 1)).astype("float32")]
    model.fit(xs, ys, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "multi.safetensors"
    model.save(path)
    loaded = fg.load_model(path)
    for got, want in zip(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_array_equal(got, want)
    a_hist = model.fit(xs, ys, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    b_hist = loaded.fit(xs, ys, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    assert a_hist == b_hist
    # A nested model is Python's business: the native loader says so instead of guessing.
    with pytest.raises(ValueError, match="nested"):
        fg._core.load_model_native(str(path))


def test_shared_layers_and_several_outputs_load_natively(tmp_path):
    a, b = layers.Input((4,), name="a"), layers.Input((4,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    merged = layers.Concatenate()([shared(a), shared(b)])
    model = fg.Model([a, b], [layers.Dense(2)(merged), layers.Dense(1, activation="sigmoid")(merged)])
    xs = [RNG.normal(size=(7, 4)).astype("float32") for _ in range(2)]
    path = tmp_path / "shared.safetensors"
    model.save(path)
    for got, want in zip(_native_predict(path, xs), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@fg.saving.register_serializable(package="TestSaving")
class Scale(layers.Layer):
    """A custom layer with one weight: ``x * w``."""

    def __init__(self, init=2.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer=fg.initializers.Constant(self.init), name="w")

    def call(self, x):
        return x * self.w

    def get_config(self):
        return {**super().get_config(), "init": self.init}


def test_custom_layers_round_trip_in_python_and_are_refused_natively(tmp_path):
    model = fg.Sequential([layers.Input((3,)), Scale(1.5, name="scale"), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = RNG.normal(size=(8, 3)).astype("float32"), RNG.normal(size=(8, 2)).astype("float32")
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "custom.safetensors"
    model.save(path)
    loaded = fg.load_model(path)
    assert isinstance(loaded.layers[0], Scale)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="TestSaving>Scale|Scale"):
        fg._core.load_model_native(str(path))


def test_weights_files_load_by_name_by_position_and_with_skip_mismatch(tmp_path):
    def make(units=3):
        return fg.Sequential([layers.Input((4,)), layers.Dense(units), layers.Dense(1)])

    model = make()
    x = RNG.normal(size=(5, 4)).astype("float32")
    path = tmp_path / "w.weights.safetensors"
    model.save_weights(path)
    # Built again in this process, the layers get other names (dense_2, ...): loaded by position.
    other = make()
    assert [la.name for la in other.layers] != [la.name for la in model.layers]
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    # By name into a model with one more layer: skip_mismatch loads what fits and reports the rest.
    bigger = fg.Sequential(
        [layers.Input((4,)), layers.Dense(3, name=model.layers[0].name), layers.Dense(1, name=model.layers[1].name)]
    )
    bigger.load_weights(path)
    np.testing.assert_array_equal(bigger.predict(x, verbose=0), model.predict(x, verbose=0))
    wider = fg.Sequential(
        [layers.Input((4,)), layers.Dense(5, name=model.layers[0].name), layers.Dense(1, name="fresh")]
    )
    with pytest.raises(ValueError, match="shape"):
        wider.load_weights(path)
    report = fg.models.model_io.load_weights(wider, path, skip_mismatch=True)
    assert report["loaded"] == [] and len(report["skipped"]) == 4
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.safetensors")


def test_a_weights_file_is_not_a_model_file(tmp_path):
    model = fg.Sequential([layers.Input((2,)), layers.Dense(1)])
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    with pytest.raises(ValueError, match="weights"):
        fg.load_model(path)


def test_float64_models_keep_their_dtype(tmp_path):
    inp = layers.Input((3,), dtype="float64")
    model = fg.Model(inp, layers.Dense(2, dtype="float64")(inp))
    path = tmp_path / "f64.safetensors"
    model.save(path)
    x = RNG.normal(size=(4, 3))
    loaded = fg.load_model(path)
    assert loaded.predict(x, verbose=0).dtype == np.float64
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    native = _native_predict(path, [x])[0]
    assert native.dtype == np.float64
    np.testing.assert_array_equal(native, model.predict(x, verbose=0))


# ----- the Rust example programs, run as a user runs them

CARGO = shutil.which("cargo")
needs_cargo = pytest.mark.skipif(
    CARGO is None or not (ROOT / "rust" / "ferrograd" / "examples").is_dir(),
    reason="needs cargo and the source tree (the Rust examples are built from source)",
)


def _cargo_example(name, *args):
    result = subprocess.run(
        [CARGO, "run", "--quiet", "-p", "ferrograd", "--example", name, "--", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_cargo
def test_the_rust_example_predicts_what_python_predicts_for_the_same_file(tmp_path):
    from safetensors.numpy import save_file

    inp = layers.Input((28, 28, 1))
    h = layers.Conv2D(4, 3, activation="relu")(inp)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    out = layers.Dense(10, activation="softmax")(layers.Dropout(0.3)(h))
    model = fg.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    (x, y), _ = fg.datasets.mnist_5k.load_data()
    x = (x[:256, ..., None] / 255.0).astype("float32")
    model.fit(x, y[:256], epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "mnist.safetensors"
    model.save(path)
    save_file({"x0": x[:20]}, str(tmp_path / "inputs.safetensors"))
    printed = json.loads(_cargo_example("load_and_predict", path, tmp_path / "inputs.safetensors"))
    rust = np.asarray(printed[0]["values"]).reshape(printed[0]["shape"])
    np.testing.assert_allclose(rust, fg.load_model(path).predict(x[:20], verbose=0), rtol=1e-5, atol=1e-6)


@needs_cargo
def test_a_model_trained_in_rust_loads_in_python_and_keeps_training(tmp_path):
    path = tmp_path / "spirals.safetensors"
    out = _cargo_example("train_and_save", path)
    assert "predictions identical" in out
    model = fg.load_model(path)
    assert model.optimizer.iterations == 60 * 13  # 60 epochs of 400 points in batches of 32
    t = np.linspace(0, 3 * np.pi, 50, dtype="float32")
    r = 0.2 + t / (3 * np.pi)
    points = np.concatenate(
        [np.stack([r * np.cos(t), r * np.sin(t)], 1), np.stack([-r * np.cos(t), -r * np.sin(t)], 1)]
    )
    labels = np.repeat([0, 1], 50)
    logits = model.predict(points, verbose=0)
    assert (np.argmax(logits, 1) == labels).mean() > 0.9
    history = model.fit(points, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert os.path.getsize(path) > 4 * (2 * 32 + 32 * 32 + 32 * 2)


def test_saving_in_a_subprocess_is_readable_here(tmp_path):
    """A file written by one process loads in another (no in-process state is needed)."""
    path = tmp_path / "sub.safetensors"
    code = (
        "import numpy as np, ferrograd as fg\n"
        "m = fg.Sequential([fg.layers.Input((3,)), fg.layers.Dense(2, kernel_initializer='ones')])\n"
        f"m.save({str(path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    loaded = fg.load_model(path)
    np.testing.assert_array_equal(loaded.predict(np.ones((1, 3), "float32"), verbose=0), [[3.0, 3.0]])


def test_keras_names_for_saving(tmp_path):
    assert fg.saving.register_keras_serializable is fg.saving.register_serializable
    model = fg.Sequential([layers.Input((2,)), layers.Dense(1)])
    path = tmp_path / "m.safetensors"
    fg.models.save_model(model, path)
    x = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(fg.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


def test_the_native_loader_refuses_zero_units(tmp_path):
    model = fg.Sequential([layers.Input((2,)), layers.Dense(1, name="out")])
    path = tmp_path / "m.safetensors"
    model.save(path)
    metadata, _ = fg._core.read_model_header(str(path))
    config = json.loads(metadata["model_config"])
    config["config"]["layers"][-1]["config"]["units"] = 0
    from safetensors.numpy import load_file, save_file

    save_file(load_file(str(path)), str(path), metadata={**metadata, "model_config": json.dumps(config)})
    with pytest.raises(ValueError, match="units.*positive integer"):
        fg._core.load_model_native(str(path))


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "M.HDF5", "w.weights.h5"])
def test_keras_format_names_are_refused_with_the_safetensors_alternative(name, tmp_path):
    model = fg.Sequential([layers.Input((3,)), layers.Dense(2)])
    path = tmp_path / name
    save = model.save_weights if "weights" in name else model.save
    with pytest.raises(ValueError, match=r"safetensors.*\.safetensors"):
        save(path)
    assert not path.exists()


def test_models_copy_and_pickle_through_their_file():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = fg.Sequential([layers.Input((3,)), layers.Dense(4, activation="tanh"), layers.Dense(1)])
    model.compile(fg.optimizers.Adam(0.01), "mse")
    model.fit(x, y, epochs=2, verbose=0)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone is not model and clone.layers[0] is not model.layers[0]
        np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
        assert clone.optimizer.iterations == model.optimizer.iterations
        clone.fit(x, y, epochs=1, verbose=0)  # trains on its own weights
        assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_saving_over_a_symlink_writes_its_target(tmp_path):
    model = fg.Sequential([layers.Input((3,)), layers.Dense(2)])
    target = tmp_path / "real.safetensors"
    model.save(target)
    link = tmp_path / "link.safetensors"
    os.symlink("real.safetensors", link)
    model.layers[0].set_weights([np.ones((3, 2)), np.zeros(2)])
    model.save(link)
    assert link.is_symlink()
    np.testing.assert_array_equal(fg.load_model(target).get_weights()[0], np.ones((3, 2)))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
