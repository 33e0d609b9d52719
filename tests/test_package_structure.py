"""The shape of the Python package: modules import downward only, the serialization registry
is filled by the modules that define the built-in objects, and few imports hide in functions."""

from __future__ import annotations

import inspect

import ferrograd as fg
from ferrograd import saving

# ----- the registry of built-in objects


def _exported_classes(module, base):
    """The classes ``module`` exports (``__all__``) that subclass ``base``: the built-in classes
    of a Keras module, as ``saving`` collected them when it imported every module itself."""
    found = {name: getattr(module, name) for name in module.__all__}
    return {name: obj for name, obj in found.items() if inspect.isclass(obj) and issubclass(obj, base)}


def test_builtin_classes_are_the_exported_classes():
    expected = {
        "keras.layers": _exported_classes(fg.layers, fg.layers.Layer),
        "keras": {"Sequential": fg.Sequential, "Model": fg.Model, "Functional": fg.Model},
        "keras.initializers": _exported_classes(fg.initializers, fg.initializers.Initializer),
        "keras.regularizers": _exported_classes(fg.regularizers, fg.regularizers.Regularizer),
        "keras.optimizers": _exported_classes(fg.optimizers, fg.optimizers.Optimizer),
        "keras.optimizers.schedules": _exported_classes(
            fg.optimizers.schedules, fg.optimizers.schedules.LearningRateSchedule
        ),
        "keras.losses": dict(fg.losses._CLASSES),
        "keras.metrics": dict(fg.metrics._CLASSES),
    }
    assert saving._builtin_classes() == expected
    # Internal bases (not exported) stay out, so a config naming them is refused.
    assert "EngineLayer" not in saving._builtin_classes()["keras.layers"]
    assert "BaseConv" not in saving._builtin_classes()["keras.layers"]


def test_builtin_functions_are_the_named_functions():
    expected = {
        "keras.activations": dict(fg.activations._BY_NAME),
        "keras.losses": dict(fg.losses._FUNCTIONS),
        "keras.metrics": dict(fg.metrics._FUNCTIONS),
    }
    assert saving._builtin_functions() == expected
    # A loss function that is also a metric is written under keras.losses, as before.
    assert saving._builtin_module(fg.losses.binary_crossentropy) == "keras.losses"
    assert saving._builtin_module(fg.metrics.binary_accuracy) == "keras.metrics"
    assert saving._builtin_module(fg.activations.relu) == "keras.activations"


def test_a_user_subclass_is_not_builtin():
    class MyDense(fg.layers.Dense):
        pass

    class MyModel(fg.Model):
        pass

    class MyLoss(fg.losses.Loss):
        pass

    for cls in (MyDense, MyModel, MyLoss):
        assert saving._builtin_module(cls) is None
        assert all(cls not in table.values() for table in saving._builtin_classes().values())
