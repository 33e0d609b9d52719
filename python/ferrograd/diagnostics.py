"""Gradient insight: why a network does or does not train, measured layer by layer.

``gradient_report(model, x, y)`` runs one forward and backward pass of the compiled training
step on a batch (in Rust, without changing the model) and reports for every layer:

- the L2 norm of each weight's gradient, and the layer's norm relative to the last layer's: in a
  deep stack the gradient reaching layer ``l`` is a product of the Jacobians above it, so factors
  below 1 (sigmoid's derivative is at most 1/4) shrink it geometrically ("vanishing") and
  factors above 1 (weights initialized too large) grow it ("exploding");
- the size of the step the compiled optimizer would take relative to the weight
  (``update / weight``; around 1e-3 is the usual healthy order);
- activation statistics: the fraction of dead ReLU units (zero for the whole batch, so they pass
  no gradient), the fraction of sigmoid/tanh outputs in their flat tails (saturated), and the
  mean and standard deviation of each output;
- where the first NaN or infinity appears: a model input, a layer's output (and whether a weight
  of that layer is already non-finite), the loss, or a gradient;

then gives a verdict per layer and overall (healthy / vanishing / exploding / dead units /
saturated / non-finite) with the remedies that apply. ``print(report)`` shows a table;
``report.to_dict()`` gives the numbers. The measurements, the arithmetic and the verdicts are the
engine's (``ferrograd::model::GradientHealth``, so a Rust user gets the same verdict); this module
finds each layer's activation and presents the result.

The thresholds are rules of thumb, set as keyword arguments; the defaults are chosen so that the
textbook cases come out as the textbooks say (a 20-layer sigmoid MLP vanishing, ReLU with He
initialization healthy; see ``examples/gradient_health/`` and ``docs/gradient-health.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import _core

__all__ = ["REMEDIES", "GradientReport", "LayerReport", "Thresholds", "activation_of", "gradient_report"]

#: The remedies for each verdict, from the seed material's list (ReLU family, Xavier/He
#: initialization, BatchNormalization, residual connections, clipping, LSTM/GRU, L1/L2, a
#: smaller learning rate): the engine's ``Verdict::remedies``.
REMEDIES: dict[str, list[str]] = dict(_core.gradient_remedies())

# From worst to mildest: the overall verdict is the worst one any layer has.
SEVERITY: list[str] = list(_core.gradient_verdicts())

# The engine's documented defaults (``ferrograd::model::Thresholds::default``).
_DEFAULT_THRESHOLDS: dict[str, float] = dict(_core.gradient_thresholds())


@dataclass(frozen=True)
class Thresholds:
    """When a layer is judged vanishing, exploding, dead or saturated.

    Attributes:
        vanishing_ratio: A layer's gradient norm below this fraction of the last layer's.
        vanishing_norm: Or an absolute gradient norm below this.
        exploding_ratio: A layer's gradient norm above this multiple of the last layer's.
        exploding_norm: Or an absolute gradient norm above this.
        exploding_update: Or an optimizer step larger than this fraction of the weight (a
            healthy step is around 1e-3 of it; a tenth means the weights are being thrown
            around, the usual start of a divergence).
        dead_fraction: Fraction of dead units (ReLU family) from which a layer is flagged.
        saturated_fraction: Fraction of saturated outputs (sigmoid/tanh) from which a layer is
            flagged.
    """

    vanishing_ratio: float = _DEFAULT_THRESHOLDS["vanishing_ratio"]
    vanishing_norm: float = _DEFAULT_THRESHOLDS["vanishing_norm"]
    exploding_ratio: float = _DEFAULT_THRESHOLDS["exploding_ratio"]
    exploding_norm: float = _DEFAULT_THRESHOLDS["exploding_norm"]
    exploding_update: float = _DEFAULT_THRESHOLDS["exploding_update"]
    dead_fraction: float = _DEFAULT_THRESHOLDS["dead_fraction"]
    saturated_fraction: float = _DEFAULT_THRESHOLDS["saturated_fraction"]


def activation_of(layer: Any) -> str | None:
    """The activation a layer applies to its output, as Keras names it, or None."""
    class_activations = {
        "ReLU": "relu",
        "LeakyReLU": "leaky_relu",
        "ELU": "elu",
        "PReLU": "prelu",
        "Softmax": "softmax",
    }
    name = type(layer).__name__
    if name in class_activations:
        return class_activations[name]
    try:
        config = layer.get_config()
    except Exception:  # a user layer whose get_config needs arguments it lacks
        return None
    activation = config.get("activation")
    if isinstance(activation, str):
        return activation
    if callable(activation):
        return getattr(activation, "__name__", None)
    return None


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}e}"


@dataclass
class LayerReport:
    """One layer of a :class:`GradientReport`."""

    name: str
    class_name: str
    activation: str | None
    #: Per weight: name, shape, trainable, norm, gradient norm/max_abs/nonfinite, update norm.
    weights: list[dict[str, Any]]
    #: Statistics of each output (see the module docs).
    outputs: list[dict[str, Any]]
    #: L2 norm of all the layer's weight gradients together (None: no trainable weights).
    gradient_norm: float | None
    #: ``gradient_norm`` over the last layer's.
    gradient_ratio: float | None
    #: ``‖update‖ / ‖weights‖`` over the layer's trainable weights.
    update_ratio: float | None
    dead_fraction: float | None
    saturated_fraction: float | None
    verdicts: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The worst of the layer's verdicts."""
        return _core.worst_verdict(self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_name": self.class_name,
            "activation": self.activation,
            "weights": self.weights,
            "outputs": self.outputs,
            "gradient_norm": self.gradient_norm,
            "gradient_ratio": self.gradient_ratio,
            "update_ratio": self.update_ratio,
            "dead_fraction": self.dead_fraction,
            "saturated_fraction": self.saturated_fraction,
            "verdict": self.verdict,
            "verdicts": list(self.verdicts),
        }


@dataclass
class GradientReport:
    """What one training step does to every layer; ``print`` it or call :meth:`to_dict`."""

    loss: float
    layers: list[LayerReport]
    #: First layer's gradient norm over the last layer's (layers with trainable weights).
    first_last_ratio: float | None
    #: Where the first NaN/inf appeared: ``{"stage", "layer", "class_name", "detail"}`` or None.
    nonfinite: dict[str, Any] | None
    thresholds: Thresholds

    @property
    def verdict(self) -> str:
        """The overall verdict: the worst verdict of any layer (or non-finite)."""
        return _core.worst_verdict(self._found())

    @property
    def remedies(self) -> list[str]:
        """The remedies for every problem found, worst problem first."""
        return _core.verdict_remedies(self._found())

    def _found(self) -> list[str]:
        found = [v for layer in self.layers for v in layer.verdicts]
        return found + ["non-finite"] if self.nonfinite else found

    def layer(self, name: str) -> LayerReport:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in the report; layers: {[lay.name for lay in self.layers]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "verdict": self.verdict,
            "remedies": self.remedies,
            "first_last_ratio": self.first_last_ratio,
            "nonfinite": self.nonfinite,
            "thresholds": self.thresholds.__dict__.copy(),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def __str__(self) -> str:
        header = [
            "layer (type)",
            "activation",
            "grad norm",
            "grad/last",
            "update/weight",
            "dead",
            "saturated",
            "verdict",
        ]
        rows = []
        for layer in self.layers:
            rows.append(
                [
                    f"{layer.name} ({layer.class_name})",
                    layer.activation or "-",
                    _fmt(layer.gradient_norm),
                    _fmt(layer.gradient_ratio),
                    _fmt(layer.update_ratio),
                    "-" if layer.dead_fraction is None else f"{layer.dead_fraction:.0%}",
                    "-" if layer.saturated_fraction is None else f"{layer.saturated_fraction:.0%}",
                    ", ".join(layer.verdicts) or "healthy",
                ]
            )
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
        out = [f"Gradient report: loss {self.loss:.6g}", line, "-" * len(line)]
        out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
        out.append("-" * len(line))
        out.append(f"first/last layer gradient norm: {_fmt(self.first_last_ratio)}")
        if self.nonfinite:
            where = self.nonfinite.get("layer")
            at = f" in layer '{where}' ({self.nonfinite.get('class_name')})" if where else ""
            out.append(
                f"non-finite values first appear at the {self.nonfinite['stage']}{at}: {self.nonfinite['detail']}"
            )
        out.append(f"verdict: {self.verdict}")
        for remedy in self.remedies:
            out.append(f"  - {remedy}")
        return "\n".join(out)

    __repr__ = __str__


def gradient_report(
    model: Any,
    x: Any,
    y: Any,
    sample_weight: Any = None,
    thresholds: Thresholds | None = None,
    **threshold_overrides: float,
) -> GradientReport:
    """Measures one training step of a compiled model on the batch ``(x, y)`` layer by layer.

    The step is the one ``fit`` takes (training-mode forward pass, the compiled loss with
    regularization, backward pass, the compiled optimizer's update), but nothing changes: the
    weights, BatchNormalization's moving statistics and the optimizer's state are restored. (The
    dropout random stream does advance.)

    Args:
        model: A compiled ``fg.Model`` or ``fg.Sequential``.
        x, y: One batch, as ``train_on_batch`` takes it.
        sample_weight: Optional per-sample weights.
        thresholds: A :class:`Thresholds`; keyword arguments override single fields, e.g.
            ``gradient_report(model, x, y, vanishing_ratio=1e-4)``.

    Returns:
        A :class:`GradientReport`.
    """
    if thresholds is None:
        thresholds = Thresholds()
    if threshold_overrides:
        unknown = set(threshold_overrides) - set(Thresholds.__dataclass_fields__)
        if unknown:
            raise TypeError(
                f"gradient_report: unknown threshold(s) {sorted(unknown)}; "
                f"known: {sorted(Thresholds.__dataclass_fields__)}"
            )
        thresholds = Thresholds(**{**thresholds.__dict__, **threshold_overrides})
    if not hasattr(model, "_batch_dataset"):
        raise TypeError(f"gradient_report takes a ferrograd Model, got {type(model).__name__}")
    model._assert_compiled()
    model._sync_learning_rate()
    dataset = model._batch_dataset(x, y, sample_weight)
    activations = {layer.name: activation_of(layer) for layer in _all_layers(model)}
    known = {name: activation for name, activation in activations.items() if activation is not None}
    raw = _core.gradient_report(model._core(), dataset, known, thresholds.__dict__)
    layers = [
        LayerReport(
            name=r["name"],
            class_name=r["class_name"],
            activation=activations.get(r["name"]),
            weights=r["weights"],
            outputs=r["outputs"],
            gradient_norm=r["gradient_norm"],
            gradient_ratio=r["gradient_ratio"],
            update_ratio=r["update_ratio"],
            dead_fraction=r["dead_fraction"],
            saturated_fraction=r["saturated_fraction"],
            verdicts=list(r["verdicts"]),
        )
        for r in raw["layers"]
    ]
    return GradientReport(
        loss=raw["loss"],
        layers=layers,
        first_last_ratio=raw["first_last_ratio"],
        nonfinite=raw["nonfinite"],
        thresholds=thresholds,
    )


def _all_layers(model: Any) -> list[Any]:
    """The model's layers, and the layers inside wrappers and nested models."""
    out, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop(0)
        out.append(layer)
        stack.extend(getattr(layer, "layers", []) or [])
    return out
