"""Training curves from a ``History``: ``plot_history`` (re-exported as ``fg.utils.plot_history``).

matplotlib is an optional dependency: ``pip install ferrograd[plot]``. Figures are built with
matplotlib's object API (``matplotlib.figure.Figure``), so saving a PNG needs no display and
never switches the global pyplot backend; pyplot is imported only for ``show=True``.

Example::

    history = model.fit(x, y, validation_split=0.2, epochs=20)
    fig = fg.utils.plot_history(history, path="curves.png")
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["plot_history"]

_INSTALL_HINT = (
    "plot_history needs matplotlib, an optional dependency of ferrograd. "
    "Install it with `pip install ferrograd[plot]` (or `pip install matplotlib`)."
)


def _history_dict(history: Any) -> tuple[dict[str, list[float]], list[int] | None]:
    """The per-epoch series and the epoch indices of a History, or of its ``.history`` dict."""
    epochs = None
    if not isinstance(history, Mapping):
        series = getattr(history, "history", None)
        if not isinstance(series, Mapping):
            raise TypeError(
                f"plot_history: expected a History (what fit returns) or its .history dict, "
                f"got {type(history).__name__}"
            )
        epochs = list(getattr(history, "epoch", None) or []) or None
        history = series
    return {str(key): list(values) for key, values in history.items()}, epochs


def _metric_names(series: Mapping[str, list[float]], metrics: Sequence[str] | str | None) -> list[str]:
    """The metrics to plot, one subplot each; a ``val_`` name is drawn with its training pair."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is None:
        names = [key for key in series if not key.startswith("val_")]
        # A validation series without a training one still gets its subplot.
        names += [key[4:] for key in series if key.startswith("val_") and key[4:] not in series]
        return names
    names = []
    for metric in metrics:
        name = metric[4:] if metric.startswith("val_") else metric
        if name not in series and f"val_{name}" not in series:
            raise ValueError(f"plot_history: no metric {metric!r} in the history; it has {', '.join(series)}")
        if name not in names:
            names.append(name)
    return names


def plot_history(
    history: Any,
    metrics: Sequence[str] | str | None = None,
    path: str | os.PathLike | None = None,
    show: bool = False,
):
    """Plots training curves: one subplot per metric, training and validation (``val_``) together.

    Args:
        history: The ``History`` that ``fit`` returns, or its ``.history`` dict
            (``{"loss": [...], "val_loss": [...], ...}``).
        metrics: Names to plot (``"loss"``, ``"accuracy"``; a ``val_`` prefix is ignored: the pair is
            always drawn together). ``None`` plots every metric in the history, in its order.
        path: If given, the figure is saved there as a PNG (150 dpi).
        show: Open the figure in a window (or inline in a notebook) with ``pyplot.show()``.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ImportError: If matplotlib is not installed (``pip install ferrograd[plot]``).
        ValueError: If the history is empty or lacks a requested metric.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e

    from matplotlib.ticker import MaxNLocator

    series, epochs = _history_dict(history)
    if not series:
        raise ValueError("plot_history: the history is empty (did fit run for at least one epoch?)")
    names = _metric_names(series, metrics)

    ncols = min(len(names), 3)
    nrows = math.ceil(len(names) / ncols)
    figsize = (5.0 * ncols, 3.6 * nrows)
    if show:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)

    for index, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            values = series.get(key)
            if not values:
                continue
            # Epochs are numbered from 1 on the axis, as the progress bar counts them.
            if epochs is not None and len(epochs) == len(values):
                x = [epoch + 1 for epoch in epochs]
            else:
                x = list(range(1, len(values) + 1))
            ax.plot(x, values, style, marker="o", markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()

    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=150)
    if show:
        plt.show()
    return fig
