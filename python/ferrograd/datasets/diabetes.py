"""Diabetes progression (Efron et al., 2004): 442 patients, 10 baseline variables, and a
quantitative measure of disease progression one year later, for regression.

The data ships inside the package (``ferrograd/datasets/data/diabetes_data_raw.csv.gz`` and
``diabetes_target.csv.gz``), so loading it needs no network access.

Source: B. Efron, T. Hastie, I. Johnstone and R. Tibshirani (2004), "Least Angle Regression",
Annals of Statistics 32(2), 407-499, https://doi.org/10.1214/009053604000000067; data page
https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html. The two files are unmodified copies
of the ones scikit-learn distributes (``sklearn/datasets/data/``), which
``sklearn.datasets.load_diabetes(scaled=False)`` reads.

Licence: the authors state none; scikit-learn redistributes the files in its BSD-3-Clause
package. See ``data/README.md`` next to this module for the full provenance.
"""

from __future__ import annotations

import functools
import gzip
import io
import numbers
from importlib.resources import files

import numpy as np

__all__ = ["FEATURE_NAMES", "NUM_FEATURES", "NUM_SAMPLES", "load_data"]

#: Number of patients.
NUM_SAMPLES = 442
#: The ten baseline variables, in column order: age (years), sex (1 or 2), body mass index,
#: average blood pressure, and six blood serum measurements: total cholesterol (s1), LDL (s2),
#: HDL (s3), total cholesterol / HDL (s4), log of serum triglycerides (s5), blood sugar (s6).
FEATURE_NAMES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
NUM_FEATURES = len(FEATURE_NAMES)

_DATA_FILE = "diabetes_data_raw.csv.gz"
_TARGET_FILE = "diabetes_target.csv.gz"


def _read_table(name: str) -> np.ndarray:
    resource = files("ferrograd.datasets") / "data" / name
    text = gzip.decompress(resource.read_bytes()).decode("ascii")
    return np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    """Read and parse the bundled files once; return (x, y) in file order, read-only (they are
    cached and shared; :func:`load_data` hands out fresh copies)."""
    x = _read_table(_DATA_FILE)
    y = _read_table(_TARGET_FILE)
    if x.shape != (NUM_SAMPLES, NUM_FEATURES):
        raise RuntimeError(f"{_DATA_FILE}: expected a table of shape {(NUM_SAMPLES, NUM_FEATURES)}, got {x.shape}")
    if y.shape != (NUM_SAMPLES, 1):
        raise RuntimeError(f"{_TARGET_FILE}: expected {NUM_SAMPLES} values in one column, got shape {y.shape}")
    y = y[:, 0]
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise RuntimeError(f"{_DATA_FILE}/{_TARGET_FILE}: NaN or infinite values")
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def load_data(
    test_split: float = 0.2, seed: int = 113
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the diabetes data, split into train and test sets.

    Works like ``keras.datasets.boston_housing.load_data``: the 442 samples are shuffled with a
    seeded permutation, ``np.random.default_rng(seed).permutation(442)``, then the first
    ``int(442 * (1 - test_split))`` shuffled samples form the training set and the rest the test
    set. With the defaults that is 353 training and 89 test samples.

    Args:
        test_split: Fraction of the data to put in the test set, in [0, 1).
        seed: Seed for the shuffle. The same seed always gives the same split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` float64 arrays of shape ``(n, 10)``
        holding the raw (unscaled) variables in the order of :data:`FEATURE_NAMES`; ``y`` float64
        arrays of shape ``(n,)``, the disease progression (25 to 346). The arrays are writable and
        share no memory with those of other calls. Scale the features before training (for
        example to zero mean and unit variance with the training set's statistics).

    Raises:
        TypeError: If ``test_split`` is not a real number.
        ValueError: If ``test_split`` is not in [0, 1).
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real):
        raise TypeError(f"test_split must be a float in [0, 1), got {type(test_split).__name__}")
    # Written as a negated range check so that NaN is rejected too.
    if not 0.0 <= test_split < 1.0:
        raise ValueError(
            f"test_split must be in [0, 1) (the fraction of samples used for the test set), got {test_split!r}"
        )

    x, y = _load_all()
    order = np.random.default_rng(seed).permutation(len(x))
    # Fancy indexing copies, so callers never see the cached read-only arrays.
    x, y = x[order], y[order]

    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
