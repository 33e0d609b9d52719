"""Vanishing gradients in a deep MLP, and the remedies, measured.

The seed material's claim: in a deep network the gradient reaching the first layers is a product
of one Jacobian per layer above them; with sigmoid (derivative at most 1/4) the product shrinks
geometrically, so the first layers barely learn. tanh with Xavier (Glorot) initialization, ReLU
with He initialization, BatchNormalization and residual connections keep it near 1.

Six 20-layer MLPs (width 64) on the 5,000 MNIST images shipped with ferrograd (784 pixels
scaled to [0, 1], 4,000 to train, 1,000 to test), the same data, optimizer (SGD, learning rate
0.01, momentum 0.9), batch size (64) and number of steps for all:

- sigmoid with Keras's default initialization (Glorot uniform),
- tanh with Xavier (Glorot normal) initialization,
- ReLU with He (normal) initialization,
- ReLU with He initialization and BatchNormalization after every hidden layer,
- residual: ReLU, He, and an identity shortcut around every pair of layers (the second layer
  of each pair initialized with He's variance divided by the number of blocks, as Fixup does),
- sigmoid with BatchNormalization (the normalization alone, sigmoid kept).

For each: ``fg.diagnostics.gradient_report`` at initialization (the first layer's gradient norm
over the last layer's, and the verdict), then ``fit`` for ``--epochs`` epochs with a
``GradientMonitor``, and the training loss and test accuracy at the end. With matplotlib
installed, ``--out`` gets the per-layer gradient norms of every model at initialization
(``gradient_flow_<name>.png``) and over training (``gradient_flow_training.png``).

Run: python examples/gradient_health/deep_networks.py [--epochs 5] [--depth 20] [--out docs/figures]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np

import ferrograd as fg
from ferrograd import layers
from ferrograd.datasets import mnist_5k

WIDTH = 64


def build(kind: str, depth: int) -> fg.Model:
    activation = {"sigmoid": "sigmoid", "sigmoid_bn": "sigmoid", "tanh_xavier": "tanh"}.get(kind, "relu")
    initializer = {
        "sigmoid": "glorot_uniform",
        "sigmoid_bn": "glorot_uniform",
        "tanh_xavier": "glorot_normal",
    }.get(kind, "he_normal")
    inputs = fg.Input((784,))
    h = layers.Dense(WIDTH, activation=activation, kernel_initializer=initializer, name="dense_in")(inputs)
    index = 1
    while index < depth:
        if kind == "residual" and index + 1 < depth:
            block = layers.Dense(WIDTH, activation="relu", kernel_initializer=initializer, name=f"dense_{index}")(h)
            # The block's last layer starts small (He's variance over the number of blocks, as
            # Fixup, Zhang et al. 2019, scales it), so the sum does not grow with depth.
            small = fg.initializers.VarianceScaling(scale=2.0 / (depth // 2), mode="fan_in")
            block = layers.Dense(WIDTH, kernel_initializer=small, name=f"dense_{index + 1}")(block)
            h = layers.Activation("relu")(layers.Add()([h, block]))
            index += 2
            continue
        use_bn = kind in ("relu_he_bn", "sigmoid_bn")
        h = layers.Dense(
            WIDTH, activation=None if use_bn else activation, kernel_initializer=initializer, name=f"dense_{index}"
        )(h)
        if use_bn:
            # momentum 0.9 (PyTorch's default) rather than Keras's 0.99: a few hundred steps are too few
            # for 0.99's moving averages to forget their start, and inference would use stale statistics.
            h = layers.Activation(activation)(layers.BatchNormalization(momentum=0.9)(h))
        index += 1
    outputs = layers.Dense(10, name="dense_out")(h)
    model = fg.Model(inputs, outputs, name=kind)
    model.compile(
        optimizer=fg.optimizers.SGD(0.01, momentum=0.9),
        loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


KINDS = {
    "sigmoid": "sigmoid, Glorot (Keras default)",
    "tanh_xavier": "tanh, Xavier (Glorot normal)",
    "relu_he": "ReLU, He normal",
    "relu_he_bn": "ReLU, He, BatchNormalization",
    "residual": "ReLU, He, residual blocks",
    "sigmoid_bn": "sigmoid, BatchNormalization",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for PNG figures (needs matplotlib)")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255
    plots = args.out is not None and importlib.util.find_spec("matplotlib") is not None
    if args.out is not None and not plots:
        print("matplotlib is not installed: no figures (pip install ferrograd[plot])")
    out = Path(args.out) if plots else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    rows, monitors = [], {}
    for kind, label in KINDS.items():
        fg.utils.set_random_seed(args.seed)
        model = build(kind, args.depth)
        report = fg.diagnostics.gradient_report(model, x_train[:256], y_train[:256])
        if out is not None:
            fg.utils.plot_gradient_flow(report, path=out / f"gradient_flow_{kind}.png")
        monitor = fg.callbacks.GradientMonitor(every_n_batches=5, warn=False)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            history = model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0, callbacks=[monitor])
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        monitors[label] = monitor
        first_layer = monitor.history["layers"]["dense_in"]
        last_layer = monitor.history["layers"]["dense_out"]
        trained_ratio = float(np.median(np.array(first_layer) / np.array(last_layer)))
        rows.append(
            (
                label,
                report.first_last_ratio,
                report.verdict,
                trained_ratio,
                history.history["loss"][-1],
                accuracy,
                seconds,
            )
        )

    header = (
        f"| model ({args.depth} layers) | first/last gradient at init | verdict | "
        f"first/last during training (median) | loss after {args.epochs} epochs | test accuracy | fit s |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|")
    for label, ratio, verdict, trained, loss, accuracy, seconds in rows:
        print(f"| {label} | {ratio:.2e} | {verdict} | {trained:.2e} | {loss:.4f} | {accuracy:.4f} | {seconds:.1f} |")

    if out is not None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8.0, 4.5))
        ax = fig.add_subplot(1, 1, 1)
        for label, monitor in monitors.items():
            h = monitor.history
            ratio = np.array(h["layers"]["dense_in"]) / np.array(h["layers"]["dense_out"])
            ax.plot(h["step"], ratio, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("first / last layer gradient norm")
        ax.set_title(f"{args.depth}-layer MLPs on MNIST (5,000 images): gradient reaching the first layer")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "gradient_flow_training.png", dpi=150)
        print(f"figures written to {out}")


if __name__ == "__main__":
    main()
