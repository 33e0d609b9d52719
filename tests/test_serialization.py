"""Architecture serialization in Keras 3's format: ``fg.saving``, layer and model configs,
``to_json``/``model_from_json`` and the compile config.

The expected layouts (keys, ``__keras_tensor__`` entries, ``keras_history`` triples, node
numbering of shared layers and nested functional models) are Keras 3's, as written by
``keras/src/saving/serialization_lib.py`` and ``keras/src/models/functional.py``."""

from __future__ import annotations

import importlib
import inspect
import json
import os

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import initializers, layers, regularizers, saving

RNG = np.random.default_rng(7)


def _json_round_trip(value):
    """Through a JSON string, as the file's metadata will carry it (no ``default=``)."""
    return json.loads(json.dumps(value))


# ----- custom objects used below (registered once for the module)


@saving.register_serializable(package="TestSerialization")
class Scale(layers.Layer):
    """A Python layer with a weight and a constructor argument."""

    def __init__(self, init=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer=initializers.Constant(self.init), name="scale"
        )

    def call(self, x):
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@saving.register_serializable(package="TestSerialization")
class TwoTower(fg.Model):
    """A subclassed model: its own ``call`` over three Dense layers."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.left = layers.Dense(units, activation="relu")
        self.right = layers.Dense(units, activation="tanh")
        self.head = layers.Dense(2)

    def call(self, x, training=False):
        return self.head(self.left(x) + self.right(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@saving.register_serializable(package="TestSerialization", name="halve")
def halve_activation(x):
    return fg.activations.relu(x) * 0.5


@saving.register_serializable(package="TestSerialization")
class Ramp(initializers.Initializer):
    def __init__(self, step=0.01):
        self.step = step

    def __call__(self, shape, dtype=None):
        n = int(np.prod(shape))
        return (np.arange(n, dtype=dtype or "float32") * self.step).reshape(shape)

    def get_config(self):
        return {"step": self.step}


# ----- every built-in layer

R = regularizers
LAYER_CASES = {
    "Layer": (lambda: layers.Layer(name="plain", trainable=False), None),
    "InputLayer": (lambda: layers.InputLayer(shape=(3,), name="inp"), None),
    "Dense": (
        lambda: layers.Dense(
            5,
            activation="relu",
            use_bias=False,
            kernel_initializer=initializers.RandomNormal(0.0, 0.1, seed=3),
            kernel_regularizer="l2",
            dtype="float64",
        ),
        (None, 3),
    ),
    "Activation": (lambda: layers.Activation("sigmoid"), (None, 3)),
    "ReLU": (lambda: layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.2), (None, 3)),
    "LeakyReLU": (lambda: layers.LeakyReLU(negative_slope=0.1), (None, 3)),
    "ELU": (lambda: layers.ELU(alpha=0.5), (None, 3)),
    "PReLU": (
        lambda: layers.PReLU(alpha_initializer="ones", alpha_regularizer=R.L2(0.1), shared_axes=[1]),
        (None, 4, 3),
    ),
    "Softmax": (lambda: layers.Softmax(axis=1), (None, 3)),
    "Flatten": (lambda: layers.Flatten(), (None, 2, 3)),
    "Reshape": (lambda: layers.Reshape((3, -1)), (None, 6)),
    "RepeatVector": (lambda: layers.RepeatVector(3), (None, 4)),
    "Dropout": (lambda: layers.Dropout(0.3, noise_shape=(None, 1), seed=5), (None, 3)),
    "Add": (lambda: layers.Add(), [(None, 3), (None, 3)]),
    "Subtract": (lambda: layers.Subtract(), [(None, 3), (None, 3)]),
    "Multiply": (lambda: layers.Multiply(), [(None, 3), (None, 3)]),
    "Average": (lambda: layers.Average(), [(None, 3), (None, 3)]),
    "Maximum": (lambda: layers.Maximum(), [(None, 3), (None, 3)]),
    "Minimum": (lambda: layers.Minimum(), [(None, 3), (None, 3)]),
    "Concatenate": (lambda: layers.Concatenate(axis=1), [(None, 3), (None, 2)]),
    "BatchNormalization": (
        lambda: layers.BatchNormalization(
            momentum=0.9, epsilon=1e-4, gamma_regularizer=R.L2(0.1), beta_initializer="ones"
        ),
        (None, 3),
    ),
    "LayerNormalization": (lambda: layers.LayerNormalization(axis=-1, center=False), (None, 4)),
    "Masking": (lambda: layers.Masking(mask_value=-1.0), (None, 5, 3)),
    "GroupNormalization": (lambda: layers.GroupNormalization(groups=2, epsilon=1e-4), (None, 4)),
    "Conv1D": (
        lambda: layers.Conv1D(
            4,
            3,
            strides=2,
            padding="same",
            activation="relu",
            kernel_initializer="he_normal",
            bias_regularizer=R.L2(0.01),
        ),
        (None, 9, 2),
    ),
    "Conv2D": (
        lambda: layers.Conv2D(4, (3, 2), dilation_rate=(1, 2), kernel_regularizer=R.L1L2(0.1, 0.2)),
        (None, 8, 8, 2),
    ),
    "Conv1DTranspose": (lambda: layers.Conv1DTranspose(4, 3, strides=2, activation="tanh"), (None, 9, 2)),
    "Conv2DTranspose": (lambda: layers.Conv2DTranspose(4, 3, strides=(2, 2), padding="same"), (None, 5, 5, 2)),
    "DepthwiseConv1D": (lambda: layers.DepthwiseConv1D(3, depth_multiplier=2), (None, 9, 2)),
    "DepthwiseConv2D": (
        lambda: layers.DepthwiseConv2D((3, 3), depth_multiplier=2, padding="same"),
        (None, 6, 6, 2),
    ),
    "SeparableConv1D": (
        lambda: layers.SeparableConv1D(4, 3, depth_multiplier=2, depthwise_regularizer=R.L2(0.1)),
        (None, 9, 2),
    ),
    "SeparableConv2D": (
        lambda: layers.SeparableConv2D(4, 3, padding="same", pointwise_initializer="he_uniform"),
        (None, 6, 6, 2),
    ),
    "MaxPooling1D": (lambda: layers.MaxPooling1D(2), (None, 6, 2)),
    "MaxPooling2D": (lambda: layers.MaxPooling2D((2, 2), strides=(1, 1)), (None, 6, 6, 2)),
    "AveragePooling1D": (lambda: layers.AveragePooling1D(3, strides=1, padding="same"), (None, 6, 2)),
    "AveragePooling2D": (lambda: layers.AveragePooling2D((2, 2)), (None, 6, 6, 2)),
    "GlobalAveragePooling1D": (lambda: layers.GlobalAveragePooling1D(keepdims=True), (None, 6, 2)),
    "GlobalAveragePooling2D": (lambda: layers.GlobalAveragePooling2D(), (None, 6, 6, 2)),
    "GlobalMaxPooling1D": (lambda: layers.GlobalMaxPooling1D(), (None, 6, 2)),
    "GlobalMaxPooling2D": (lambda: layers.GlobalMaxPooling2D(keepdims=True), (None, 6, 6, 2)),
    "Cropping1D": (lambda: layers.Cropping1D((1, 2)), (None, 6, 2)),
    "Cropping2D": (lambda: layers.Cropping2D(((1, 0), (0, 2))), (None, 6, 6, 2)),
    "UpSampling1D": (lambda: layers.UpSampling1D(3), (None, 6, 2)),
    "UpSampling2D": (lambda: layers.UpSampling2D((2, 3)), (None, 6, 6, 2)),
    "ZeroPadding1D": (lambda: layers.ZeroPadding1D((1, 2)), (None, 6, 2)),
    "ZeroPadding2D": (lambda: layers.ZeroPadding2D(((1, 2), (0, 1))), (None, 6, 6, 2)),
    "Embedding": (
        lambda: layers.Embedding(20, 4, embeddings_regularizer=R.L2(0.1), mask_zero=True),
        (None, 6),
    ),
    "SimpleRNN": (lambda: layers.SimpleRNN(4, activation="relu", return_sequences=True), (None, 5, 3)),
    "LSTM": (
        lambda: layers.LSTM(
            4, unit_forget_bias=False, recurrent_initializer="glorot_normal", return_state=True, dropout=0.1
        ),
        (None, 5, 3),
    ),
    "GRU": (lambda: layers.GRU(4, go_backwards=True, seed=2, recurrent_regularizer=R.L1(0.01)), (None, 5, 3)),
    "Bidirectional": (
        lambda: layers.Bidirectional(
            layers.LSTM(4, return_sequences=True, kernel_regularizer=R.L1(0.1)), merge_mode="sum"
        ),
        (None, 5, 3),
    ),
    "TimeDistributed": (lambda: layers.TimeDistributed(layers.Dense(3, activation="relu")), (None, 5, 4)),
}


def _built(name):
    make, shape = LAYER_CASES[name]
    layer = make()
    if shape is not None:
        layer.build(shape)
    return layer, shape


def test_every_exported_layer_class_is_covered_and_registered():
    exported = {
        name
        for name in layers.__all__
        if inspect.isclass(getattr(layers, name)) and issubclass(getattr(layers, name), layers.Layer)
    }
    assert exported == set(LAYER_CASES)
    for name in exported:
        assert saving.get_registered_object(name, module_objects=saving._builtin_classes()["keras.layers"]) is (
            getattr(layers, name)
        )


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_json_round_trip(name):
    layer, shape = _built(name)
    serialized = _json_round_trip(saving.serialize_keras_object(layer))
    assert set(serialized) >= {"module", "class_name", "config", "registered_name"}
    assert serialized["module"] == "keras.layers" and serialized["class_name"] == name
    assert serialized["registered_name"] is None
    if shape is not None:
        expected_shape = [list(s) for s in shape] if isinstance(shape, list) else list(shape)
        assert serialized["build_config"] == {"input_shape": expected_shape}

    clone = saving.deserialize_keras_object(serialized)
    assert type(clone) is type(layer)
    assert _json_round_trip(saving.serialize_keras_object(clone)) == serialized
    # built from build_config: the weights exist with the original's shapes and order
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in layer.get_weights()]
    assert [v.name for v in clone.weights] == [v.name for v in layer.weights]


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_from_config_gives_the_same_config(name):
    layer, shape = _built(name)
    config = layer.get_config()
    json.dumps(saving.serialize_dict(config))  # JSON-ready once serialized
    clone = type(layer).from_config(_json_round_trip(saving.serialize_dict(config)))
    if shape is not None and not clone.built:
        clone.build(shape)
    assert _json_round_trip(saving.serialize_dict(clone.get_config())) == _json_round_trip(
        saving.serialize_dict(config)
    )


def test_layer_configs_hold_keras_forms_of_initializers_regularizers_and_activations():
    config = _json_round_trip(saving.serialize_keras_object(_built("Dense")[0]))["config"]
    assert config["activation"] == "relu"
    assert config["kernel_initializer"] == {
        "module": "keras.initializers",
        "class_name": "RandomNormal",
        "config": {"mean": 0.0, "stddev": 0.1, "seed": 3},
        "registered_name": None,
    }
    assert config["kernel_regularizer"] == {
        "module": "keras.regularizers",
        "class_name": "L2",
        "config": {"l2": 0.01},
        "registered_name": None,
    }
    assert config["dtype"] == "float64"


def test_wrappers_serialize_their_inner_layers_as_keras_does():
    bidirectional = _json_round_trip(saving.serialize_keras_object(_built("Bidirectional")[0]))["config"]
    assert bidirectional["layer"]["class_name"] == "LSTM"
    assert bidirectional["layer"]["config"]["name"] == "forward_" + bidirectional["layer"]["config"]["name"][8:]
    assert bidirectional["backward_layer"]["config"]["go_backwards"] is True
    clone = saving.deserialize_keras_object(
        {"module": "keras.layers", "class_name": "Bidirectional", "config": bidirectional, "registered_name": None}
    )
    # the reloaded forward layer keeps its name instead of gaining a second prefix
    assert clone.forward_layer.name == bidirectional["layer"]["config"]["name"]
    distributed = _json_round_trip(saving.serialize_keras_object(_built("TimeDistributed")[0]))["config"]
    assert distributed["layer"]["class_name"] == "Dense" and distributed["layer"]["config"]["activation"] == "relu"


def test_serialize_makes_plain_json_values():
    out = saving.serialize_keras_object({"a": np.float32(1.5), "b": (1, np.int64(2)), "c": [np.bool_(True)]})
    assert out == {"a": 1.5, "b": [1, 2], "c": [True]}
    assert type(out["a"]) is float and type(out["b"][1]) is int and type(out["c"][0]) is bool
    array = saving.serialize_keras_object(np.arange(3, dtype="float32"))
    assert array == {"class_name": "__numpy__", "config": {"value": [0.0, 1.0, 2.0], "dtype": "float32"}}
    np.testing.assert_array_equal(saving.deserialize_keras_object(array), np.arange(3, dtype="float32"))
    with pytest.raises(TypeError, match="non-string key"):
        saving.serialize_keras_object({1: "x"})


# ----- models: model_from_json(to_json()) with the original's weights predicts the same


def _assert_same_predictions(model, x):
    text = model.to_json()
    clone = fg.models.model_from_json(text)
    assert type(clone) is type(model)
    clone.set_weights(model.get_weights())
    expected = model.predict(x, verbose=0)
    got = clone.predict(x, verbose=0)
    if isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected)
        expected, got = list(expected.values()), list(got.values())
    expected = expected if isinstance(expected, list) else [expected]
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)
    assert json.loads(clone.to_json()) == json.loads(text)
    return clone, json.loads(text)


def test_sequential_round_trip_in_keras_format():
    model = fg.Sequential(
        [
            layers.Input((6,)),
            layers.Dense(8, activation="relu", kernel_regularizer=R.L2(0.01)),
            layers.BatchNormalization(),
            layers.Dropout(0.2),
            layers.Dense(3, activation="softmax"),
        ],
        name="classifier",
    )
    _, config = _assert_same_predictions(model, RNG.normal(size=(5, 6)))
    assert config["module"] == "keras" and config["class_name"] == "Sequential" and config["registered_name"] is None
    assert config["build_config"] == {"input_shape": [None, 6]}
    inner = config["config"]
    assert inner["name"] == "classifier" and inner["build_input_shape"] == [None, 6]
    assert [entry["class_name"] for entry in inner["layers"]] == [
        "InputLayer",
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
    ]
    assert inner["layers"][0]["config"]["batch_shape"] == [None, 6]


def test_sequential_with_input_shape_argument_and_conv_layers():
    model = fg.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    _assert_same_predictions(model, RNG.normal(size=(3, 8, 8, 1)))


def test_sequential_built_from_data_saves_its_input_layer():
    model = fg.Sequential([layers.Dense(3), layers.Dense(1)])
    x = RNG.normal(size=(4, 5))
    model.predict(x, verbose=0)
    _, config = _assert_same_predictions(model, x)
    assert config["config"]["layers"][0]["class_name"] == "InputLayer"


def test_recurrent_sequential_round_trip():
    model = fg.Sequential(
        [
            layers.Input((7,)),
            layers.Embedding(30, 8),
            layers.Bidirectional(layers.GRU(5, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(4)),
            layers.LSTM(3),
        ]
    )
    _assert_same_predictions(model, RNG.integers(0, 30, size=(4, 7)).astype("float32"))


def test_functional_residual_graph_in_keras_format():
    inputs = fg.Input((4,), name="x")
    hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
    summed = layers.Add(name="residual")([hidden, inputs])
    outputs = layers.Dense(1, name="out")(summed)
    model = fg.Model(inputs, outputs, name="resnet")
    _, config = _assert_same_predictions(model, RNG.normal(size=(6, 4)))

    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras.src.models.functional",
        "Functional",
        "Functional",
    )
    inner = config["config"]
    assert inner["name"] == "resnet"
    assert inner["input_layers"] == [["x", 0, 0]] and inner["output_layers"] == [["out", 0, 0]]
    by_name = {entry["name"]: entry for entry in inner["layers"]}
    assert [entry["name"] for entry in inner["layers"]] == ["x", "hidden", "residual", "out"]
    assert by_name["x"]["inbound_nodes"] == []
    assert by_name["hidden"]["inbound_nodes"] == [
        {
            "args": [
                {
                    "class_name": "__keras_tensor__",
                    "config": {"shape": [None, 4], "dtype": "float32", "keras_history": ["x", 0, 0]},
                }
            ],
            "kwargs": {},
        }
    ]
    # a merge layer's call takes one argument: the list of its inputs
    (add_args,) = by_name["residual"]["inbound_nodes"][0]["args"]
    assert [t["config"]["keras_history"] for t in add_args] == [["hidden", 0, 0], ["x", 0, 0]]


def test_shared_layer_two_inputs_two_outputs():
    left = fg.Input((3,), name="left")
    right = fg.Input((3,), name="right")
    shared = layers.Dense(5, activation="tanh", name="shared")
    encoded_left, encoded_right = shared(left), shared(right)
    joined = layers.Concatenate(name="joined")([encoded_left, encoded_right])
    score = layers.Dense(1, name="score")(joined)
    difference = layers.Subtract(name="difference")([encoded_left, encoded_right])
    model = fg.Model([left, right], [score, difference])
    x = [RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))]
    clone, config = _assert_same_predictions(model, x)

    inner = config["config"]
    assert inner["input_layers"] == [["left", 0, 0], ["right", 0, 0]]
    assert inner["output_layers"] == [["score", 0, 0], ["difference", 0, 0]]
    shared_entry = next(entry for entry in inner["layers"] if entry["name"] == "shared")
    histories = [node["args"][0]["config"]["keras_history"] for node in shared_entry["inbound_nodes"]]
    assert histories == [["left", 0, 0], ["right", 0, 0]]
    joined_entry = next(entry for entry in inner["layers"] if entry["name"] == "joined")
    assert [t["config"]["keras_history"] for t in joined_entry["inbound_nodes"][0]["args"][0]] == [
        ["shared", 0, 0],
        ["shared", 1, 0],
    ]
    # the clone shares one layer too: one set of weights, two calls
    assert len(clone.get_layer("shared")._inbound_nodes) == 2
    assert len(clone.get_weights()) == len(model.get_weights()) == 4


def test_nested_sequential_in_functional_model():
    encoder = fg.Sequential([layers.Dense(6, activation="tanh"), layers.Dense(3)], name="encoder")
    inputs = fg.Input((4,), name="features")
    outputs = layers.Dense(2, name="head")(encoder(inputs))
    model = fg.Model(inputs, outputs)
    _, config = _assert_same_predictions(model, RNG.normal(size=(5, 4)))
    entry = next(e for e in config["config"]["layers"] if e["name"] == "encoder")
    assert entry["class_name"] == "Sequential"
    assert entry["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["features", 0, 0]
    head = next(e for e in config["config"]["layers"] if e["name"] == "head")
    # Sequential is not a Functional in Keras: its first call is node 0
    assert head["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["encoder", 0, 0]


def test_nested_functional_model_called_twice():
    inner_in = fg.Input((4,))
    inner = fg.Model(inner_in, layers.Dense(4, activation="relu")(inner_in), name="block")
    inputs = fg.Input((4,))
    once = inner(inputs)
    twice = inner(once)
    model = fg.Model(inputs, layers.Add()([once, twice]))
    _, config = _assert_same_predictions(model, RNG.normal(size=(5, 4)))
    add = config["config"]["layers"][-1]
    # Keras numbers a nested functional model's calls from 1 (its own node is 0)
    assert [t["config"]["keras_history"] for t in add["inbound_nodes"][0]["args"][0]] == [
        ["block", 1, 0],
        ["block", 2, 0],
    ]


def test_dict_outputs_keep_their_names():
    inputs = fg.Input((3,), name="x")
    model = fg.Model(inputs, {"a": layers.Dense(1, name="a")(inputs), "b": layers.Dense(2, name="b")(inputs)})
    clone, config = _assert_same_predictions(model, RNG.normal(size=(4, 3)))
    assert config["config"]["output_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}


def test_custom_registered_layer_in_a_model():
    inputs = fg.Input((3,))
    outputs = layers.Dense(2)(Scale(init=0.5, name="scale")(inputs))
    model = fg.Model(inputs, outputs)
    model.get_layer("scale").set_weights([np.array([1.0, -2.0, 3.0], dtype="float32")])
    clone, config = _assert_same_predictions(model, RNG.normal(size=(4, 3)))
    entry = next(e for e in config["config"]["layers"] if e["name"] == "scale")
    assert entry["class_name"] == "Scale" and entry["registered_name"] == "TestSerialization>Scale"
    assert entry["module"] == __name__ and entry["config"]["init"] == 0.5
    assert isinstance(clone.get_layer("scale"), Scale)


def test_custom_registered_subclassed_model():
    model = TwoTower(units=5, name="towers")
    x = RNG.normal(size=(6, 3))
    model.predict(x, verbose=0)
    clone, config = _assert_same_predictions(model, x)
    assert config["registered_name"] == "TestSerialization>TwoTower"
    assert config["config"] == {"name": "towers", "trainable": True, "units": 5}
    assert config["build_config"] == {"input_shape": [None, 3]}
    assert isinstance(clone, TwoTower) and clone.units == 5


def test_registered_function_and_initializer_round_trip():
    dense = layers.Dense(3, activation=halve_activation, kernel_initializer=Ramp(0.5))
    serialized = _json_round_trip(saving.serialize_keras_object(dense))
    assert serialized["config"]["activation"] == {
        "module": __name__,
        "class_name": "function",
        "config": "halve_activation",
        "registered_name": "TestSerialization>halve",
    }
    assert serialized["config"]["kernel_initializer"]["registered_name"] == "TestSerialization>Ramp"
    clone = saving.deserialize_keras_object(serialized)
    assert clone.activation is halve_activation and isinstance(clone.kernel_initializer, Ramp)
    clone.build((None, 2))
    np.testing.assert_array_equal(clone.get_weights()[0], np.arange(6).reshape(2, 3) * 0.5)


# ----- registry and scopes


def test_register_serializable_names_package_and_name():
    assert saving.get_registered_name(Scale) == "TestSerialization>Scale"
    assert saving.get_registered_object("TestSerialization>Scale") is Scale
    assert saving.get_custom_objects()["TestSerialization>halve"] is halve_activation
    assert saving.get_registered_name(layers.Dense) == "Dense"
    with pytest.raises(ValueError, match="get_config"):
        saving.register_serializable()(type("NoConfig", (), {}))


def test_custom_object_scope_resolves_names_only_inside():
    class Local(layers.Layer):
        def call(self, x):
            return x

    config = _json_round_trip(saving.serialize_keras_object(Local(name="local")))
    assert config["registered_name"] == "Local"
    with saving.custom_object_scope({"Local": Local}):
        assert isinstance(saving.deserialize_keras_object(config), Local)
        with saving.CustomObjectScope({"Other": Scale}):
            assert saving.get_registered_object("Local") is Local
            assert saving.get_registered_object("Other") is Scale
        assert saving.get_registered_object("Other") is None
    assert saving.get_registered_object("Local") is None
    assert isinstance(saving.deserialize_keras_object(config, custom_objects={"Local": Local}), Local)


# ----- errors and safety


def test_unregistered_custom_layer_names_the_class():
    class Unregistered(layers.Layer):
        def call(self, x):
            return x * 2.0

    model = fg.Sequential([layers.Input((2,)), Unregistered(name="doubler")])
    text = model.to_json()
    with pytest.raises(TypeError, match=r"'Unregistered'.*register_serializable.*custom_objects"):
        fg.models.model_from_json(text)
    clone = fg.models.model_from_json(text, custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(clone.predict(np.ones((1, 2)), verbose=0), [[2.0, 2.0]])


def test_unregistered_subclassed_model_fails_at_save_time():
    class Plain(fg.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Plain()
    model.predict(np.ones((2, 3)), verbose=0)
    with pytest.raises(ValueError, match=r"Plain.*register_serializable"):
        model.to_json()


def test_config_missing_a_constructor_argument_fails_at_save_time():
    @saving.register_serializable(package="TestSerialization")
    class Forgetful(layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    with pytest.raises(ValueError, match=r"Forgetful.*\['factor'\]"):
        saving.serialize_keras_object(Forgetful(2.0))


def test_lambda_is_refused_both_ways():
    with pytest.raises(ValueError, match="lambda"):
        saving.serialize_keras_object(lambda x: x)
    with pytest.raises(ValueError, match="never runs code"):
        saving.deserialize_keras_object({"class_name": "__lambda__", "config": {"value": ["YWJj", None, None]}})


@pytest.fixture
def tripwires(monkeypatch, tmp_path):
    """Records any attempt to import a module, run a shell command or spawn a process."""
    calls = []
    real_import = importlib.import_module

    def spy_import(name, *args, **kwargs):
        calls.append(("import_module", name))
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", spy_import)
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(("system", a)) or 0)
    monkeypatch.setattr(os, "popen", lambda *a, **k: calls.append(("popen", a)))
    return calls, tmp_path / "pwned"


def test_config_naming_os_system_cannot_run_anything(tripwires):
    calls, marker = tripwires
    command = f"touch {marker}"
    hostile = [
        {"module": "os", "class_name": "system", "config": {"command": command}, "registered_name": None},
        {"module": "os", "class_name": "system", "config": {"command": command}, "registered_name": "os>system"},
        {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"},
        {"module": "subprocess", "class_name": "Popen", "config": {"args": ["touch", str(marker)]}},
        {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "eval"},
    ]
    for config in hostile:
        with pytest.raises(TypeError, match="Could not locate"):
            saving.deserialize_keras_object(config)
    # inside a model and as a layer's activation, too
    inner = {"module": "os", "class_name": "function", "config": "system", "registered_name": None}
    dense = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": 2, "activation": inner},
        "registered_name": None,
    }
    with pytest.raises(TypeError, match="'system'"):
        saving.deserialize_keras_object(dense)
    sequential = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [hostile[0]]},
        "registered_name": None,
    }
    with pytest.raises(TypeError, match="'system'"):
        fg.models.model_from_json(json.dumps(sequential))
    assert calls == [] and not marker.exists()


# ----- compile config


def test_compile_config_round_trip_then_fit():
    schedule = fg.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.9)
    model = fg.Sequential(
        [layers.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")]
    )
    model.compile(
        optimizer=fg.optimizers.Adam(learning_rate=schedule, clipnorm=1.0),
        loss=fg.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy", fg.metrics.CategoricalAccuracy(name="cat_acc")],
    )
    compile_config = _json_round_trip(model.get_compile_config())
    assert compile_config["optimizer"]["class_name"] == "Adam"
    assert compile_config["optimizer"]["config"]["learning_rate"] == {
        "module": "keras.optimizers.schedules",
        "class_name": "ExponentialDecay",
        "config": schedule.get_config(),
        "registered_name": None,
    }
    assert compile_config["loss"]["class_name"] == "CategoricalCrossentropy"
    assert compile_config["metrics"][0] == "accuracy" and compile_config["metrics"][1]["config"]["name"] == "cat_acc"
    assert {"loss_weights", "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile"} <= set(
        compile_config
    )

    fresh = fg.Sequential.from_config(model.get_config())
    fresh.compile_from_config(compile_config)
    assert fresh.optimizer.get_config() == model.optimizer.get_config()
    assert isinstance(fresh.optimizer._learning_rate, fg.optimizers.schedules.ExponentialDecay)
    x = RNG.normal(size=(32, 4)).astype("float32")
    y = np.eye(3)[RNG.integers(0, 3, size=32)]
    history = fresh.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "cat_acc"}
    assert np.isfinite(history.history["loss"][0])

    # to_json carries the compile config, so model_from_json returns a compiled model
    loaded = fg.models.model_from_json(model.to_json())
    assert loaded.compiled and loaded.optimizer.get_config() == model.optimizer.get_config()
    loaded.fit(x, y, epochs=1, verbose=0)


def test_compile_config_per_output_losses_and_weights():
    inputs = fg.Input((3,), name="x")
    model = fg.Model(inputs, [layers.Dense(1, name="reg")(inputs), layers.Dense(2, name="aux")(inputs)])
    model.compile(
        "sgd",
        loss={"reg": "mse", "aux": fg.losses.mean_absolute_error},
        loss_weights={"reg": 1.0, "aux": 0.5},
        metrics={"reg": ["mae"]},
    )
    config = _json_round_trip(model.get_compile_config())
    assert config["loss"]["reg"] == "mse"
    assert config["loss"]["aux"] == {
        "module": "keras.losses",
        "class_name": "function",
        "config": "mean_absolute_error",
        "registered_name": "mean_absolute_error",
    }
    assert config["loss_weights"] == {"reg": 1.0, "aux": 0.5}
    loaded = fg.models.model_from_json(model.to_json())
    assert loaded.get_compile_config() == model.get_compile_config()
    history = loaded.fit(RNG.normal(size=(8, 3)), [RNG.normal(size=(8, 1)), RNG.normal(size=(8, 2))], verbose=0)
    assert {"loss", "reg_loss", "aux_loss", "reg_mae"} <= set(history.history)


def test_uncompiled_model_has_no_compile_config():
    model = fg.Sequential([layers.Input((2,)), layers.Dense(1)])
    assert model.get_compile_config() is None
    assert "compile_config" not in json.loads(model.to_json())


@saving.register_serializable(package="TestSerialization")
class HalvingSchedule(fg.optimizers.schedules.LearningRateSchedule):
    """A Python schedule: the rate halves every ``period`` steps."""

    def __init__(self, initial, period):
        self.initial = initial
        self.period = period

    def __call__(self, step):
        return self.initial * 0.5 ** (int(step) // self.period)

    def get_config(self):
        return {"initial": self.initial, "period": self.period}


def squared_log_error(y_true, y_pred):
    """A loss written in Python and not registered."""
    return fg.ops.mean(fg.ops.square(fg.ops.log(y_pred + 1.0) - fg.ops.log(y_true + 1.0)), axis=-1)


def test_custom_schedule_and_unregistered_loss_in_the_compile_config():
    model = fg.Sequential([layers.Input((2,)), layers.Dense(1, activation="relu")])
    model.compile(fg.optimizers.SGD(learning_rate=HalvingSchedule(0.1, 2)), loss=squared_log_error)
    config = _json_round_trip(model.get_compile_config())
    assert config["optimizer"]["config"]["learning_rate"]["registered_name"] == "TestSerialization>HalvingSchedule"
    # Keras writes an unregistered function under its own name...
    assert config["loss"] == {
        "module": __name__,
        "class_name": "function",
        "config": "squared_log_error",
        "registered_name": "squared_log_error",
    }
    # ...so it loads only when custom_objects names it
    with pytest.raises(TypeError, match=r"'squared_log_error'.*custom_objects"):
        fg.models.model_from_json(model.to_json())
    loaded = fg.models.model_from_json(model.to_json(), custom_objects={"squared_log_error": squared_log_error})
    assert isinstance(loaded.optimizer._learning_rate, HalvingSchedule)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    x = np.abs(RNG.normal(size=(16, 2)))
    history = loaded.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and loaded.optimizer.iterations == 4


def test_unregistered_activation_function_loads_with_custom_objects():
    def cube(x):
        return x * x * x

    dense = layers.Dense(2, activation=cube, name="cubic")
    serialized = _json_round_trip(saving.serialize_keras_object(dense))
    assert serialized["config"]["activation"]["registered_name"] == "cube"
    with pytest.raises(TypeError, match="'cube'"):
        saving.deserialize_keras_object(serialized)
    clone = saving.deserialize_keras_object(serialized, custom_objects={"cube": cube})
    assert clone.activation is cube
