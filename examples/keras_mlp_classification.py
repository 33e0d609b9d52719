"""A Keras 3 MLP classifier, run by ferrograd: the model code is plain Keras.

Replace the first import line with ``import keras`` and the script runs unchanged under Keras 3
(any backend). Only the data comes from ferrograd: the UCI hand-written digits shipped inside the
package (1,797 8x8 images, 10 classes; CC BY 4.0, see ferrograd/datasets/data/README.md).

Model: 64 -> 128 (ReLU) -> Dropout(0.2) -> 64 (ReLU) -> Dropout(0.2) -> 10 (softmax), Adam(1e-3),
sparse categorical cross-entropy, 10% of the training set held out for validation.

Run: python examples/keras_mlp_classification.py [--seed 42] [--epochs 30] [--batch-size 32]
The last lines are ``test_loss=...``, ``test_accuracy=...`` and ``fit_seconds=...``.
"""

import ferrograd as keras  # noqa: I001  (the one line to change: `import keras`)

import argparse
import time

import numpy as np

from ferrograd.datasets import digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    # Pixel counts 0..16 scaled to [0, 1]; each 8x8 image flattened to 64 features.
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / 16.0
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / 16.0
    print(f"{len(x_train)} training and {len(x_test)} test samples, {x_train.shape[1]} features")

    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.summary()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=0.1,
        verbose=args.verbose,
    )
    fit_seconds = time.perf_counter() - start
    print(f"final val_accuracy={history.history['val_accuracy'][-1]:.4f}")

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    probabilities = model.predict(x_test, verbose=0)
    predicted = np.argmax(probabilities, axis=-1)
    # predict and evaluate must agree: the accuracy of the predicted classes is the metric.
    print(f"predict: {probabilities.shape} probabilities, accuracy of argmax {np.mean(predicted == y_test):.4f}")
    print(f"first test labels {y_test[:10].tolist()}, predicted {predicted[:10].tolist()}")

    print(f"test_loss={test_loss:.4f}")
    print(f"test_accuracy={test_accuracy:.4f}")
    print(f"fit_seconds={fit_seconds:.2f}")


if __name__ == "__main__":
    main()
