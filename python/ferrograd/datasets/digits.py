"""UCI ML hand-written digits: 1,797 images of 8x8 pixels, 10 classes.

The data ships inside the package (``ferrograd/datasets/data/digits.csv.gz``),
so loading it needs no network access.

Source: UCI Machine Learning Repository, "Optical Recognition of Handwritten
Digits", E. Alpaydin and C. Kaynak (1998), https://doi.org/10.24432/C50P49.
This is the 1,797-image test partition of that dataset, in the gzipped CSV
form that scikit-learn distributes as ``sklearn/datasets/data/digits.csv.gz``
(the bundled file is an unmodified copy of it).

Licence: the data is licensed by UCI under Creative Commons Attribution 4.0
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/); credit the
authors as above when you redistribute it. scikit-learn, whose copy of the
file this is, is BSD-3-Clause licensed. See ``data/README.md`` next to this
module for the full provenance.
"""

from __future__ import annotations

import functools
import gzip
import io
import numbers
from importlib.resources import files

import numpy as np

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "NUM_SAMPLES", "load_data"]

#: Number of classes (digits 0..9).
NUM_CLASSES = 10
#: Number of images in the dataset.
NUM_SAMPLES = 1797
#: Shape of one image; pixel values are integers 0..16.
IMAGE_SHAPE = (8, 8)

_DATA_FILE = "digits.csv.gz"
_NUM_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    """Read and parse the bundled file once; return (x, y) in file order.

    The returned arrays are read-only because they are cached and shared;
    :func:`load_data` always hands out fresh copies.
    """
    resource = files("ferrograd.datasets") / "data" / _DATA_FILE
    text = gzip.decompress(resource.read_bytes()).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)

    expected = (NUM_SAMPLES, _NUM_PIXELS + 1)
    if table.shape != expected:
        raise RuntimeError(
            f"{_DATA_FILE}: expected a table of shape {expected}, got {table.shape}"
        )
    pixels, labels = table[:, :_NUM_PIXELS], table[:, _NUM_PIXELS]
    if pixels.min() < 0 or pixels.max() > 16:
        raise RuntimeError(f"{_DATA_FILE}: pixel values outside 0..16")
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
    """Load the UCI hand-written digits, split into train and test sets.

    Works like the ``load_data`` functions of ``keras.datasets`` that take
    ``test_split`` and ``seed``: the 1,797 samples are shuffled with a seeded
    permutation, ``np.random.default_rng(seed).permutation(1797)``, then the
    first ``int(1797 * (1 - test_split))`` shuffled samples form the training
    set and the remaining ones (the last ``test_split`` fraction) form the
    test set. With the defaults that is 1,437 training and 360 test samples.
    The split is not stratified, but every class has about 180 samples, so
    every class appears in both sets for ordinary values of ``test_split``.

    Args:
        test_split: Fraction of the data to put in the test set, in the
            interval [0, 1). ``0`` puts everything in the training set and
            returns an empty test set.
        seed: Seed for the shuffle. The same seed always gives the same split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` where:

        - ``x_train``, ``x_test``: ``uint8`` arrays of shape ``(n, 8, 8)``
          holding pixel values 0..16; each value counts the "on" (inked)
          pixels in one 4x4 block of the original 32x32 bitmap.
        - ``y_train``, ``y_test``: ``uint8`` arrays of shape ``(n,)`` holding
          the digit labels 0..9.

        The arrays are writable and share no memory with the arrays returned
        by other calls.

    Raises:
        TypeError: If ``test_split`` is not a real number.
        ValueError: If ``test_split`` is not in [0, 1).

    Source: UCI Machine Learning Repository, "Optical Recognition of
    Handwritten Digits", E. Alpaydin and C. Kaynak (1998),
    https://doi.org/10.24432/C50P49 (the test partition, as distributed by
    scikit-learn). Licence: CC BY 4.0; cite the authors when you use or
    redistribute the data.
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real):
        raise TypeError(
            f"test_split must be a float in [0, 1), got {type(test_split).__name__}"
        )
    # Written as a negated range check so that NaN is rejected too.
    if not 0.0 <= test_split < 1.0:
        raise ValueError(
            f"test_split must be in [0, 1) (the fraction of samples used for "
            f"the test set), got {test_split!r}"
        )

    x, y = _load_all()
    order = np.random.default_rng(seed).permutation(len(x))
    # Fancy indexing copies, so callers never see the cached read-only arrays.
    x, y = x[order], y[order]

    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
