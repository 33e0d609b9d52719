"""A two-layer perceptron trained with ferrograd tensor ops alone: the custom-loop counterpart
of train_digits.py, with every parameter, update and gradient written out.

Data: the UCI hand-written digits shipped inside the package (1,797 8x8 images, 10 classes;
CC BY 4.0, see ferrograd/datasets/data/README.md). Model: 64 -> 64 (ReLU) -> 10 (softmax),
He-initialized. Training: 200 steps of mini-batch gradient descent with momentum on the
softmax cross-entropy, every gradient from ``loss.backward()``.

Run: python examples/custom_loop_digits.py [--steps 200] [--batch-size 64] [--lr 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ferrograd as fg
from ferrograd.datasets import digits


def cross_entropy(logits: fg.Tensor, labels: np.ndarray) -> fg.Tensor:
    """Mean of -log softmax(logits)[label], computed stably through log_softmax."""
    log_probs = fg.ops.log_softmax(logits, axis=-1)
    picked = log_probs * fg.ops.one_hot(labels, 10)
    return -picked.sum() / len(labels)


def accuracy(logits: fg.Tensor, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=-1) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    # Pixels 0..16 scaled to [0, 1]; each image flattened to 64 features.
    x_train = x_train.reshape(len(x_train), -1).astype(np.float32) / 16.0
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 16.0
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, 64 features, 10 classes")

    rng = np.random.default_rng(args.seed)
    hidden = 64
    # He normal initialization (std = sqrt(2 / fan_in)) for the ReLU layer, Glorot for the output.
    params = {
        "w1": fg.Variable(rng.normal(0, np.sqrt(2 / 64), (64, hidden)).astype(np.float32), name="w1"),
        "b1": fg.Variable(np.zeros(hidden, np.float32), name="b1"),
        "w2": fg.Variable(rng.normal(0, np.sqrt(2 / (hidden + 10)), (hidden, 10)).astype(np.float32), name="w2"),
        "b2": fg.Variable(np.zeros(10, np.float32), name="b2"),
    }
    velocity = {name: np.zeros(p.shape, np.float32) for name, p in params.items()}

    def forward(x) -> fg.Tensor:
        h = (x @ params["w1"] + params["b1"]).relu()
        return h @ params["w2"] + params["b2"]

    with fg.no_grad():
        initial_loss = cross_entropy(forward(x_test), y_test).item()
    print(f"before training: test loss {initial_loss:.4f}, test accuracy {accuracy(forward(x_test), y_test):.3f}")

    start = time.perf_counter()
    order = rng.permutation(len(x_train))
    cursor = 0
    for step in range(1, args.steps + 1):
        if cursor + args.batch_size > len(order):
            order, cursor = rng.permutation(len(x_train)), 0
        batch = order[cursor : cursor + args.batch_size]
        cursor += args.batch_size

        loss = cross_entropy(forward(x_train[batch]), y_train[batch])
        loss.backward()
        # SGD with momentum: v <- momentum * v - lr * g;  w <- w + v
        for name, p in params.items():
            velocity[name] = args.momentum * velocity[name] - args.lr * p.grad.numpy()
            p.assign_add(velocity[name])
            p.grad = None

        if step % 25 == 0 or step == 1:
            print(f"step {step:4d}  batch loss {loss.item():.4f}")
    elapsed = time.perf_counter() - start

    with fg.no_grad():
        test_logits = forward(x_test)
        final_loss = cross_entropy(test_logits, y_test).item()
        train_acc = accuracy(forward(x_train), y_train)
    test_acc = accuracy(test_logits, y_test)
    print(f"after {args.steps} steps ({elapsed:.2f} s): test loss {final_loss:.4f} (from {initial_loss:.4f})")
    print(f"train accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")


if __name__ == "__main__":
    main()
