"""MNIST hand-written digits, read from the standard ``mnist.npz`` on local disk.

This is ``keras.datasets.mnist.load_data`` without the download: ferrograd never goes to the
network (the machine, or a user's CI, may have none). Fetch the file once from
https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz (11 MB, the file Keras
downloads; SHA-256 ``731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1``) and
put it in ``~/.keras/datasets/`` where Keras keeps it, or pass its path::

    from ferrograd.datasets import mnist

    (x_train, y_train), (x_test, y_test) = mnist.load_data()            # ~/.keras/datasets/mnist.npz
    (x_train, y_train), (x_test, y_test) = mnist.load_data("data/mnist.npz")

The file is read with ``np.load(..., allow_pickle=False)``: loading never executes code, and a
file holding pickled objects is refused.

Licence: Yann LeCun and Corinna Cortes hold the copyright of MNIST, a derivative work of the
NIST datasets; it is made available under the Creative Commons Attribution-Share Alike 3.0
licence (https://creativecommons.org/licenses/by-sa/3.0/).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "ORIGIN", "load_data"]

#: Where Keras downloads the file from.
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
#: Shape of one image; pixel values are 0..255.
IMAGE_SHAPE = (28, 28)
#: Number of classes (digits 0..9).
NUM_CLASSES = 10

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _keras_datasets_dirs() -> list[Path]:
    """Where Keras caches datasets: ``$KERAS_HOME/datasets`` when KERAS_HOME is set, else
    ``~/.keras/datasets`` (``/tmp/.keras/datasets`` when the home directory is not writable),
    as ``keras.src.backend.config`` decides."""
    if "KERAS_HOME" in os.environ:
        return [Path(os.environ["KERAS_HOME"]).expanduser() / "datasets"]
    home = Path("~").expanduser()
    dirs = [home / ".keras" / "datasets"]
    if not os.access(home, os.W_OK):
        dirs.append(Path("/tmp") / ".keras" / "datasets")
    return dirs


def _candidates(path: str | os.PathLike) -> list[Path]:
    given = Path(path).expanduser()
    candidates = [given]
    if not given.is_absolute():
        candidates += [directory / given for directory in _keras_datasets_dirs()]
    return candidates


def _check_arrays(arrays: dict[str, np.ndarray], source: Path) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
            raise ValueError(
                f"{source}: x_{split} must be a uint8 array of shape (n, 28, 28), "
                f"got {x.dtype} of shape {x.shape}; is this the standard mnist.npz ({ORIGIN})?"
            )
        if y.dtype != np.uint8 or y.ndim != 1:
            raise ValueError(
                f"{source}: y_{split} must be a uint8 array of shape (n,), got {y.dtype} of shape {y.shape}"
            )
        if len(y) != len(x):
            raise ValueError(f"{source}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
        if y.size and y.max() >= NUM_CLASSES:
            raise ValueError(f"{source}: y_{split} holds label {y.max()}, outside 0..{NUM_CLASSES - 1}")


def load_data(
    path: str | os.PathLike = "mnist.npz",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST from a local ``mnist.npz``.

    Args:
        path: The file. An absolute path is used as is; a relative one is looked up relative
            to the working directory, then in Keras's dataset cache (``~/.keras/datasets/``, or
            ``$KERAS_HOME/datasets/``), so a file Keras downloaded is found with the default
            ``"mnist.npz"``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` as in Keras:

        - ``x_train``, ``x_test``: ``uint8`` arrays of shape ``(n, 28, 28)``, pixel values
          0..255 (60,000 and 10,000 images in the standard file).
        - ``y_train``, ``y_test``: ``uint8`` arrays of shape ``(n,)``, digit labels 0..9.

    Raises:
        FileNotFoundError: If the file is in none of the places above; the message lists them
            and says where to download the file.
        ValueError: If the file is not an ``.npz`` archive, lacks one of the four arrays, holds
            pickled objects, or has arrays of the wrong dtype or shape.
    """
    candidates = _candidates(path)
    source = next((candidate for candidate in candidates if candidate.is_file()), None)
    if source is None:
        looked = "\n".join(f"  {candidate.absolute()}" for candidate in candidates)
        raise FileNotFoundError(
            f"mnist.npz not found. Looked in:\n{looked}\n"
            f"ferrograd does not download datasets. Get the file from {ORIGIN} and put it in "
            f"{_keras_datasets_dirs()[0]}, or pass its path: mnist.load_data(path=...)."
        )

    try:
        archive = np.load(source, allow_pickle=False)
    except ValueError as e:  # numpy refuses a pickle file when allow_pickle=False
        raise ValueError(f"{source}: not an .npz archive of arrays ({e})") from e
    except (OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"{source}: not a readable .npz archive ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{source}: expected an .npz archive with {', '.join(_KEYS)}, got a single .npy array")

    with archive:
        missing = [key for key in _KEYS if key not in archive.files]
        if missing:
            raise ValueError(
                f"{source}: missing array(s) {', '.join(missing)}; the archive holds {', '.join(archive.files)}"
            )
        arrays = {}
        for key in _KEYS:
            try:
                arrays[key] = archive[key]
            except ValueError as e:  # an object array: loading it would unpickle
                raise ValueError(
                    f"{source}: {key} is an object array stored with pickle; refused, because "
                    f"unpickling can execute code ({e})"
                ) from e

    _check_arrays(arrays, source)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
