"""Exploding gradients, caught by the GradientMonitor and rescued by clipping and by LSTM.

Two cases from the seed material, each trained with and without the remedy, with a
``fg.callbacks.GradientMonitor`` recording every layer's gradient norm (in Rust, from the
gradients each step computes anyway) and stopping on the first non-finite step:

1. A 10-layer ReLU MLP (width 64) on the 5,000 shipped MNIST images whose kernels are drawn
   with a standard deviation of 0.3: each layer multiplies the signal's scale by about
   0.3 * sqrt(64 / 2) = 1.7, so activations and gradients grow geometrically with depth and
   SGD (learning rate 0.01) diverges. Remedies: clipping the global gradient norm to 1
   (``global_clipnorm=1.0``), or He initialization (the scale that keeps the signal's size).
2. A SimpleRNN(32) reading sequences of 40 numbers in [-1, 1] whose target is the *first*
   number (it must carry it across 40 steps), with a recurrent kernel initialized orthogonal
   with gain 1.5: back-propagation through time multiplies by the recurrent Jacobian 40 times,
   and training blows up. Remedies: ``global_clipnorm=1.0``, and an LSTM, whose additive cell
   state keeps the gradient's size through time.

Printed: per run, the verdict of ``fg.diagnostics.gradient_report`` at initialization, the
largest gradient norm the monitor saw, whether a non-finite step stopped training, the fraction
of steps that clipping changed, the final training loss, and for the MLP the test accuracy.

Run: python examples/gradient_health/exploding.py [--epochs 5] [--rnn-epochs 8] [--out docs/figures]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np

import ferrograd as fg
from ferrograd import layers
from ferrograd.datasets import mnist_5k


def mlp(initializer, optimizer) -> fg.Model:
    model = fg.Sequential(
        [fg.Input((784,))]
        + [layers.Dense(64, activation="relu", kernel_initializer=initializer) for _ in range(10)]
        + [layers.Dense(10)]
    )
    model.compile(
        optimizer=optimizer, loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def rnn(recurrent, optimizer, steps: int) -> fg.Model:
    model = fg.Sequential([fg.Input((steps, 1)), recurrent, layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def train(model, x, y, epochs, batch_size, x_test=None, y_test=None) -> dict:
    report = fg.diagnostics.gradient_report(model, x[:256], y[:256])
    monitor = fg.callbacks.GradientMonitor(every_n_batches=1, warn=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[monitor])
    norms = [v for series in monitor.history["layers"].values() for v in series if math.isfinite(v)]
    result = {
        "verdict": report.verdict,
        "max_gradient": max(norms) if norms else float("nan"),
        "nonfinite": monitor.nonfinite["stage"] if monitor.nonfinite else "-",
        "clipped": monitor.clip_fraction,
        "loss": history.history["loss"][-1],
        "epochs": len(history.history["loss"]),
        "monitor": monitor,
    }
    if x_test is not None:
        result["accuracy"] = model.evaluate(x_test, y_test, verbose=0)[1]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rnn-epochs", type=int, default=8)
    parser.add_argument("--rnn-steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for PNG figures (needs matplotlib)")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 255
    large = fg.initializers.RandomNormal(stddev=0.3, seed=args.seed)
    mlp_runs = {
        "MLP, N(0, 0.3²) init, SGD": lambda: mlp(large, fg.optimizers.SGD(0.01)),
        "MLP, N(0, 0.3²) init, SGD + global_clipnorm=1": lambda: mlp(
            large, fg.optimizers.SGD(0.01, global_clipnorm=1.0)
        ),
        "MLP, He normal init, SGD": lambda: mlp("he_normal", fg.optimizers.SGD(0.01)),
    }
    rng = np.random.default_rng(args.seed)
    t = args.rnn_steps
    x_seq = rng.uniform(-1, 1, (2048, t, 1)).astype("float32")
    y_seq = x_seq[:, 0, :]  # recall the first number after t steps
    gain = fg.initializers.Orthogonal(gain=1.5, seed=args.seed)
    rnn_runs = {
        "SimpleRNN, recurrent gain 1.5, SGD": lambda: rnn(
            layers.SimpleRNN(32, recurrent_initializer=gain), fg.optimizers.SGD(0.05), t
        ),
        "SimpleRNN, recurrent gain 1.5, SGD + global_clipnorm=1": lambda: rnn(
            layers.SimpleRNN(32, recurrent_initializer=gain), fg.optimizers.SGD(0.05, global_clipnorm=1.0), t
        ),
        "LSTM, SGD": lambda: rnn(layers.LSTM(32), fg.optimizers.SGD(0.05), t),
    }

    print("| run | verdict at init | largest gradient norm | non-finite | steps clipped | final loss | test accuracy |")
    print("|---|---|---|---|---|---|---|")
    monitors = {}
    for name, make in mlp_runs.items():
        fg.utils.set_random_seed(args.seed)
        r = train(make(), x_train, y_train, args.epochs, 64, x_test, y_test)
        monitors[name] = r["monitor"]
        print(
            f"| {name} | {r['verdict']} | {r['max_gradient']:.2e} | {r['nonfinite']} | {r['clipped']:.0%} | "
            f"{r['loss']:.4g} | {r['accuracy']:.3f} |"
        )
    for name, make in rnn_runs.items():
        fg.utils.set_random_seed(args.seed)
        r = train(make(), x_seq, y_seq, args.rnn_epochs, 64)
        monitors[name] = r["monitor"]
        print(
            f"| {name} | {r['verdict']} | {r['max_gradient']:.2e} | {r['nonfinite']} | {r['clipped']:.0%} | "
            f"{r['loss']:.4g} (target variance 0.333) | - |"
        )

    if args.out is not None:
        if importlib.util.find_spec("matplotlib") is None:
            print("matplotlib is not installed: no figures (pip install ferrograd[plot])")
            return
        from matplotlib.figure import Figure

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        fig = Figure(figsize=(10.0, 4.0))
        for index, group in enumerate((mlp_runs, rnn_runs)):
            ax = fig.add_subplot(1, 2, index + 1)
            for name in group:
                h = monitors[name].history
                first = next(iter(h["layers"]))
                values = [v if math.isfinite(v) and v > 0 else float("nan") for v in h["layers"][first]]
                ax.plot(h["step"], values, label=name, linewidth=1.0)
            ax.set_yscale("log")
            ax.set_xlabel("training step")
            ax.set_ylabel("first layer's gradient norm")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(out / "exploding_gradients.png", dpi=150)
        print(f"figure written to {out / 'exploding_gradients.png'}")


if __name__ == "__main__":
    main()
