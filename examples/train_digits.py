"""The main demo: a Keras-style MLP trained with ``fit`` on the digits shipped in the package.

Data: the UCI hand-written digits (1,797 8x8 images, 10 classes; CC BY 4.0, see
ferrograd/datasets/data/README.md), split 1,437 / 360. Model: 64 -> 128 (ReLU) -> dropout ->
64 (ReLU) -> 10 (softmax), Adam, sparse categorical cross-entropy. The training loop runs in Rust;
the progress bar, history and evaluation are Keras's.

Run: python examples/train_digits.py [--epochs 30] [--batch-size 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ferrograd as fg
from ferrograd import layers
from ferrograd.datasets import digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args()
    fg.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train.reshape(len(x_train), -1).astype(np.float32) / 16.0
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 16.0
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, 64 features, 10 classes")

    model = fg.Sequential(
        [
            layers.Input((64,)),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=0.1,
        verbose=args.verbose,
    )
    elapsed = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {args.epochs} epochs in {elapsed:.1f} s")
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
