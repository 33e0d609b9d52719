"""Small real datasets bundled with ferrograd, loaded with numpy only.

Each submodule has a ``load_data`` function in the style of
``keras.datasets`` that returns ``(x_train, y_train), (x_test, y_test)``.

- :mod:`ferrograd.datasets.digits`: UCI hand-written digits, 1,797 images of
  8x8 pixels (values 0..16), 10 classes. CC BY 4.0.
- :mod:`ferrograd.datasets.mnist`: MNIST, read from the standard ``mnist.npz`` on local disk
  (never downloaded); 28x28 pixels (values 0..255), 10 classes.
- :mod:`ferrograd.datasets.mnist_5k`: 5,000 MNIST images (500 a class) shipped with the
  package, for examples and tests that need real 28x28 digits. CC BY-SA 3.0.
"""

from . import diabetes, digits, mnist, mnist_5k

__all__ = ["diabetes", "digits", "mnist", "mnist_5k"]
