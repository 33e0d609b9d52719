"""Batch gradient descent vs SGD (batch 1) vs mini-batch SGD on least-squares linear regression.

The seed material's three forms of gradient descent differ in how much of the data each step
sees: batch GD uses all of it (an exact gradient, a smooth descent, one step per epoch), SGD one
sample (a cheap but noisy gradient: many steps per epoch, and the iterate never settles, it keeps
jittering around the optimum at a level set by the learning rate), mini-batch a few dozen (the
noise shrinks roughly as 1/batch size, while steps stay cheap and many).

The problem is synthetic and seeded: ``y = X w + b + noise`` with ``X`` standard normal, so the
exact least-squares optimum is known (``numpy.linalg.lstsq``) and every run can be measured
against it. Each method trains the same ferrograd model,
``fg.Sequential([fg.Input((d,)), fg.layers.Dense(1)])`` with ``SGD(learning_rate)`` and ``"mse"``,
for the same number of epochs (the same amount of data seen) with ``fit(batch_size=...)``; a
callback records the full-data training loss after every step (computed with numpy from the
model's weights: the running batch averages that ``fit`` logs would hide the per-step noise).

Printed per method: batch size, steps taken, the final full-data loss, its excess over the
least-squares optimum, and the loss noise, the standard deviation of the per-step loss over the
last quarter of the steps (for batch GD it is only what is left of its smooth descent: a
deterministic path, no noise). With matplotlib installed, a PNG of the loss curves goes to ``--out``.

Run: python examples/gradient_health/batch_noise.py [--seed 0] [--epochs 100] [--lr 0.05]
[--out docs/figures]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

import ferrograd as fg


def make_data(seed: int, n: int, d: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of a linear model in ``d`` features with Gaussian noise of std ``noise``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w_true = rng.uniform(-2.0, 2.0, size=(d, 1))
    y = x @ w_true + 0.5 + noise * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)


def least_squares_loss(x: np.ndarray, y: np.ndarray) -> float:
    """The smallest MSE any ``Dense(1)`` can reach: the exact least-squares fit with a bias."""
    design = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    return float(np.mean((design @ coef - y) ** 2))


def train(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, lr: float, seed: int) -> np.ndarray:
    """Trains a fresh model; returns the full-data MSE before training and after every step."""
    fg.utils.set_random_seed(seed)  # the same initial weights and shuffling for every method
    model = fg.Sequential([fg.Input((x.shape[1],)), fg.layers.Dense(1)])
    model.compile(optimizer=fg.optimizers.SGD(lr), loss="mse")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)

    def full_loss() -> float:
        kernel, bias = model.get_weights()
        return float(np.mean((x64 @ kernel + bias - y64) ** 2))

    losses = [full_loss()]
    record = fg.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(full_loss()))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[record])
    return np.array(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--features", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="where the PNG figure goes")
    args = parser.parse_args()

    x, y = make_data(args.seed, args.samples, args.features, args.noise)
    optimum = least_squares_loss(x, y)
    methods = {"batch GD": len(x), "mini-batch 32": 32, "SGD (batch 1)": 1}
    curves = {name: train(x, y, size, args.epochs, args.lr, args.seed) for name, size in methods.items()}

    print(
        f"least squares, n={args.samples}, d={args.features}, noise std {args.noise}, SGD lr={args.lr}, "
        f"{args.epochs} epochs each; exact optimum MSE = {optimum:.6f}"
    )
    print(f"{'method':<16}{'batch':>7}{'steps':>8}{'final loss':>13}{'excess':>12}{'loss noise':>13}")
    for name, losses in curves.items():
        steps = len(losses) - 1
        tail = losses[-max(steps // 4, 1) :]
        excess = losses[-1] - optimum
        print(f"{name:<16}{methods[name]:>7}{steps:>8}{losses[-1]:>13.6f}{excess:>12.3g}{np.std(tail):>13.3g}")

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figure (pip install ferrograd[plot])")
        return
    from matplotlib.figure import Figure

    args.out.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for name, losses in curves.items():
        # x axis in epochs, so that methods with different numbers of steps share one scale.
        ax.plot(np.linspace(0, args.epochs, len(losses)), losses - optimum, label=name, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("full-data MSE - least-squares optimum")
    ax.set_title("batch vs mini-batch vs stochastic gradient descent")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = args.out / "batch_noise.png"
    fig.savefig(path, format="png", dpi=150)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
