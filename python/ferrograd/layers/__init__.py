"""Layers with Keras 3's class names, arguments, defaults and weight layouts
(``keras.layers``). Built-in layers compute in Rust; subclass :class:`Layer` to write your own
(``build`` with ``self.add_weight``, ``call``), as in Keras.

Each family module lists its public names in ``__all__``; this package exports exactly those, so
a new layer is added in its family module alone."""

from .. import saving
from . import base, convolutional, core, masking, merging, normalization, pooling, recurrent
from .base import *  # noqa: F403
from .convolutional import *  # noqa: F403
from .core import *  # noqa: F403
from .masking import *  # noqa: F403
from .merging import *  # noqa: F403
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .recurrent import *  # noqa: F403

__all__ = [
    *base.__all__,
    *convolutional.__all__,
    *core.__all__,
    *masking.__all__,
    *merging.__all__,
    *normalization.__all__,
    *pooling.__all__,
    *recurrent.__all__,
]

saving.register_builtins("keras.layers", saving.exported_classes(globals(), base.Layer))
