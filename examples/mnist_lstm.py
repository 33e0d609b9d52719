"""
Title: An LSTM sequence classifier: MNIST images read row by row
Source: the MNIST model of the Keras guide "Working with RNNs"
(https://keras.io/guides/working_with_rnns/, "Performance optimization and CuDNN kernels";
authors Scott Zhu and Francois Chollet; Apache License 2.0).

Each 28x28 image is a sequence of 28 time steps (its rows) of 28 features; an LSTM(64) reads it,
BatchNormalization and a Dense layer of 10 logits classify it. The code is the guide's, run by
ferrograd; the lines that differ are marked `# ferrograd:`. They are the import (change it back
to `import keras` and the file runs under Keras 3), the data source (ferrograd downloads nothing,
so the 5,000 MNIST images shipped with the package stand in for `keras.datasets.mnist`), and the
parts of the guide that compare against a cuDNN GPU kernel (`allow_cudnn_kernel`, a second
model built from `keras.layers.RNN(keras.layers.LSTMCell(units))`, `tf.device`), left out
because they are about GPUs. The guide trains one epoch: 938 steps of 64 of MNIST's 60,000
images. One epoch of the 4,000 shipped images is 63 steps, so the default here is 15 epochs (945
steps); `--epochs 1` runs the guide's count.
examples/README.md compares the accuracy with Keras 3's on the same data.
"""

import argparse

import ferrograd as keras  # ferrograd: was `import keras`
from ferrograd.datasets import mnist_5k  # ferrograd: the data source, instead of keras.datasets.mnist

parser = argparse.ArgumentParser(description="LSTM over the rows of MNIST images")  # ferrograd: options
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--seed", type=int, default=None)
args = parser.parse_args()
if args.seed is not None:
    keras.utils.set_random_seed(args.seed)

batch_size = 64
# Each MNIST image batch is a tensor of shape (batch_size, 28, 28).
# Each input sequence will be of size (28, 28) (height is treated like time).
input_dim = 28

units = 64
output_size = 10  # labels are from 0 to 9


# Build the RNN model
def build_model():
    lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
    model = keras.models.Sequential(
        [
            lstm_layer,
            keras.layers.BatchNormalization(),
            keras.layers.Dense(output_size),
        ]
    )
    return model


(x_train, y_train), (x_test, y_test) = mnist_5k.load_data()  # ferrograd: was mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
sample, sample_label = x_train[0], y_train[0]

model = build_model()

model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer="sgd",
    metrics=["accuracy"],
)

model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=args.epochs)

result = model.predict_on_batch(sample[None]).argmax(axis=1)
print("Predicted result is: %s, target result is: %s" % (result, sample_label))  # noqa: UP031 (as the guide)

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
