"""A Keras 3 MLP regressor, run by ferrograd: the model code is plain Keras.

Replace the first import line with ``import keras`` and the script runs unchanged under Keras 3
(any backend). Only the data comes from ferrograd: the diabetes data of Efron et al. (2004)
shipped inside the package (442 patients, 10 baseline variables, disease progression one year
later; see ferrograd/datasets/data/README.md).

Model: 10 -> 64 (ReLU) -> 64 (ReLU) -> 1, RMSprop(1e-3), mean squared error, mean absolute error as
the metric; features standardized with the training set's mean and standard deviation.

Run: python examples/keras_regression.py [--seed 42] [--epochs 100] [--batch-size 16]
The last lines are ``test_loss=...`` (the MSE), ``test_mae=...``, ``baseline_mae=...`` (always
predicting the training mean) and ``fit_seconds=...``.
"""

import ferrograd as keras  # noqa: I001  (the one line to change: `import keras`)

import argparse
import time

import numpy as np

from ferrograd.datasets import diabetes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = diabetes.load_data()
    # Standardize with the training set's statistics only, so nothing leaks from the test set.
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train = ((x_train - mean) / std).astype("float32")
    x_test = ((x_test - mean) / std).astype("float32")
    y_train, y_test = y_train.astype("float32"), y_test.astype("float32")
    print(f"{len(x_train)} training and {len(x_test)} test samples, {x_train.shape[1]} features")

    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss="mse",
        metrics=["mae"],
    )

    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=0.2,
        verbose=args.verbose,
    )
    fit_seconds = time.perf_counter() - start
    print(f"final loss={history.history['loss'][-1]:.1f} val_mae={history.history['val_mae'][-1]:.2f}")

    test_loss, test_mae = model.evaluate(x_test, y_test, verbose=0)
    predictions = model.predict(x_test, verbose=0)
    print(f"predict: {predictions.shape}, first {np.round(predictions[:5, 0], 1).tolist()}, true {y_test[:5].tolist()}")
    baseline_mae = float(np.mean(np.abs(y_test - y_train.mean())))

    print(f"test_loss={test_loss:.2f}")
    print(f"test_mae={test_mae:.2f}")
    print(f"baseline_mae={baseline_mae:.2f}")
    print(f"fit_seconds={fit_seconds:.2f}")


if __name__ == "__main__":
    main()
